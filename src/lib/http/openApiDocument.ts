import { z } from 'zod';
import { ROLES, type Role } from './bearerAuthenticator.js';
import { APP_OPERATIONS } from './openApiAppOperations.js';
import { CERTIFICATE_OPERATIONS } from './openApiCertificateOperations.js';
import { openApiComponents, schemaFor, type JsonSchema } from './openApiComponents.js';
import { FLEET_OPERATIONS } from './openApiFleetOperations.js';
import { problem, retryAfter, type OperationSpec } from './openApiOperationSpec.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX } from './problem.js';

/**
 * The OpenAPI 3.1 document of the HTTP API (docs/http-api.md), generated from the zod schemas the
 * handlers parse and answer with (zod 4's own JSON Schema output, whose 2020-12 dialect is OpenAPI
 * 3.1's). Its operations are written down by tag in openApiAppOperations.ts,
 * openApiCertificateOperations.ts and openApiFleetOperations.ts, and here for health and this
 * document. The operation list is checked against the routes registered in src/index.ts by
 * test/functions/openApi.test.ts, and the route tests validate real responses against it.
 */

export const SECURITY_SCHEME = 'entraBearer';

const SERVICE_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/health',
    operationId: 'getHealth',
    tag: 'health',
    summary: 'Liveness, or readiness with ready=true',
    description:
      'Answers 200 while the app runs; reads no settings and returns no secrets or config. With `ready=true`, checks what the host needs (valid settings, the config table storage, the renewal queue storage) and answers 503 naming each one down (names and status codes only).',
    role: undefined,
    parameters: [
      {
        name: 'ready',
        in: 'query',
        description: '`true`: a readiness check of the dependencies instead of liveness.',
        required: false,
        schema: z.enum(['true', 'false']),
      },
    ],
    responses: {
      200: { description: 'Alive (or, with ready=true, every dependency up).', json: 'Health' },
      503: problem('With ready=true: a dependency is down; `checks` names each, `detail` says why.', { 'Retry-After': retryAfter }),
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tag: 'meta',
    summary: 'This OpenAPI document',
    description: 'The OpenAPI 3.1 description of the API, generated from the schemas the handlers validate with.',
    role: undefined,
    responses: { 200: { description: 'The document.', json: z.object({ openapi: z.string() }).loose() } },
  },
];

function roleText(role: Role | undefined): string {
  return role === undefined ? 'Anonymous.' : `Requires the app role \`${role}\` (or a higher one).`;
}

function operationObject(op: OperationSpec): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const [status, response] of Object.entries(op.responses)) {
    const content: Record<string, JsonSchema> = {};
    if (response.json !== undefined) {
      const mediaType = response.json === 'Problem' ? PROBLEM_CONTENT_TYPE : 'application/json';
      content[mediaType] = { schema: schemaFor(response.json, 'output') };
    }
    for (const mediaType of response.media ?? []) content[mediaType] = {};
    responses[status] = {
      description: response.description,
      ...(response.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(response.headers).map(([name, header]) => [
                name,
                { description: header.description, schema: header.schema ?? { type: 'string' } },
              ]),
            ),
          }
        : {}),
      ...(Object.keys(content).length > 0 ? { content } : {}),
    };
  }
  return {
    operationId: op.operationId,
    summary: op.summary,
    description: `${op.description}\n\n${roleText(op.role)}`,
    tags: [op.tag],
    security: op.role === undefined ? [] : [{ [SECURITY_SCHEME]: [op.role] }],
    'x-required-role': op.role ?? null,
    ...(op.parameters && op.parameters.length > 0
      ? {
          parameters: op.parameters.map((parameter) => ({
            name: parameter.name,
            in: parameter.in,
            description: parameter.description,
            required: parameter.in === 'path' ? true : (parameter.required ?? false),
            schema: schemaFor(parameter.schema, 'input'),
          })),
        }
      : {}),
    ...(op.requestBody
      ? {
          requestBody: {
            description: op.requestBody.description,
            required: true,
            content: Object.fromEntries(op.requestBody.mediaTypes.map((m) => [m, { schema: schemaFor(op.requestBody!.schema, 'input') }])),
          },
        }
      : {}),
    responses,
  };
}

let built: JsonSchema | undefined;

export function buildOpenApiDocument(): JsonSchema {
  if (built) return built;
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of [...SERVICE_OPERATIONS, ...APP_OPERATIONS, ...CERTIFICATE_OPERATIONS, ...FLEET_OPERATIONS])
    (paths[op.path] ??= {})[op.method] = operationObject(op);
  built = {
    openapi: '3.1.1',
    info: {
      title: 'Entra Cert Rotator API',
      version: '1',
      description:
        'Manages the X.509 client certificates of Microsoft Entra ID app registrations: their configs, renewal state and history, and the certificates themselves. ' +
        `Errors are RFC 9457 \`${PROBLEM_CONTENT_TYPE}\` with a \`type\` under \`${PROBLEM_TYPE_PREFIX}\`. Responses carry \`Cache-Control: no-store\` (the document itself may be cached), \`X-Content-Type-Options: nosniff\` and \`Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\`.`,
    },
    servers: [{ url: '/api' }],
    tags: [
      { name: 'apps', description: 'Managed apps: config, state, history.' },
      { name: 'certificates', description: 'Certificates on an app registration.' },
      { name: 'rotations', description: 'Bulk rotations of many apps at once.' },
      { name: 'inventory', description: 'Every app registration of the managed tenant, with its credentials summarised.' },
      { name: 'health', description: 'Liveness.' },
      { name: 'meta', description: 'This document.' },
    ],
    paths,
    components: {
      schemas: openApiComponents(),
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            "An Entra ID access token (v1 or v2) for the rotator's API app registration (audience: its App ID URI or client id). " +
            `Authorization is by app roles: ${ROLES.map((r) => `\`${r}\``).join(', ')}; Admin implies Operator implies Reader. ` +
            'Each operation names the least role it needs. No or a bad token: 401 with WWW-Authenticate; a missing role: 403.',
        },
      },
    },
  };
  return built;
}
