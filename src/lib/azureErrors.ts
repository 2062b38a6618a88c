import {
  AccessDeniedError,
  ConflictError,
  NotFoundError,
  RetriableError,
  RotatorError,
  ThrottledError,
  ValidationError,
} from './errors.js';

/**
 * Translation of what the Azure SDKs throw into the error family, shared by the Key Vault, email and
 * Event Grid adapters. The SDKs have already retried transient failures with their own policies
 * (honouring Retry-After) by the time an error gets here, so a transient one becomes a
 * RetriableError for the queue's retry, carrying the service's last Retry-After.
 */

export interface AzureCallContext {
  /** What was being done, for the message: "importing certificate 'app-1' into https://v.vault.azure.net/". */
  readonly operation: string;
  /** The Azure RBAC role the rotator's identity needs for this call, named when the service refuses it. */
  readonly roleToGrant: string;
  /** Where the role must be granted: the vault, the Communication Services resource, the topic. */
  readonly scope: string;
  /** The field a 400 is blamed on (ValidationError path); `request` when absent. */
  readonly field?: string;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
  'ENOTFOUND',
  'ECONNABORTED',
]);
const AUTHENTICATION_ERRORS = new Set(['AuthenticationError', 'CredentialUnavailableError', 'AggregateAuthenticationError']);

/**
 * Retry-After as Azure sends it, in ms: `retry-after-ms` / `x-ms-retry-after-ms`, or `Retry-After`
 * in seconds (fractional as Microsoft Graph sends it: "Retry-After: 2.128",
 * https://learn.microsoft.com/graph/throttling#sample-response) or as an HTTP date.
 */
export function retryAfterMsOf(
  headers: { get(name: string): string | null | undefined } | null | undefined,
  now = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const raw = headers.get(name);
    const ms = Number(raw);
    if (raw !== undefined && raw !== null && raw.trim() !== '' && Number.isFinite(ms) && ms >= 0) return ms;
  }
  const value = headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** Retry-After in whole seconds, rounded up (what a queue delay and an HTTP Retry-After carry). */
export function retryAfterSecondsOf(
  headers: { get(name: string): string | null | undefined } | null | undefined,
  now = Date.now(),
): number | undefined {
  const ms = retryAfterMsOf(headers, now);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

export function serviceCodeOf(error: { code?: string; details?: unknown }): string | undefined {
  const details = error.details as { error?: { code?: unknown } } | undefined;
  return typeof details?.error?.code === 'string' ? details.error.code : error.code;
}

export interface RestErrorLike extends Error {
  readonly statusCode?: number;
  readonly code?: string;
  readonly details?: unknown;
  readonly response?: { readonly headers: { get(name: string): string | undefined } };
}

/** core-rest-pipeline's own `isRestError` is a name check too; matching it here spares a direct dependency. */
export function isRestError(error: unknown): error is RestErrorLike {
  return error instanceof Error && error.name === 'RestError';
}

export function toRotatorError(error: unknown, context: AzureCallContext): Error {
  if (error instanceof RotatorError) return error;
  if (isRestError(error)) {
    const status = error.statusCode;
    const code = serviceCodeOf(error);
    const detail = `${error.message}${code ? ` (${code})` : ''}`;
    if (status === undefined) {
      return new RetriableError(`${context.operation} failed before the service answered: ${detail}`, { cause: error });
    }
    if (status === 429) {
      return new ThrottledError(`${context.operation} was throttled (429): ${detail}`, {
        retryAfterSeconds: retryAfterSecondsOf(error.response?.headers),
        cause: error,
      });
    }
    if (status === 408 || status >= 500) {
      return new RetriableError(`${context.operation} failed with ${status}: ${detail}`, {
        retryAfterSeconds: retryAfterSecondsOf(error.response?.headers),
        cause: error,
      });
    }
    if (status === 401 || status === 403) {
      return new AccessDeniedError(
        `${context.operation} was refused (${status}): grant the rotator's identity the '${context.roleToGrant}' role on ${context.scope}` +
          ` (role assignments can take a few minutes to apply). Service said: ${detail}`,
      );
    }
    if (status === 404) return new NotFoundError(`${context.operation}: not found (${detail})`);
    if (status === 409) return new ConflictError(`${context.operation}: conflict (${detail})`);
    return ValidationError.forField(context.field ?? 'request', `${context.operation} was rejected with ${status}: ${detail}`);
  }
  if (error instanceof Error) {
    if (AUTHENTICATION_ERRORS.has(error.name)) {
      return new AccessDeniedError(
        `${context.operation}: the rotator could not get a token for ${context.scope} (${error.message}). Check its managed identity or credential settings.`,
      );
    }
    const code = (error as { code?: unknown }).code;
    if (error.name === 'AbortError' || (typeof code === 'string' && TRANSIENT_CODES.has(code))) {
      return new RetriableError(`${context.operation} did not complete: ${error.message}`, { cause: error });
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Thrown when an adapter call outlives its deadline; mapped to a RetriableError. */
export class DeadlineExceededError extends Error {
  constructor(timeoutInMs: number) {
    super(`no answer within ${timeoutInMs} ms`);
    this.name = 'AbortError';
  }
}

/**
 * Runs `call` with an abort signal and a deadline covering the SDK's retries and, for email, its
 * polling. The SDKs cancel their request on the signal; the deadline is also raced here so that the
 * caller is answered on time even where a wait inside an SDK does not watch the signal.
 */
export async function withDeadline<T>(timeoutInMs: number, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new DeadlineExceededError(timeoutInMs));
    }, timeoutInMs);
  });
  try {
    return await Promise.race([call(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
