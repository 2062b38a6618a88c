import type { HttpHandler } from '@azure/functions';
import { getDashboardSite } from '../lib/composition.js';
import { MethodNotAllowedError } from '../lib/http/httpErrors.js';
import { problemOf, problemResponse } from '../lib/http/problem.js';
import type { DashboardSite } from '../lib/ui/dashboardSite.js';

/**
 * GET /api/ui/{*path}: the dashboard's static files, anonymous (the page signs in itself and every
 * API call it makes carries the bearer token). What is served, and with which headers, is
 * src/lib/ui/dashboardSite.ts.
 */
export function createDashboardHandler(site: () => DashboardSite): HttpHandler {
  return (request, context) => {
    try {
      if (request.method.toUpperCase() !== 'GET') throw new MethodNotAllowedError(request.method, ['GET']);
      const answer = site().serve(
        request.params.path ?? '',
        new URL(request.url).pathname,
        request.headers.get('if-none-match') ?? undefined,
      );
      return Promise.resolve('problem' in answer ? problemOf(request, context, answer.problem) : answer);
    } catch (error) {
      return Promise.resolve(problemResponse(error, request, context));
    }
  };
}

export const dashboard = createDashboardHandler(getDashboardSite);
