import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { SECURITY_HEADERS } from '../lib/http/securityHeaders.js';

/** GET /api/health: liveness only. It reads no settings and answers no secrets or config. */
export function health(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return Promise.resolve({ status: 200, jsonBody: { status: 'ok' }, headers: { 'Cache-Control': 'no-store', ...SECURITY_HEADERS } });
}
