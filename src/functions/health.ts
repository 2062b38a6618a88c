import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

/** GET /api/health: liveness only. It reads no settings and answers no secrets or config. */
export function health(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return Promise.resolve({ status: 200, jsonBody: { status: 'ok' }, headers: { 'Cache-Control': 'no-store' } });
}
