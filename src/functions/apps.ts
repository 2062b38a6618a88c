import type { HttpHandler, HttpRequest } from '@azure/functions';
import { appIdSchema, toFieldIssues } from '../lib/domain/appConfig.js';
import type { AppService, AppView, WriteOptions } from '../lib/apps/appService.js';
import { getApi } from '../lib/composition.js';
import { appsQuerySchema, noQuerySchema, pageQuerySchema } from '../lib/http/apiSchemas.js';
import { ValidationError } from '../lib/errors.js';
import type { BearerAuthenticator, Caller } from '../lib/http/bearerAuthenticator.js';
import { readJsonBody } from '../lib/http/jsonBody.js';
import { problemResponse } from '../lib/http/problem.js';
import { queryParameters } from '../lib/http/queryParameters.js';
import { createRoute } from '../lib/http/route.js';

/**
 * The /api/apps route family (docs/http-api.md): the collection, one app, and its history. They live in
 * one file because they share one dependency set, the appId and paging parsing and the view; the
 * certificate routes (another family) get their own file. Handlers translate HTTP to one use case
 * call and back; every status for an error comes from src/lib/http/problem.ts.
 */

export interface AppsApiDependencies {
  readonly apps: AppService;
  readonly authenticator: BearerAuthenticator;
}

function parseAppId(request: HttpRequest): string {
  const result = appIdSchema.safeParse(request.params.appId ?? '');
  if (!result.success) throw new ValidationError(toFieldIssues(result.error, ['appId']));
  return result.data;
}

function parsePage(request: HttpRequest): { maxPageSize?: number; continuationToken?: string } {
  const result = pageQuerySchema.safeParse(queryParameters(request));
  if (!result.success) throw new ValidationError(toFieldIssues(result.error));
  return { maxPageSize: result.data.pageSize, continuationToken: result.data.continuationToken };
}

/** The app routes take no query parameters: one is a mistake to name (400), not to ignore while writing. */
function rejectQuery(request: HttpRequest): void {
  const result = noQuerySchema.safeParse(queryParameters(request));
  if (!result.success) throw new ValidationError(toFieldIssues(result.error));
}

/** The next page's URL, relative (path and query): never built from the Host header, which the caller chooses. */
function nextLink(request: HttpRequest, continuationToken: string | undefined): string | undefined {
  if (continuationToken === undefined) return undefined;
  const url = new URL(request.url);
  url.searchParams.set('continuationToken', continuationToken);
  return `${url.pathname}${url.search}`;
}

function writeOptions(request: HttpRequest, caller: Caller | undefined): WriteOptions {
  const ifMatch = request.headers.get('if-match')?.trim();
  const ifNoneMatch = request.headers.get('if-none-match')?.trim();
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') {
    throw ValidationError.forField('If-None-Match', 'only "*" (create only) is supported on writes');
  }
  return { caller: { oid: caller!.oid, name: caller!.name }, ifMatch: ifMatch || undefined, ifNoneMatch: ifNoneMatch || undefined };
}

function appResponse(app: AppView, status = 200, extra: Record<string, string> = {}) {
  return { status, jsonBody: app, headers: { ETag: app.etag, ...extra } };
}

/** Builds the handlers over the given dependencies; the registered ones use the composition root. */
export function createAppsHandlers(deps: AppsApiDependencies) {
  const { apps, authenticator } = deps;

  const appsCollection = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        const query = appsQuerySchema.safeParse(queryParameters(request));
        if (!query.success) throw new ValidationError(toFieldIssues(query.error));
        const { pageSize, continuationToken, expiringWithinDays } = query.data;
        const page = await apps.listApps({ maxPageSize: pageSize, continuationToken }, { expiringWithinDays });
        return {
          status: 200,
          jsonBody: { items: page.items, continuationToken: page.continuationToken, nextLink: nextLink(request, page.continuationToken) },
        };
      },
    },
  });

  const appItem = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        rejectQuery(request);
        return appResponse(await apps.getApp(parseAppId(request)));
      },
    },
    PUT: {
      role: 'CertRotator.Admin',
      handle: async (request, _context, caller) => {
        rejectQuery(request);
        const appId = parseAppId(request);
        const body = await readJsonBody(request);
        const { app, created } = await apps.putApp(appId, body, writeOptions(request, caller));
        return created ? appResponse(app, 201, { Location: `/api/apps/${app.appId}` }) : appResponse(app);
      },
    },
    PATCH: {
      role: 'CertRotator.Admin',
      handle: async (request, _context, caller) => {
        rejectQuery(request);
        const appId = parseAppId(request);
        const patch = await readJsonBody(request, { accept: ['application/merge-patch+json', 'application/json'] });
        return appResponse(await apps.patchApp(appId, patch, writeOptions(request, caller)));
      },
    },
    DELETE: {
      role: 'CertRotator.Admin',
      handle: async (request, _context, caller) => {
        rejectQuery(request);
        await apps.deleteApp(parseAppId(request), writeOptions(request, caller));
        return { status: 204 };
      },
    },
  });

  const appHistory = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        const page = await apps.listHistory(parseAppId(request), parsePage(request));
        return {
          status: 200,
          jsonBody: { items: page.items, continuationToken: page.continuationToken, nextLink: nextLink(request, page.continuationToken) },
        };
      },
    },
  });

  return { appsCollection, appItem, appHistory };
}

let registered: ReturnType<typeof createAppsHandlers> | undefined;

/** Builds the handlers on first call, so a bad setting is answered as problem+json naming it. */
function fromCompositionRoot(name: keyof ReturnType<typeof createAppsHandlers>): HttpHandler {
  return async (request, context) => {
    try {
      registered ??= createAppsHandlers(getApi());
    } catch (error) {
      return problemResponse(error, request, context);
    }
    return registered[name](request, context);
  };
}

/** GET /api/apps */
export const appsCollection = fromCompositionRoot('appsCollection');
/** GET, PUT, PATCH, DELETE /api/apps/{appId} */
export const appItem = fromCompositionRoot('appItem');
/** GET /api/apps/{appId}/history */
export const appHistory = fromCompositionRoot('appHistory');
