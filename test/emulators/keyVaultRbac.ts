import type { EmulatorRequest } from './emulatorServer.js';
import { BUILT_IN_ROLES, scopeCovers } from './resourceManager.js';

/**
 * Key Vault's RBAC, for the Key Vault emulator: the data actions of the built-in roles
 * (https://learn.microsoft.com/azure/key-vault/general/rbac-guide), granted by the vault's own
 * assignments or by Azure role assignments.
 */

export type KeyVaultDataAction =
  | 'Microsoft.KeyVault/vaults/certificates/import/action'
  | 'Microsoft.KeyVault/vaults/certificates/read'
  | 'Microsoft.KeyVault/vaults/secrets/getSecret/action';

export type KeyVaultRole =
  | 'Key Vault Administrator'
  | 'Key Vault Certificates Officer'
  | 'Key Vault Certificate User'
  | 'Key Vault Secrets User'
  | 'Key Vault Reader';

/** The built-in roles' definition ids (Azure built-in roles reference). */
const ROLE_IDS: Record<KeyVaultRole, string> = {
  'Key Vault Administrator': BUILT_IN_ROLES['Key Vault Administrator'],
  'Key Vault Certificates Officer': BUILT_IN_ROLES['Key Vault Certificates Officer'],
  'Key Vault Certificate User': BUILT_IN_ROLES['Key Vault Certificate User'],
  'Key Vault Secrets User': BUILT_IN_ROLES['Key Vault Secrets User'],
  'Key Vault Reader': BUILT_IN_ROLES['Key Vault Reader'],
};

/** The data actions each built-in role grants, restricted to the ones this emulator serves. */
const ROLE_ACTIONS: Record<KeyVaultRole, readonly KeyVaultDataAction[]> = {
  'Key Vault Administrator': [
    'Microsoft.KeyVault/vaults/certificates/import/action',
    'Microsoft.KeyVault/vaults/certificates/read',
    'Microsoft.KeyVault/vaults/secrets/getSecret/action',
  ],
  'Key Vault Certificates Officer': ['Microsoft.KeyVault/vaults/certificates/import/action', 'Microsoft.KeyVault/vaults/certificates/read'],
  'Key Vault Certificate User': ['Microsoft.KeyVault/vaults/certificates/read', 'Microsoft.KeyVault/vaults/secrets/getSecret/action'],
  'Key Vault Secrets User': ['Microsoft.KeyVault/vaults/secrets/getSecret/action'],
  'Key Vault Reader': ['Microsoft.KeyVault/vaults/certificates/read'],
};

/** Azure role assignments (the ARM emulator's) and the vault's resource id they are read against. */
export interface AzureRoleAssignments {
  readonly vaultResourceId: string;
  readonly list: () => readonly { readonly scope: string; readonly roleId: string; readonly principalId: string }[];
}

/** Whether one of the vault's own role assignments of a principal grants the action. */
export function rolesGrant(roles: Iterable<KeyVaultRole>, action: KeyVaultDataAction): boolean {
  return [...roles].some((role) => ROLE_ACTIONS[role].includes(action));
}

/**
 * Whether an Azure role assignment grants the action on what a request names: at the vault's scope
 * or above, or at the one object's, `{vaultResourceId}/secrets/{name}` or `/certificates/{name}`
 * (rbac-guide, "Secret, key, and certificate scope role assignment").
 */
export function grantedByAzureRbac(
  source: AzureRoleAssignments | undefined,
  principal: string,
  action: KeyVaultDataAction,
  request: EmulatorRequest,
): boolean {
  if (!source || principal === '') return false;
  const kind = request.path.split('/')[1];
  const object = `${source.vaultResourceId}/${kind}/${request.params.name ?? ''}`;
  return source
    .list()
    .some(
      (a) =>
        a.principalId.toLowerCase() === principal.toLowerCase() &&
        scopeCovers(a.scope, object) &&
        Object.entries(ROLE_IDS).some(([role, id]) => id === a.roleId.toLowerCase() && ROLE_ACTIONS[role as KeyVaultRole].includes(action)),
    );
}
