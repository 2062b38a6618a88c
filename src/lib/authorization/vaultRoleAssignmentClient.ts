import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import { isRestError, serviceCodeOf, toRotatorError } from '../azureErrors.js';
import type { GrantOutcome, GrantPrincipalType, VaultAccessGrants, VaultReadRole, VaultRoleAssignment } from '../domain/ports.js';
import { ValidationError } from '../errors.js';

/** Azure's built-in role definition ids (Azure built-in roles reference). */
export const VAULT_READ_ROLE_IDS: Readonly<Record<VaultReadRole, string>> = {
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Certificate User': 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba',
};

/** What the rotator's identity needs to make these grants, as the Bicep assigns it (docs/consumers.md). */
const ROLE_TO_GRANT = 'Role Based Access Control Administrator';
const CONDITION =
  '(it may be constrained by an ABAC condition to assigning Key Vault Secrets User and Key Vault Certificate User to service principals and groups, as infra/main.bicep does)';

export interface VaultRoleAssignmentClientOptions {
  /** One client per subscription: the SDK wants one, though every call here names its scope in full. */
  readonly clientFor: (subscriptionId: string) => AuthorizationManagementClient;
}

/**
 * Role assignments on a vault's secrets and certificates through Azure Resource Manager, with
 * `@azure/arm-authorization` (api-version 2022-04-01); the VaultAccessGrants port.
 */
export class VaultRoleAssignmentClient implements VaultAccessGrants {
  readonly #options: VaultRoleAssignmentClientOptions;

  constructor(options: VaultRoleAssignmentClientOptions) {
    this.#options = options;
  }

  async grant(assignment: VaultRoleAssignment): Promise<GrantOutcome> {
    // ARM wants the principal's type and answers UnmatchedPrincipalType when it is wrong; asking
    // Graph instead would need a directory read permission the rotator does not otherwise hold.
    try {
      return await this.#create(assignment, 'ServicePrincipal');
    } catch (error) {
      if (codeOf(error) !== 'UnmatchedPrincipalType') throw this.#translate(error, assignment);
    }
    try {
      return await this.#create(assignment, 'Group');
    } catch (error) {
      if (codeOf(error) === 'UnmatchedPrincipalType') {
        throw ValidationError.forField(
          'keyVault.readers',
          `${assignment.principalId} is neither a service principal nor a group (a user?): the rotator grants read access to service principals, managed identities and groups only`,
        );
      }
      throw this.#translate(error, assignment);
    }
  }

  async revoke(assignment: Pick<VaultRoleAssignment, 'name' | 'scope'>): Promise<void> {
    try {
      // ARM answers 204 for an assignment that is not there: nothing to tell apart.
      await this.#client(assignment.scope).roleAssignments.delete(assignment.scope, assignment.name);
    } catch (error) {
      throw toRotatorError(error, {
        operation: `removing role assignment ${assignment.name} on ${assignment.scope}`,
        roleToGrant: ROLE_TO_GRANT,
        scope: `${vaultOf(assignment.scope)} ${CONDITION}`,
      });
    }
  }

  async #create(assignment: VaultRoleAssignment, principalType: GrantPrincipalType): Promise<GrantOutcome> {
    const { scope, name, role, principalId } = assignment;
    try {
      await this.#client(scope).roleAssignments.create(scope, name, {
        roleDefinitionId: `/subscriptions/${subscriptionOf(scope)}/providers/Microsoft.Authorization/roleDefinitions/${VAULT_READ_ROLE_IDS[role]}`,
        principalId,
        principalType,
      });
      return 'granted';
    } catch (error) {
      // The same role for the same principal at the same scope under another name: someone else's.
      if (codeOf(error) === 'RoleAssignmentExists') return 'exists-elsewhere';
      throw error;
    }
  }

  #translate(error: unknown, assignment: VaultRoleAssignment): Error {
    if (codeOf(error) === 'PrincipalNotFound') {
      return ValidationError.forField(
        'keyVault.readers',
        `${assignment.principalId} does not exist in the directory (retried at the next renewal, in case it was only just created)`,
      );
    }
    return toRotatorError(error, {
      operation: `granting '${assignment.role}' to ${assignment.principalId} on ${assignment.scope}`,
      roleToGrant: ROLE_TO_GRANT,
      scope: `${vaultOf(assignment.scope)} ${CONDITION}`,
    });
  }

  #client(scope: string): AuthorizationManagementClient {
    return this.#options.clientFor(subscriptionOf(scope));
  }
}

function codeOf(error: unknown): string | undefined {
  return isRestError(error) ? serviceCodeOf(error) : undefined;
}

function subscriptionOf(scope: string): string {
  return scope.split('/')[2] ?? '';
}

/** The vault's id: the scope without its `/secrets/{name}` or `/certificates/{name}`. */
function vaultOf(scope: string): string {
  return scope.replace(/\/(secrets|certificates)\/[^/]+$/i, '');
}
