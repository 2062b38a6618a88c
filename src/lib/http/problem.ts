import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import {
  ConfigurationError,
  ConflictError,
  IdempotencyKeyReusedError,
  NotFoundError,
  PreconditionError,
  PreconditionFailedError,
  RetriableError,
  RotatorError,
  ValidationError,
  type FieldIssue,
} from '../errors.js';
import {
  AuthenticationError,
  ForbiddenError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from './httpErrors.js';
import { SECURITY_HEADERS } from './securityHeaders.js';

/**
 * RFC 9457 problem details, and THE mapping from the error family to HTTP statuses. Handlers throw;
 * nothing else decides a status for an error.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Problem types are URNs: stable identifiers clients can switch on, not documents to fetch. */
export const PROBLEM_TYPE_PREFIX = 'urn:entra-cert-rotator:problem:';

/** The body of every error response; the OpenAPI document is generated from this schema. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    instance: z.string(),
    /** One entry per offending field (400). */
    errors: z.array(z.object({ path: z.string(), message: z.string() }).strict()).optional(),
    /** The Functions invocation id, to find the request in Application Insights. */
    invocationId: z.string(),
  })
  .strict();

export type Problem = Omit<z.output<typeof problemSchema>, 'errors'> & { readonly errors?: readonly FieldIssue[] };

interface Mapped {
  readonly status: number;
  readonly title: string;
  readonly headers?: Record<string, string>;
  readonly errors?: readonly FieldIssue[];
}

function quoted(value: string): string {
  // RFC 6750 error_description: printable ASCII without `"` and `\` (a quote becomes ', so it still reads as one).
  return value
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20-\x7e]/g, ' ');
}

export interface ProblemContext {
  /** `realm` and `authorization_uri` of WWW-Authenticate. */
  readonly authorizationUri?: string;
}

function map(error: RotatorError, options: ProblemContext): Mapped {
  const retryAfter = (seconds: number | undefined): Record<string, string> =>
    seconds === undefined ? {} : { 'Retry-After': String(Math.max(1, Math.ceil(seconds))) };
  if (error instanceof ValidationError) return { status: 400, title: 'The request is invalid', errors: error.issues };
  if (error instanceof AuthenticationError) {
    const parts = ['Bearer realm="entra-cert-rotator"'];
    if (options.authorizationUri) parts.push(`authorization_uri="${options.authorizationUri}"`);
    if (error.tokenPresent) parts.push('error="invalid_token"', `error_description="${quoted(error.message)}"`);
    return { status: 401, title: 'Authentication required', headers: { 'WWW-Authenticate': parts.join(', ') } };
  }
  if (error instanceof ForbiddenError) {
    return {
      status: 403,
      title: 'The caller lacks the app role this needs',
      headers: {
        'WWW-Authenticate': `Bearer realm="entra-cert-rotator", error="insufficient_scope", error_description="${quoted(error.message)}"`,
      },
    };
  }
  if (error instanceof NotFoundError) return { status: 404, title: 'Not found' };
  if (error instanceof MethodNotAllowedError)
    return { status: 405, title: 'Method not allowed', headers: { Allow: error.allow.join(', ') } };
  if (error instanceof ConflictError)
    return { status: 409, title: 'Conflict with the current state', headers: retryAfter(error.retryAfterSeconds) };
  // 409, not 422: the request is well-formed and means what it says; what must change first is the
  // state of something else (a grant in Entra, a certificate in Key Vault), and RFC 9110 gives 409 to
  // "a conflict with the current state ... the user might be able to resolve". 412 is taken by ETags.
  if (error instanceof PreconditionError) return { status: 409, title: 'A precondition outside this request is not met' };
  if (error instanceof PreconditionFailedError) return { status: 412, title: 'The resource changed (ETag mismatch)' };
  if (error instanceof IdempotencyKeyReusedError) return { status: 422, title: 'The Idempotency-Key was used for another request' };
  if (error instanceof PayloadTooLargeError) return { status: 413, title: 'Request body too large' };
  if (error instanceof UnsupportedMediaTypeError) {
    return {
      status: 415,
      title: 'Unsupported media type',
      headers: { 'Accept-Patch': error.accepted.join(', '), Accept: error.accepted.join(', ') },
    };
  }
  if (error instanceof RetriableError)
    return { status: 503, title: 'Temporarily unavailable', headers: retryAfter(error.retryAfterSeconds ?? 5) };
  if (error instanceof ConfigurationError) return { status: 500, title: 'The service is misconfigured' };
  return { status: 500, title: 'Internal error' };
}

/** Maps any thrown value to a problem response. Unknown errors are logged and answered without internals. */
export function problemResponse(
  error: unknown,
  request: HttpRequest,
  context: InvocationContext,
  options: ProblemContext = {},
): HttpResponseInit {
  const known = error instanceof RotatorError && !(error instanceof ConfigurationError);
  if (!known || error instanceof RetriableError) context.error(`${request.method} ${new URL(request.url).pathname} failed:`, error);
  const mapped = known ? map(error, options) : { status: 500, title: 'Internal error' };
  return problemOf(request, context, {
    ...mapped,
    code: known ? error.code : 'internal',
    detail: known ? error.message : `An unexpected error occurred; quote invocation ${context.invocationId} when reporting it.`,
  });
}

/** What a problem says, its status decided by the caller: problemResponse's mapping, or the dashboard's static site. */
export interface ProblemFacts {
  readonly status: number;
  readonly title: string;
  /** The last part of the problem type URN. */
  readonly code: string;
  readonly detail: string;
  readonly headers?: Record<string, string>;
  readonly errors?: readonly FieldIssue[];
}

/** The problem+json response for `facts`, with the request's path as instance and the invocation id. */
export function problemOf(request: HttpRequest, context: InvocationContext, facts: ProblemFacts): HttpResponseInit {
  const problem: Problem = {
    type: `${PROBLEM_TYPE_PREFIX}${facts.code}`,
    title: facts.title,
    status: facts.status,
    detail: facts.detail,
    instance: new URL(request.url).pathname,
    ...(facts.errors ? { errors: facts.errors } : {}),
    invocationId: context.invocationId,
  };
  return {
    status: facts.status,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, 'Cache-Control': 'no-store', ...SECURITY_HEADERS, ...facts.headers },
    body: JSON.stringify(problem),
  };
}
