import type { HttpHandler, HttpRequest } from '@azure/functions';
import { toFieldIssues } from '../lib/domain/appConfig.js';
import { isGuid } from '../lib/domain/identifiers.js';
import { rotationRequestSchema, type RotationView } from '../lib/domain/rotation.js';
import { getRotationApi } from '../lib/composition.js';
import { ValidationError } from '../lib/errors.js';
import { idempotencyKeySchema, noQuerySchema } from '../lib/http/apiSchemas.js';
import type { BearerAuthenticator } from '../lib/http/bearerAuthenticator.js';
import { readJsonBody } from '../lib/http/jsonBody.js';
import { problemResponse } from '../lib/http/problem.js';
import { queryParameters } from '../lib/http/queryParameters.js';
import { createRoute } from '../lib/http/route.js';
import type { RotationService } from '../lib/rotations/rotationService.js';

/** The /api/rotations route family (docs/http-api.md): start a bulk rotation, follow it, list them. */

export interface RotationsApiDependencies {
  readonly rotations: RotationService;
  readonly authenticator: BearerAuthenticator;
}

function rejectQuery(request: HttpRequest): void {
  const result = noQuerySchema.safeParse(queryParameters(request));
  if (!result.success) throw new ValidationError(toFieldIssues(result.error));
}

const location = (view: RotationView) => `/api/rotations/${view.id}`;

export function createRotationsHandlers(deps: RotationsApiDependencies) {
  const { rotations, authenticator } = deps;

  const rotationsCollection = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        rejectQuery(request);
        return { status: 200, jsonBody: { items: await rotations.list() } };
      },
    },
    POST: {
      role: 'CertRotator.Admin',
      handle: async (request, _context, caller) => {
        rejectQuery(request);
        const key = idempotencyKeySchema.safeParse(request.headers.get('idempotency-key') ?? undefined);
        const body = rotationRequestSchema.safeParse(await readJsonBody(request));
        const issues = [
          ...(key.success ? [] : toFieldIssues(key.error, ['Idempotency-Key'])),
          ...(body.success ? [] : toFieldIssues(body.error)),
        ];
        if (issues.length > 0 || !key.success || !body.success) throw new ValidationError(issues);
        const { view } = await rotations.start(body.data, { idempotencyKey: key.data, caller: { oid: caller!.oid, name: caller!.name } });
        // 202 for a retry too: the same key answers as its first request did (IETF Idempotency-Key draft).
        return { status: 202, jsonBody: view, headers: { Location: location(view) } };
      },
    },
  });

  const rotationItem = createRoute(authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        rejectQuery(request);
        const id = request.params.rotationId ?? '';
        if (!isGuid(id)) throw ValidationError.forField('rotationId', 'must be a rotation id (a GUID) from POST /api/rotations');
        return { status: 200, jsonBody: await rotations.get(id.toLowerCase()) };
      },
    },
  });

  return { rotationsCollection, rotationItem };
}

let registered: ReturnType<typeof createRotationsHandlers> | undefined;

function fromCompositionRoot(name: keyof ReturnType<typeof createRotationsHandlers>): HttpHandler {
  return async (request, context) => {
    try {
      registered ??= createRotationsHandlers(getRotationApi());
    } catch (error) {
      return problemResponse(error, request, context);
    }
    return registered[name](request, context);
  };
}

/** GET, POST /api/rotations */
export const rotationsCollection = fromCompositionRoot('rotationsCollection');
/** GET /api/rotations/{rotationId} */
export const rotationItem = fromCompositionRoot('rotationItem');
