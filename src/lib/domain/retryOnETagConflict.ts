import { PreconditionFailedError } from '../errors.js';
import type { AppRepository, StoredApp } from './storedApp.js';

/**
 * The ETag read-modify-write loop of every app write: `write` gets the app (the caller's copy first
 * when given, then a fresh read) and runs again whenever the store refuses its write because another
 * writer got in between. `exhausted` words the error once the attempts are used up; `retries` may
 * keep a refusal from being retried (the client's own If-Match, say).
 */
export async function retryOnETagConflict<T>(
  store: Pick<AppRepository, 'getApp'>,
  appId: string,
  write: (app: StoredApp | undefined) => Promise<T>,
  options: {
    readonly attempts: number;
    readonly exhausted: () => Error;
    readonly first?: StoredApp;
    readonly retries?: (error: PreconditionFailedError) => boolean;
  },
): Promise<T> {
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    const app = attempt === 0 && options.first !== undefined ? options.first : await store.getApp(appId);
    try {
      return await write(app);
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || options.retries?.(error) === false) throw error;
    }
  }
  throw options.exhausted();
}
