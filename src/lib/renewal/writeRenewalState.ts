import type { Actor, RenewalState } from '../domain/appConfig.js';
import { retryOnETagConflict } from '../domain/retryOnETagConflict.js';
import type { AppRepository, HistoryInput, StoredApp } from '../domain/storedApp.js';
import { LeaseHeldError, NotFoundError, RetriableError } from '../errors.js';

const WRITE_ATTEMPTS = 6;

/**
 * Applies a state change with the app's ETag, re-reading and re-applying on a concurrent write (an
 * admin's PATCH, a scheduler tick). With an `owner`, the change only lands while that lease is still
 * held, so an attempt that lost its lease cannot overwrite a newer renewal's state.
 */
export function writeRenewalState(
  store: Pick<AppRepository, 'getApp' | 'updateApp'>,
  app: StoredApp,
  owner: string | undefined,
  change: (state: RenewalState) => Partial<RenewalState>,
  history?: HistoryInput | readonly HistoryInput[],
  actor?: Actor,
): Promise<StoredApp> {
  const appId = app.config.appId;
  return retryOnETagConflict(
    store,
    appId,
    (current) => {
      if (!current) throw new NotFoundError(`App ${appId} was deleted`);
      if (owner !== undefined && current.state.lease?.owner !== owner) {
        throw new LeaseHeldError(`The lease on app ${appId} was lost (another renewal took over); this attempt stops here`, {
          retryAfterSeconds: 30,
        });
      }
      return store.updateApp(current, { state: { ...current.state, ...change(current.state) }, history, actor });
    },
    {
      attempts: WRITE_ATTEMPTS,
      first: app,
      exhausted: () => new RetriableError(`App ${appId} kept changing while its renewal state was written`),
    },
  );
}
