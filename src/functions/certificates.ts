import type { HttpHandler, HttpRequest, HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';
import { appIdSchema, toFieldIssues, type Actor } from '../lib/domain/appConfig.js';
import type { CertificateService, DownloadFormat, KeyMaterialRequest } from '../lib/apps/certificateService.js';
import { getApi } from '../lib/composition.js';
import { ValidationError } from '../lib/errors.js';
import {
  certificateIdSchema,
  deleteQuerySchema,
  downloadQuerySchema,
  generateQuerySchema,
  listQuerySchema,
  noQuerySchema,
  pfxExportBodySchema,
  toCertificateReference,
} from '../lib/http/apiSchemas.js';
import { hasRole, type BearerAuthenticator, type Caller } from '../lib/http/bearerAuthenticator.js';
import { ForbiddenError } from '../lib/http/httpErrors.js';
import { problemResponse } from '../lib/http/problem.js';
import { readJsonBody } from '../lib/http/jsonBody.js';
import { createRoute } from '../lib/http/route.js';
import { queryParameters } from '../lib/http/queryParameters.js';

/**
 * The /api/apps/{appId}/certificates route family (docs/http-api.md): generate and list, then download
 * and delete one. Handlers parse the URL with the schemas the OpenAPI document is built from, call
 * one use case, and shape the response; statuses for errors come from src/lib/http/problem.ts.
 */

export interface CertificatesApiDependencies {
  readonly certificates: CertificateService;
  readonly authenticator: BearerAuthenticator;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, prefix: string[] = []): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(toFieldIssues(result.error, prefix));
  return result.data;
}

const appIdOf = (request: HttpRequest) => parse(appIdSchema, request.params.appId ?? '', ['appId']);
const referenceOf = (request: HttpRequest) =>
  toCertificateReference(parse(certificateIdSchema, request.params.certificateId ?? '', ['certificateId']));
const actorOf = (caller: Caller | undefined): Actor => ({ oid: caller!.oid, name: caller!.name });

/** A file download; RFC 6266: an ASCII file name (safeFileName keeps it to letters, digits, dot, dash, underscore). */
const fileHeaders = (contentType: string, fileName: string) => ({
  'Content-Type': contentType,
  'Content-Disposition': `attachment; filename="${fileName}"`,
  'Cache-Control': 'no-store',
});

/** Builds the handlers over the given dependencies; the registered ones use the composition root. */
export function createCertificatesHandlers(deps: CertificatesApiDependencies) {
  const { certificates, authenticator } = deps;

  const appCertificates = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        const appId = appIdOf(request);
        parse(listQuerySchema, queryParameters(request));
        return { status: 200, jsonBody: await certificates.list(appId) };
      },
    },
    POST: {
      role: 'CertRotator.Operator',
      handle: async (request, _context, caller) => {
        const appId = appIdOf(request);
        // Key material is an Admin's alone, whichever route hands it out: any include= from a
        // non-Admin is refused (before its value is judged), and before anything is deployed.
        const asked = queryParameters(request).include;
        if (asked !== undefined && !hasRole(caller!, 'CertRotator.Admin')) {
          throw new ForbiddenError(
            `Returning the private key (include=${String(asked).slice(0, 20)}) needs the app role CertRotator.Admin`,
          );
        }
        const query = parse(generateQuerySchema, queryParameters(request));
        const include: KeyMaterialRequest =
          query.include === 'pfx'
            ? { format: 'pfx', legacy: query.legacy ?? false }
            : query.include === 'pem'
              ? { format: 'pem' }
              : undefined;
        const generated = await certificates.generate(appId, actorOf(caller), include);
        return {
          status: 201,
          jsonBody: generated,
          headers: {
            Location: `/api/apps/${generated.appId}/certificates/${generated.thumbprint}`,
            // The app's state shows verifiedAt when the background sign-in check passes.
            Link: `<${generated.links.app}>; rel="monitor"`,
            'Cache-Control': 'no-store',
          },
        };
      },
    },
  });

  const appCertificate = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request, _context, caller) => {
        const appId = appIdOf(request);
        const reference = referenceOf(request);
        const query = parse(downloadQuerySchema, queryParameters(request));
        if (query.format !== 'cer' && !hasRole(caller!, 'CertRotator.Admin')) {
          throw new ForbiddenError(`Downloading the private key (format=${query.format}) needs the app role CertRotator.Admin`);
        }
        const format: DownloadFormat =
          query.format === 'cer'
            ? { format: 'cer', encoding: query.encoding ?? 'der' }
            : query.format === 'pem'
              ? { format: 'pem' }
              : { format: 'pfx', legacy: query.legacy ?? false };
        const download = await certificates.download(appId, reference, format, actorOf(caller));
        if (download.pfx !== undefined) {
          // A PFX comes with its password, so both go in the body: a header is logged more readily.
          const pfx = { fileName: download.fileName, base64: download.body.toString('base64'), ...download.pfx };
          return { status: 200, jsonBody: { thumbprint: download.thumbprint, pfx }, headers: { 'Cache-Control': 'no-store' } };
        }
        return {
          status: 200,
          body: download.body,
          headers: fileHeaders(download.contentType, download.fileName),
        } satisfies HttpResponseInit;
      },
    },
    DELETE: {
      role: 'CertRotator.Admin',
      handle: async (request, _context, caller) => {
        const appId = appIdOf(request);
        const reference = referenceOf(request);
        const query = parse(deleteQuerySchema, queryParameters(request));
        const removed = await certificates.remove(appId, reference, { force: query.force ?? false }, actorOf(caller));
        return { status: 200, jsonBody: { removed } };
      },
    },
  });

  const appCertificateExport = createRoute(authenticator, {
    POST: {
      role: 'CertRotator.Admin',
      handle: async (request, _context, caller) => {
        const appId = appIdOf(request);
        const reference = referenceOf(request);
        parse(noQuerySchema, queryParameters(request));
        const body = parse(pfxExportBodySchema, await readJsonBody(request));
        const download = await certificates.download(appId, reference, { format: 'pfx', ...body }, actorOf(caller));
        return {
          status: 200,
          body: download.body,
          headers: fileHeaders(download.contentType, download.fileName),
        } satisfies HttpResponseInit;
      },
    },
  });

  return { appCertificates, appCertificate, appCertificateExport };
}

let registered: ReturnType<typeof createCertificatesHandlers> | undefined;

/** Builds the handlers on first call, so a bad setting is answered as problem+json naming it. */
function fromCompositionRoot(name: keyof ReturnType<typeof createCertificatesHandlers>): HttpHandler {
  return async (request, context) => {
    try {
      registered ??= createCertificatesHandlers(getApi());
    } catch (error) {
      return problemResponse(error, request, context);
    }
    return registered[name](request, context);
  };
}

/** GET (list), POST (generate) /api/apps/{appId}/certificates */
export const appCertificates = fromCompositionRoot('appCertificates');
/** GET (download), DELETE /api/apps/{appId}/certificates/{certificateId} */
export const appCertificate = fromCompositionRoot('appCertificate');
/** POST /api/apps/{appId}/certificates/{certificateId}/export: the raw PFX under the caller's password. */
export const appCertificateExport = fromCompositionRoot('appCertificateExport');
