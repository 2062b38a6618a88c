import type { AccessState, AppConfig, RenewalState, VaultGrant } from '../domain/appConfig.js';
import type { ServicePrincipalDirectory, VaultAccessGrants, VaultRoleAssignment } from '../domain/ports.js';
import { AccessDeniedError, errorText, ValidationError } from '../errors.js';
import { accessStatusOf, assignmentsFor, certificateIsInVault, grantsToRevoke, needsAdmin, wantsGrants } from './accessPlan.js';

/**
 * Key Vault read access for the services that use an app's certificate (docs/consumers.md): grants
 * `Key Vault Secrets User` and `Key Vault Certificate User` on the certificate's secret and
 * certificate to the app's service principal (`grantAppRead`) and to each reader, removes the grants
 * it made for readers that left, and says how it went in `state.access`. It never throws for a
 * refusal or an outage: a config write and a renewal go on, and the next renewal tries again.
 * It writes nothing itself; the caller stores the result with its own write.
 */

export interface AccessReview {
  /** The new `state.access`; undefined when there is nothing to grant and nothing left to remove. */
  readonly access: AccessState | undefined;
  /** The status changed to one that needs a person: tell the admins (email and event) once. */
  readonly notify: boolean;
}

/** What a round ran into, worst first (accessPlan.ts adds it up to a status). */
interface Outcome {
  refused: boolean;
  unsatisfiable: boolean;
  waiting: boolean;
}

/** A refusal repeats for every assignment: the first few say what to do, the count says how many. */
const MAX_PROBLEMS_SHOWN = 3;

export interface VaultAccessServiceOptions {
  readonly grants: VaultAccessGrants;
  readonly principals: ServicePrincipalDirectory;
  readonly now: () => Date;
}

export class VaultAccessService {
  readonly #options: VaultAccessServiceOptions;

  constructor(options: VaultAccessServiceOptions) {
    this.#options = options;
  }

  async review(config: AppConfig, state: RenewalState): Promise<AccessReview> {
    const problems: string[] = [];
    const outcome: Outcome = { refused: false, unsatisfiable: false, waiting: false };
    const recorded = state.access?.grants ?? [];
    const wanted = await this.#wanted(config, state, problems, outcome);

    const kept: VaultGrant[] = [];
    for (const grant of grantsToRevoke(recorded, wanted)) {
      try {
        await this.#options.grants.revoke(grant);
      } catch (error) {
        kept.push(grant); // still ours: removed on a later round
        this.#classify(error, `removing ${grant.role} of ${grant.principalId} on ${grant.scope}`, problems, outcome);
      }
    }
    for (const assignment of wanted) {
      try {
        const result = await this.#options.grants.grant(assignment);
        // Someone else's assignment gives the same access, but is never ours to remove.
        if (result !== 'exists-elsewhere') kept.push(toGrant(assignment));
      } catch (error) {
        // A grant made in an earlier round stays recorded even when this re-check failed.
        if (recorded.some((grant) => grant.name === assignment.name)) kept.push(toGrant(assignment));
        this.#classify(error, `granting ${assignment.role} to ${assignment.principalId} on ${assignment.scope}`, problems, outcome);
      }
    }

    if (!wantsGrants(config) && kept.length === 0 && problems.length === 0) return { access: undefined, notify: false };
    const status = accessStatusOf(outcome);
    const access: AccessState = {
      status,
      checkedAt: this.#options.now().toISOString(),
      ...(problems.length > 0 ? { message: summary(problems) } : {}),
      grants: kept,
    };
    return { access, notify: needsAdmin(state.access?.status, status) };
  }

  /** The assignments the config asks for now; what stands in the way goes into `problems`. */
  async #wanted(config: AppConfig, state: RenewalState, problems: string[], outcome: Outcome): Promise<VaultRoleAssignment[]> {
    if (!wantsGrants(config)) return [];
    const { resourceId, certificateName, grantAppRead, readers } = config.keyVault;
    if (resourceId === undefined) {
      outcome.unsatisfiable = true;
      problems.push(
        `keyVault.resourceId is not set and ${config.keyVault.vaultUrl} is not the default vault: set it to the vault's resource id (az keyvault show --name <vault> --query id) so that read access can be granted`,
      );
      return [];
    }
    if (!certificateIsInVault(config, state)) {
      outcome.waiting = true;
      problems.push(`read access is granted once certificate "${certificateName}" is in the vault (after the first renewal)`);
      return [];
    }
    const principals = [...readers];
    if (grantAppRead) {
      try {
        const servicePrincipalId = await this.#options.principals.servicePrincipalIdOf(config.appId);
        if (servicePrincipalId === undefined) {
          outcome.unsatisfiable = true;
          problems.push(
            `app ${config.appId} has no service principal in the tenant to grant read access to: create it (az ad sp create --id ${config.appId}) or set keyVault.grantAppRead to false`,
          );
        } else if (!principals.includes(servicePrincipalId)) {
          principals.unshift(servicePrincipalId);
        }
      } catch (error) {
        this.#classify(error, `looking up the service principal of app ${config.appId}`, problems, outcome);
      }
    }
    return assignmentsFor(resourceId, certificateName, principals);
  }

  #classify(error: unknown, doing: string, problems: string[], outcome: Outcome): void {
    if (error instanceof AccessDeniedError) outcome.refused = true;
    else if (error instanceof ValidationError) outcome.unsatisfiable = true;
    else outcome.waiting = true;
    problems.push(`${doing}: ${errorText(error)}`);
  }
}

function summary(problems: readonly string[]): string {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
  const more = problems.length - MAX_PROBLEMS_SHOWN;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}

function toGrant(assignment: VaultRoleAssignment): VaultGrant {
  return { name: assignment.name, scope: assignment.scope, role: assignment.role, principalId: assignment.principalId };
}
