import { RestError } from '@azure/data-tables';
import { PreconditionFailedError, RetriableError, ValidationError } from '../errors.js';

/**
 * Table Storage's size refusals (Table service error codes): a string or binary property over
 * 64 KiB, an entity over 1 MiB, a batch over 4 MiB. Caller input that slipped past the schemas'
 * length limits, so the caller's error (400), never a 500.
 */
const TOO_LARGE_CODES = ['PropertyValueTooLarge', 'EntityTooLarge', 'RequestBodyTooLarge'];

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
    // The batch answer carries the code in its body only; the SDK puts that body in the message.
    const tooLarge = TOO_LARGE_CODES.find((code) => error.code === code || error.message.includes(`"${code}"`));
    // RequestBodyTooLarge comes as 413, the others as 400.
    if ((status === 400 || status === 413) && tooLarge !== undefined) {
      throw ValidationError.forField('', `${what}: too large to store (Table Storage refused it: ${tooLarge}); shorten the longest values`);
    }
  }
  throw error;
}
