import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { MethodNotAllowedError } from '../lib/http/httpErrors.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, problemResponse } from '../lib/http/problem.js';
import { checkReadiness } from '../lib/http/readiness.js';
import { SECURITY_HEADERS } from '../lib/http/securityHeaders.js';

const NO_STORE = { 'Cache-Control': 'no-store', ...SECURITY_HEADERS };

/**
 * GET /api/health: liveness only; it reads no settings and answers no secrets or config.
 * GET /api/health?ready=true: readiness, the settings and the storage the host needs, 200 when all
 * are up, else 503 naming each one down (anonymous, so names and status codes only).
 */
export async function health(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (request.method.toUpperCase() !== 'GET') return problemResponse(new MethodNotAllowedError(request.method, ['GET']), request, context);
  if (request.query.get('ready') !== 'true') return { status: 200, jsonBody: { status: 'ok' }, headers: NO_STORE };
  // Loaded on a readiness check only: the composition root imports every Azure SDK, and health is
  // registered eagerly, so a static import would make every cold start pay for all of them.
  const { getReadinessProbes } = await import('../lib/readinessProbes.js');
  const report = await checkReadiness(getReadinessProbes());
  if (report.ready) return { status: 200, jsonBody: { status: 'ready', checks: report.checks }, headers: NO_STORE };
  const down = report.checks.filter((c) => c.status === 'down');
  context.warn('not ready:', down.map((c) => `${c.name} ${c.reason ?? ''}`).join('; '));
  return {
    status: 503,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, 'Retry-After': '30', ...NO_STORE },
    body: JSON.stringify({
      type: `${PROBLEM_TYPE_PREFIX}not-ready`,
      title: 'Not ready',
      status: 503,
      detail: `Down: ${down.map((c) => `${c.name} (${c.reason ?? 'down'})`).join(', ')}`,
      instance: new URL(request.url).pathname,
      checks: report.checks,
    }),
  };
}
