import { RestError } from '@azure/data-tables';
import { PreconditionFailedError, RetriableError } from '../errors.js';

export function isRestError(error: unknown, status?: number): error is RestError {
  return error instanceof RestError && (status === undefined || error.statusCode === status);
}

/** Translates what Table Storage answered into the error family, naming what the caller can act on. */
export function translateStorageError(error: unknown, what: string): never {
  if (error instanceof RestError) {
    const status = error.statusCode ?? 0;
    if (status === 412) throw new PreconditionFailedError(`${what}: the app was changed by someone else since it was read`);
    if (status === 429 || status >= 500 || status === 0) {
      throw new RetriableError(`${what}: Table Storage is unavailable (${status || error.code})`, { cause: error });
    }
  }
  throw error;
}
