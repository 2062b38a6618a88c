import { RotatorError } from '../errors.js';

/**
 * Errors only the HTTP layer raises (the request itself is wrong, before any use case runs). They
 * join the error family so that src/lib/http/problem.ts stays the one mapping to statuses.
 */

/** No bearer token, or one that fails validation (signature, issuer, audience, lifetime). */
export class AuthenticationError extends RotatorError {
  readonly code = 'unauthenticated';
  /** RFC 6750: no error code when the request carried no token at all. */
  readonly tokenPresent: boolean;
  constructor(message: string, options: { tokenPresent: boolean }) {
    super(message);
    this.name = 'AuthenticationError';
    this.tokenPresent = options.tokenPresent;
  }
}

/** A valid token without the app role the route needs. */
export class ForbiddenError extends RotatorError {
  readonly code = 'forbidden';
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

export class MethodNotAllowedError extends RotatorError {
  readonly code = 'method-not-allowed';
  readonly allow: readonly string[];
  constructor(method: string, allow: readonly string[]) {
    super(`${method} is not allowed here; use ${allow.join(', ')}`);
    this.name = 'MethodNotAllowedError';
    this.allow = allow;
  }
}

export class PayloadTooLargeError extends RotatorError {
  readonly code = 'payload-too-large';
  constructor(limitBytes: number) {
    super(`The request body exceeds ${limitBytes} bytes`);
    this.name = 'PayloadTooLargeError';
  }
}

export class UnsupportedMediaTypeError extends RotatorError {
  readonly code = 'unsupported-media-type';
  readonly accepted: readonly string[];
  constructor(got: string | null, accepted: readonly string[]) {
    super(`The request body must be ${accepted.join(' or ')}${got ? ` (got ${got})` : ' (no Content-Type was sent)'}`);
    this.name = 'UnsupportedMediaTypeError';
    this.accepted = accepted;
  }
}
