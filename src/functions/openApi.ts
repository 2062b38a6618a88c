import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { MethodNotAllowedError } from '../lib/http/httpErrors.js';
import { buildOpenApiDocument } from '../lib/http/openApiDocument.js';
import { problemResponse } from '../lib/http/problem.js';
import { SECURITY_HEADERS } from '../lib/http/securityHeaders.js';

/**
 * GET /api/openapi.json: the API's OpenAPI 3.1 document, anonymous. It reads no settings, so it
 * answers even when the app is misconfigured (like /api/health).
 */
export function openApiDocument(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (request.method.toUpperCase() !== 'GET')
    return Promise.resolve(problemResponse(new MethodNotAllowedError(request.method, ['GET']), request, context));
  return Promise.resolve({
    status: 200,
    jsonBody: buildOpenApiDocument(),
    headers: { 'Cache-Control': 'public, max-age=300', ...SECURITY_HEADERS },
  });
}
