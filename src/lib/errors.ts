/**
 * The error family every layer throws. Adapters translate service errors into it, use cases let it
 * through, and the HTTP layer maps it to a status in one place (src/lib/http), so a handler never
 * decides a status code by itself.
 */

/** One offending field: a dotted path as the caller wrote it (`notifications.recipients.0`). */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export abstract class RotatorError extends Error {
  /** A stable machine-readable code, used as the problem `type` suffix. */
  abstract readonly code: string;
}

/** The input is wrong; retrying the same input fails the same way. */
export class ValidationError extends RotatorError {
  readonly code = 'validation';
  readonly issues: readonly FieldIssue[];

  constructor(issues: readonly FieldIssue[], message?: string) {
    super(message ?? `Invalid input: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
    this.issues = issues;
  }

  static forField(path: string, message: string): ValidationError {
    return new ValidationError([{ path, message }]);
  }
}

export class NotFoundError extends RotatorError {
  readonly code = 'not-found';
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The request collides with the current state (a lease held, a name taken, the last credential). */
export class ConflictError extends RotatorError {
  readonly code = 'conflict';
  /** When the caller may usefully retry, if known. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: { retryAfterSeconds?: number } = {}) {
    super(message);
    this.name = 'ConflictError';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * Another renewal (or removal) holds the app's lease. A conflict like any other for an HTTP caller
 * (409 with Retry-After), but the one conflict the queue worker waits out instead of failing on.
 */
export class LeaseHeldError extends ConflictError {
  constructor(message: string, options: { retryAfterSeconds?: number } = {}) {
    super(message, options);
    this.name = 'LeaseHeldError';
  }
}

/**
 * An Idempotency-Key sent again with a different request: the key names the first request's
 * effect, so this one cannot be answered with it (422, as the IETF httpapi Idempotency-Key draft says).
 */
export class IdempotencyKeyReusedError extends RotatorError {
  readonly code = 'idempotency-key-reused';
  constructor(message: string) {
    super(message);
    this.name = 'IdempotencyKeyReusedError';
  }
}

/** An optimistic-concurrency check failed (a stale ETag). */
export class PreconditionFailedError extends RotatorError {
  readonly code = 'precondition-failed';
  constructor(message: string) {
    super(message);
    this.name = 'PreconditionFailedError';
  }
}

/**
 * Something outside the request must change first (a permission, a tenant policy, a certificate
 * to start from). The message says what to do.
 */
export class PreconditionError extends RotatorError {
  readonly code = 'precondition';
  constructor(message: string) {
    super(message);
    this.name = 'PreconditionError';
  }
}

/**
 * A service refused the rotator's identity (401/403), or no token could be had for it. Usually an
 * admin's fix, so the message says which role to grant; but role assignments take minutes to
 * apply, so the queue tries again before a renewal is recorded as failed.
 */
export class AccessDeniedError extends PreconditionError {
  constructor(message: string) {
    super(message);
    this.name = 'AccessDeniedError';
  }
}

/** A transient failure (throttling, 5xx, timeout) that a later attempt may get past. */
export class RetriableError extends RotatorError {
  readonly code = 'retriable';
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RetriableError';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * The service asked the rotator to slow down (429), or the rotator held its own Graph writes back
 * to stay inside Graph's limits. A later attempt gets through once the wait has passed, so the
 * queue worker waits it out instead of spending a delivery on it.
 */
export class ThrottledError extends RetriableError {
  constructor(message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options);
    this.name = 'ThrottledError';
  }
}

/** A setting is missing or malformed; raised once at start-up. */
export class ConfigurationError extends RotatorError {
  readonly code = 'configuration';
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    super(
      `Invalid settings (fix them in the Function App's application settings or local.settings.json):\n` +
        issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigurationError';
    this.issues = issues;
  }
}

/** An error as the one line kept in state, history and notifications (never a stack: those stay in the logs). */
export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 1000);
}
