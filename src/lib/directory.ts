/**
 * The directory port: what the config API needs to know about an app registration in Entra.
 * The Graph adapter (src/lib/graph/) implements it; tests of the HTTP layer may use a test double.
 */

export type GraphMode = 'owner' | 'self';

export interface AppRegistrationSummary {
  /** The application (client) id, lower-case GUID. */
  readonly appId: string;
  /** The application object's id (what Graph's /applications/{id} and addKey's `iss` use). */
  readonly objectId: string;
  readonly displayName: string;
}

export interface AppRegistrationDirectory {
  /** Throws NotFoundError when the tenant has no app registration with that appId. */
  getAppRegistration(appId: string): Promise<AppRegistrationSummary>;
  /**
   * Checks that the rotator can manage the app in the given mode and throws a PreconditionError
   * that names what is missing (owner: the rotator is not an owner / lacks
   * Application.ReadWrite.OwnedBy, with the grant script to run; self: no valid managed certificate
   * in Key Vault to sign in with).
   */
  assertManageable(appId: string, graphMode: GraphMode): Promise<void>;
}
