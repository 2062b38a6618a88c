import { randomUUID } from 'node:crypto';
import type { RenewalState } from '../domain/appConfig.js';
import { retryOnETagConflict } from '../domain/retryOnETagConflict.js';
import type { AppRepository, StoredApp } from '../domain/storedApp.js';
import { LeaseHeldError, NotFoundError } from '../errors.js';

const WRITE_ATTEMPTS = 6;

/**
 * Takes an app's lease: written with the app's ETag, so of two takers exactly one wins, and the
 * other gets LeaseHeldError (409 for an HTTP caller; a later try for the queue worker), as does any
 * caller while an unexpired lease is held. `extra` is state that must change in the same write.
 */
export async function takeAppLease(
  store: Pick<AppRepository, 'getApp' | 'updateApp'>,
  appId: string,
  options: {
    /** What holds it: the renewal id, or an admin action's label. */
    readonly holder: string;
    readonly leaseSeconds: number;
    readonly now: () => Date;
    readonly extra?: (state: RenewalState) => Partial<RenewalState>;
  },
): Promise<{ app: StoredApp; owner: string }> {
  const owner = randomUUID();
  return retryOnETagConflict(
    store,
    appId,
    async (app) => {
      if (!app) throw new NotFoundError(`App ${appId} is not managed`);
      const now = options.now().getTime();
      const lease = app.state.lease;
      if (lease && Date.parse(lease.until) > now) {
        throw new LeaseHeldError(`A renewal of app ${appId} (${lease.renewalId}) is running; retry after ${lease.until}`, {
          retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(lease.until) - now) / 1000)),
        });
      }
      const until = new Date(now + options.leaseSeconds * 1000).toISOString();
      const leased = await store.updateApp(app, {
        state: { ...app.state, ...options.extra?.(app.state), lease: { owner, renewalId: options.holder, until } },
      });
      return { app: leased, owner };
    },
    {
      attempts: WRITE_ATTEMPTS,
      exhausted: () => new LeaseHeldError(`App ${appId} is being changed by others; retry shortly`, { retryAfterSeconds: 5 }),
    },
  );
}
