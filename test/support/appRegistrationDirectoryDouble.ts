import { randomUUID } from 'node:crypto';
import type { AppRegistrationDirectory, AppRegistrationSummary, GraphMode } from '../../src/lib/domain/ports.js';
import { NotFoundError, PreconditionError } from '../../src/lib/errors.js';

/**
 * A test double of OUR directory port (not of any Azure SDK): the app registrations a test declares,
 * and per app which graph modes the rotator may use. The Graph adapter's own tests cover Graph.
 */
export class AppRegistrationDirectoryDouble implements AppRegistrationDirectory {
  readonly #apps = new Map<string, { summary: AppRegistrationSummary; manageable: Set<GraphMode> }>();
  readonly calls: string[] = [];

  add(appId: string, displayName: string, manageable: GraphMode[] = ['owner', 'self']): this {
    this.#apps.set(appId.toLowerCase(), {
      summary: { appId: appId.toLowerCase(), objectId: randomUUID(), displayName },
      manageable: new Set(manageable),
    });
    return this;
  }

  getAppRegistration(appId: string): Promise<AppRegistrationSummary> {
    this.calls.push(`getAppRegistration ${appId}`);
    const app = this.#apps.get(appId);
    return app ? Promise.resolve(app.summary) : Promise.reject(new NotFoundError(`No app registration with appId ${appId}`));
  }

  assertManageable(appId: string, graphMode: GraphMode): Promise<void> {
    this.calls.push(`assertManageable ${appId} ${graphMode}`);
    const app = this.#apps.get(appId);
    if (!app) return Promise.reject(new NotFoundError(`No app registration with appId ${appId}`));
    if (app.manageable.has(graphMode)) return Promise.resolve();
    return Promise.reject(
      new PreconditionError(
        graphMode === 'owner'
          ? `The rotator is not an owner of app ${appId}: run scripts/grant-graph-permission.sh for it`
          : `App ${appId} has no valid managed certificate in Key Vault to sign in with; generate one in owner mode first`,
      ),
    );
  }
}
