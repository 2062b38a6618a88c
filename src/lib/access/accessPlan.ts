import type { AccessStatus, AppConfig, RenewalState, VaultGrant } from '../domain/appConfig.js';
import { guidFromText } from '../domain/identifiers.js';
import type { VaultReadRole, VaultRoleAssignment } from '../domain/ports.js';

/**
 * The pure half of Key Vault access grants (docs/consumers.md): which role assignments an app's config
 * asks for, their names, which recorded ones to remove, and the status a round of grants adds up to.
 */

/**
 * Each role at the one object it is about: the secret holds the key (what a consumer downloads as
 * PEM or PFX), the certificate its public part and policy. Nothing at the vault.
 */
export const ROLE_OBJECTS: Readonly<Record<VaultReadRole, 'secrets' | 'certificates'>> = {
  'Key Vault Secrets User': 'secrets',
  'Key Vault Certificate User': 'certificates',
};

/** ARM ids are case-insensitive; the name must not change with how an admin typed the vault id. */
export function assignmentName(scope: string, role: VaultReadRole, principalId: string): string {
  return guidFromText(`entra-cert-rotator|${scope.toLowerCase()}|${role}|${principalId.toLowerCase()}`);
}

export function assignmentsFor(vaultResourceId: string, certificateName: string, principalIds: readonly string[]): VaultRoleAssignment[] {
  return principalIds.flatMap((principalId) =>
    (Object.keys(ROLE_OBJECTS) as VaultReadRole[]).map((role) => {
      const scope = `${vaultResourceId}/${ROLE_OBJECTS[role]}/${certificateName}`;
      return { name: assignmentName(scope, role, principalId), scope, role, principalId };
    }),
  );
}

/** Whether the config asks for any grant: Key Vault on, and the app itself or a reader to grant. */
export function wantsGrants(config: AppConfig): boolean {
  return config.keyVault.enabled && (config.keyVault.grantAppRead || config.keyVault.readers.length > 0);
}

/**
 * Whether the vault holds the configured certificate yet: the state's Key Vault id names this vault
 * and name. Until it does there is no object to scope a grant to.
 */
export function certificateIsInVault(config: AppConfig, state: RenewalState): boolean {
  const prefix = `${config.keyVault.vaultUrl}certificates/${config.keyVault.certificateName}/`.toLowerCase();
  return state.keyVaultId?.toLowerCase().startsWith(prefix) ?? false;
}

/** Recorded grants the config no longer asks for: the only assignments the rotator ever removes. */
export function grantsToRevoke(recorded: readonly VaultGrant[], wanted: readonly VaultRoleAssignment[]): VaultGrant[] {
  const names = new Set(wanted.map((assignment) => assignment.name));
  return recorded.filter((grant) => !names.has(grant.name));
}

export interface GrantRoundOutcome {
  /** A grant or removal was refused (403, an ABAC condition included). */
  readonly refused: boolean;
  /** The config cannot be met as written (no vault id, a reader that is neither a service principal nor a group, no service principal). */
  readonly unsatisfiable: boolean;
  /** Something to wait for: the first certificate, or a service that did not answer. */
  readonly waiting: boolean;
}

/** The worst of a round: a person must act (permission, then config) before anything waits. */
export function accessStatusOf(outcome: GrantRoundOutcome): AccessStatus {
  if (outcome.refused) return 'missing-permission';
  if (outcome.unsatisfiable) return 'not-configured';
  if (outcome.waiting) return 'pending';
  return 'granted';
}

/** A status change an admin must hear about: one that needs a person. */
export function needsAdmin(previous: AccessStatus | undefined, next: AccessStatus): boolean {
  return next !== previous && (next === 'missing-permission' || next === 'not-configured');
}
