import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { MethodNotAllowedError } from '../lib/http/httpErrors.js';
import { problemResponse } from '../lib/http/problem.js';
import { SECURITY_HEADERS } from '../lib/http/securityHeaders.js';

/** GET /api/health: liveness only. It reads no settings and answers no secrets or config. */
export function health(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (request.method.toUpperCase() !== 'GET')
    return Promise.resolve(problemResponse(new MethodNotAllowedError(request.method, ['GET']), request, context));
  return Promise.resolve({ status: 200, jsonBody: { status: 'ok' }, headers: { 'Cache-Control': 'no-store', ...SECURITY_HEADERS } });
}
