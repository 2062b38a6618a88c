import { z } from 'zod';
import { appConfigInputSchema, appIdSchema, historyEntrySchema, renewalStateSchema } from '../domain/appConfig.js';
import {
  appCertificateViewSchema,
  certificateListSchema,
  generatedCertificateSchema,
  pfxDownloadSchema,
  removedCertificateSchema,
} from '../apps/certificateViews.js';
import {
  appPageSchema,
  appViewSchema,
  certificateIdSchema,
  deleteQuerySchema,
  downloadQuerySchema,
  generateQuerySchema,
  healthSchema,
  historyPageSchema,
  listQuerySchema,
  pageQuerySchema,
  appsQuerySchema,
  pfxExportBodySchema,
  idempotencyKeySchema,
  rotationListSchema,
  rotationViewSchema,
  inventoryPageSchema,
  inventoryQuerySchema,
} from './apiSchemas.js';
import { rotationRequestSchema } from '../domain/rotation.js';
import { ROLES, type Role } from './bearerAuthenticator.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, problemSchema } from './problem.js';

/**
 * The OpenAPI 3.1 document of the HTTP API (docs/http-api.md), generated from the zod schemas the
 * handlers parse and answer with (zod 4's own JSON Schema output, whose 2020-12 dialect is OpenAPI
 * 3.1's). The operation list below is checked against the routes registered in src/index.ts by
 * test/functions/openApi.test.ts, and the route tests validate real responses against it. It stays
 * one file past the ~400-line rule: it is one document, and its operations read best side by side.
 */

type JsonSchema = Record<string, unknown>;

interface ParameterSpec {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly description: string;
  readonly required?: boolean;
  readonly schema: z.ZodType | JsonSchema;
}

interface HeaderSpec {
  readonly description: string;
  readonly schema?: JsonSchema;
}

interface ResponseSpec {
  readonly description: string;
  readonly headers?: Readonly<Record<string, HeaderSpec>>;
  /** application/json body: a component name or a schema. */
  readonly json?: ComponentName | z.ZodType;
  /** Non-JSON bodies (downloads): media types, no schema. */
  readonly media?: readonly string[];
}

export interface OperationSpec {
  readonly method: 'get' | 'put' | 'post' | 'patch' | 'delete';
  /** Under the server URL `/api`, with the Functions route's `{name}` templates. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description: string;
  readonly tag: 'health' | 'apps' | 'certificates' | 'rotations' | 'inventory' | 'meta';
  /** The least app role the operation needs; undefined: anonymous. */
  readonly role: Role | undefined;
  readonly parameters?: readonly ParameterSpec[];
  readonly requestBody?: { readonly description: string; readonly mediaTypes: readonly string[]; readonly schema: ComponentName };
  readonly responses: Readonly<Record<string, ResponseSpec>>;
}

/** Response bodies and request bodies with a name in components/schemas. */
const OUTPUT_COMPONENTS = {
  Problem: problemSchema,
  Health: healthSchema,
  AppView: appViewSchema,
  AppPage: appPageSchema,
  RenewalState: renewalStateSchema,
  HistoryEntry: historyEntrySchema,
  HistoryPage: historyPageSchema,
  AppCertificate: appCertificateViewSchema,
  CertificateList: certificateListSchema,
  GeneratedCertificate: generatedCertificateSchema,
  RemovedCertificate: removedCertificateSchema,
  PfxDownload: pfxDownloadSchema,
  RotationView: rotationViewSchema,
  RotationList: rotationListSchema,
  InventoryPage: inventoryPageSchema,
} satisfies Record<string, z.ZodType>;
const INPUT_COMPONENTS = {
  AppConfigInput: appConfigInputSchema,
  PfxExportInput: pfxExportBodySchema,
  RotationRequest: rotationRequestSchema,
} satisfies Record<string, z.ZodType>;
type ComponentName = keyof typeof OUTPUT_COMPONENTS | keyof typeof INPUT_COMPONENTS;

export const SECURITY_SCHEME = 'entraBearer';

// --- the operations ------------------------------------------------------------------------------

const appIdParameter: ParameterSpec = {
  name: 'appId',
  in: 'path',
  description: 'The application (client) id of the managed app registration.',
  schema: { ...jsonSchemaOf(appIdSchema, 'input'), format: 'uuid' },
};
const certificateIdParameter: ParameterSpec = {
  name: 'certificateId',
  in: 'path',
  description:
    "The certificate's SHA-1 thumbprint as Entra shows it (40 hex digits; colons or spaces allowed) or its keyId on the app registration (a GUID).",
  schema: certificateIdSchema,
};
const ifMatch: ParameterSpec = {
  name: 'If-Match',
  in: 'header',
  description:
    'The ETag of the version this write is based on (`*`: any existing version). Without it, the write retries on a concurrent change.',
  schema: { type: 'string' },
};

const QUERY_DESCRIPTIONS: Record<string, string> = {
  pageSize: 'Items per page, 1 to 100.',
  expiringWithinDays:
    'Only the apps whose current certificate expires within this many days (or has expired); a page may then hold fewer items than pageSize, even none, with a continuationToken.',
  continuationToken: 'The continuationToken of the previous page.',
  include:
    'Return the one-time private key: `pfx` (PKCS#12 in base64 and its password) or `pem` (certificate and PKCS#8 key). Needs `CertRotator.Admin`: an Operator gets 403 and nothing is deployed.',
  legacy: 'PFX encrypted with 3DES and a SHA-1 MAC for old Windows hosts (default: AES-256-CBC, PBKDF2-SHA256, SHA-256 MAC).',
  format:
    '`cer`: the public certificate (Reader); `pem`: certificate and private key in PEM; `pfx`: PKCS#12 with a fresh password (both Admin, from Key Vault).',
  encoding: 'For `format=cer`: `der` (application/pkix-cert) or `pem`.',
  force: 'Remove the certificate even when it is the last valid one (the app can then no longer sign in with a certificate).',
  credential: '`secret`: apps with a client secret; `certificate`: with a certificate; `none`: with neither.',
  managed: '`true`: only the apps the rotator manages; `false`: only the others.',
};

function queryParameters(schema: z.ZodObject): ParameterSpec[] {
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: 'query',
    description: QUERY_DESCRIPTIONS[name] ?? name,
    required: !(field as z.ZodType).safeParse(undefined).success,
    schema: field as z.ZodType,
  }));
}

const etagHeader: HeaderSpec = { description: 'The version of the app; send it back in If-Match.', schema: { type: 'string' } };
const noStore: HeaderSpec = { description: 'Always `no-store`.', schema: { type: 'string', const: 'no-store' } };
const retryAfter: HeaderSpec = { description: 'Seconds to wait before retrying.', schema: { type: 'string', pattern: '^[0-9]+$' } };

const insufficientScope: HeaderSpec = {
  description: 'Bearer challenge with `error="insufficient_scope"` naming the role',
  schema: { type: 'string' },
};
const unsupportedMedia: Record<string, HeaderSpec> = {
  Accept: { description: 'The media types the operation accepts.', schema: { type: 'string' } },
  'Accept-Patch': { description: 'The same, for PATCH (RFC 5789).', schema: { type: 'string' } },
};
const problem = (description: string, headers?: Record<string, HeaderSpec>): ResponseSpec => ({ description, json: 'Problem', headers });
const standard = {
  400: problem('The request is invalid; `errors` names each offending field.'),
  401: problem('No bearer token, or one that is not valid.', {
    'WWW-Authenticate': { description: 'Bearer challenge naming the authority', schema: { type: 'string' } },
  }),
  403: problem('The token lacks the app role the operation needs.', { 'WWW-Authenticate': insufficientScope }),
  404: problem('The app (or the certificate) is not found.'),
  503: problem('A dependency (Graph, Key Vault, storage, the token issuer) is throttling or unavailable.', { 'Retry-After': retryAfter }),
};

/** PUT and PATCH of a config: the preflight against app management policies (docs/renewal.md) adds a 400. */
const policyCap = problem(
  'The request is invalid; `errors` names each offending field. A `lifetimeDays` above the cap of the app management policy that binds the app is one, its message naming the policy and the cap.',
);
const secured = { 401: standard[401], 403: standard[403], 503: standard[503] };

export const OPERATIONS: readonly OperationSpec[] = [
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
  {
    method: 'get',
    path: '/apps',
    operationId: 'listApps',
    tag: 'apps',
    summary: 'List managed apps',
    description: 'Every managed app with its config and renewal state, a page at a time.',
    role: 'CertRotator.Reader',
    parameters: queryParameters(appsQuerySchema),
    responses: { 200: { description: 'One page of apps.', json: 'AppPage' }, 400: standard[400], ...secured },
  },
  {
    method: 'get',
    path: '/apps/{appId}',
    operationId: 'getApp',
    tag: 'apps',
    summary: "One app's config and state",
    description: 'The config and the renewal state; `state.verifiedAt` is set once a new certificate has signed in.',
    role: 'CertRotator.Reader',
    parameters: [appIdParameter],
    responses: {
      200: { description: 'The app.', json: 'AppView', headers: { ETag: etagHeader } },
      400: standard[400],
      404: standard[404],
      ...secured,
    },
  },
  {
    method: 'put',
    path: '/apps/{appId}',
    operationId: 'putApp',
    tag: 'apps',
    summary: 'Create or replace an app config',
    description:
      'Validates the whole config (docs/configuration.md); unknown fields are rejected. Creating reads the display name from Entra. `If-None-Match: *` creates only.',
    role: 'CertRotator.Admin',
    parameters: [
      appIdParameter,
      ifMatch,
      { name: 'If-None-Match', in: 'header', description: '`*`: create only, never replace.', schema: { type: 'string', const: '*' } },
    ],
    requestBody: {
      description: 'The config; omitted fields take their defaults.',
      mediaTypes: ['application/json'],
      schema: 'AppConfigInput',
    },
    responses: {
      200: { description: 'Replaced.', json: 'AppView', headers: { ETag: etagHeader } },
      201: {
        description: 'Created.',
        json: 'AppView',
        headers: { ETag: etagHeader, Location: { description: 'The app.', schema: { type: 'string' } } },
      },
      400: policyCap,
      404: problem('The app registration does not exist in the managed tenant.'),
      409: problem(
        'The Key Vault certificate name is taken, the rotator cannot manage this app registration, or an app management policy accepts only certificates from trusted certificate authorities (`detail` names the policy).',
      ),
      412: problem('If-Match (or If-None-Match) does not match the current version.'),
      413: problem('The body exceeds 64 KiB.'),
      415: problem('The body is not application/json.', unsupportedMedia),
      ...secured,
    },
  },
  {
    method: 'patch',
    path: '/apps/{appId}',
    operationId: 'patchApp',
    tag: 'apps',
    summary: 'Change some fields',
    description: 'RFC 7396 JSON merge patch onto the current config (`null` restores a default); the result is validated as a whole.',
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, ifMatch],
    requestBody: {
      description: 'The fields to change, in the shape of the config.',
      mediaTypes: ['application/merge-patch+json', 'application/json'],
      schema: 'AppConfigInput',
    },
    responses: {
      200: { description: 'Updated.', json: 'AppView', headers: { ETag: etagHeader } },
      400: policyCap,
      404: standard[404],
      409: problem(
        'The Key Vault certificate name is taken, or an app management policy accepts only certificates from trusted certificate authorities (`detail` names the policy).',
      ),
      412: problem('If-Match does not match the current version.'),
      413: problem('The body exceeds 64 KiB.'),
      415: problem('The body is not a merge patch.', unsupportedMedia),
      ...secured,
    },
  },
  {
    method: 'delete',
    path: '/apps/{appId}',
    operationId: 'deleteApp',
    tag: 'apps',
    summary: 'Stop managing an app',
    description: 'Removes the config and state; the certificates stay on the app registration and in Key Vault, the history stays.',
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, ifMatch],
    responses: {
      204: { description: 'No longer managed.' },
      400: standard[400],
      404: standard[404],
      412: problem('If-Match does not match the current version.'),
      ...secured,
    },
  },
  {
    method: 'get',
    path: '/apps/{appId}/history',
    operationId: 'listAppHistory',
    tag: 'apps',
    summary: 'Renewal and admin history',
    description: 'One row per renewal attempt or admin action (config writes, generations, key downloads, removals), newest first.',
    role: 'CertRotator.Reader',
    parameters: [appIdParameter, ...queryParameters(pageQuerySchema)],
    responses: { 200: { description: 'One page of history.', json: 'HistoryPage' }, 400: standard[400], 404: standard[404], ...secured },
  },
  {
    method: 'get',
    path: '/apps/{appId}/certificates',
    operationId: 'listCertificates',
    tag: 'certificates',
    summary: 'Certificates on the app registration',
    description:
      'Every certificate credential of the app registration, read from Microsoft Graph: `current` is the one the rotator deployed last (else the newest valid one); `managed` says whether the rotator created it.',
    role: 'CertRotator.Reader',
    parameters: [appIdParameter, ...queryParameters(listQuerySchema)],
    responses: { 200: { description: 'The certificates.', json: 'CertificateList' }, 400: standard[400], 404: standard[404], ...secured },
  },
  {
    method: 'post',
    path: '/apps/{appId}/certificates',
    operationId: 'generateCertificate',
    tag: 'certificates',
    summary: 'Deploy a new certificate now',
    description:
      'Generates a certificate, imports it into Key Vault (when enabled) and adds it to the app registration, then answers; the sign-in check follows in the background (watch `state.verifiedAt` on the app). The private key is in the response only when an Admin asks for it with `include` (an Operator asking gets 403, and nothing is deployed), and never again from this response. When Key Vault is disabled for the app, `privateKey.notice` says that the key exists only in this response and the email.',
    role: 'CertRotator.Operator',
    parameters: [appIdParameter, ...queryParameters(generateQuerySchema)],
    responses: {
      201: {
        description: 'Deployed; verification pending.',
        json: 'GeneratedCertificate',
        headers: {
          Location: { description: 'The new certificate (download URL).', schema: { type: 'string' } },
          Link: {
            description: 'The app, `rel="monitor"`: its `state.verifiedAt` is set when verification passes.',
            schema: { type: 'string' },
          },
          'Cache-Control': noStore,
        },
      },
      400: standard[400],
      404: standard[404],
      409: problem(
        'A renewal of the app holds its lease (retry after Retry-After seconds), or a precondition (self mode, email) is not met.',
        {
          'Retry-After': retryAfter,
        },
      ),
      ...secured,
    },
  },
  {
    method: 'get',
    path: '/apps/{appId}/certificates/{certificateId}',
    operationId: 'downloadCertificate',
    tag: 'certificates',
    summary: 'Download a certificate',
    description:
      "`format=cer` (Reader): the public certificate of any certificate on the app registration. `format=pem` (Admin): certificate and private key from Key Vault as a PEM file. `format=pfx` (Admin): a JSON body with the PFX in base64 under a fresh password and that password, shown once; for the raw file under a password of your own, POST …/export. Key downloads are recorded in the app's history with the caller.",
    role: 'CertRotator.Reader',
    parameters: [appIdParameter, certificateIdParameter, ...queryParameters(downloadQuerySchema)],
    responses: {
      200: {
        description: 'The file (cer, pem), or for format=pfx the PFX and its password as JSON.',
        json: 'PfxDownload',
        media: ['application/pkix-cert', 'application/x-pem-file'],
        headers: {
          'Content-Disposition': {
            description: '`attachment` with a file name from the app name and thumbprint (files only).',
            schema: { type: 'string' },
          },
          'Cache-Control': noStore,
        },
      },
      400: standard[400],
      403: problem('The token lacks CertRotator.Reader, or CertRotator.Admin for format=pem/pfx.', {
        'WWW-Authenticate': insufficientScope,
      }),
      404: standard[404],
      409: problem('The private key is not in Key Vault (Key Vault disabled for the app, or a certificate the rotator did not create).'),
      401: standard[401],
      503: standard[503],
    },
  },
  {
    method: 'post',
    path: '/apps/{appId}/certificates/{certificateId}/export',
    operationId: 'exportCertificatePfx',
    tag: 'certificates',
    summary: 'Export a certificate and its key as a PFX file under your own password',
    description:
      "The raw PKCS#12 file from Key Vault, encrypted under the password in the request body: a POST so that the password travels in the body, never in a URL or a header (which proxies and gateways log). Recorded in the app's history with the caller.",
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, certificateIdParameter],
    requestBody: {
      description: 'The password for the file, and whether to use the legacy layout.',
      mediaTypes: ['application/json'],
      schema: 'PfxExportInput',
    },
    responses: {
      200: {
        description: 'The PFX file.',
        media: ['application/x-pkcs12'],
        headers: {
          'Content-Disposition': {
            description: '`attachment` with a file name from the app name and thumbprint.',
            schema: { type: 'string' },
          },
          'Cache-Control': noStore,
        },
      },
      400: standard[400],
      403: problem('The token lacks CertRotator.Admin.', { 'WWW-Authenticate': insufficientScope }),
      404: standard[404],
      409: problem('The private key is not in Key Vault (Key Vault disabled for the app, or a certificate the rotator did not create).'),
      413: problem('The body is larger than 64 KiB.'),
      415: problem('The body is not application/json.'),
      401: standard[401],
      503: standard[503],
    },
  },
  {
    method: 'delete',
    path: '/apps/{appId}/certificates/{certificateId}',
    operationId: 'deleteCertificate',
    tag: 'certificates',
    summary: 'Remove a certificate from the app registration',
    description:
      'Removes the credential (managed by the rotator or not), never the last valid one unless `force=true`; emits CertificateRemoved and records the caller in history. Key Vault keeps its versions.',
    role: 'CertRotator.Admin',
    parameters: [appIdParameter, certificateIdParameter, ...queryParameters(deleteQuerySchema)],
    responses: {
      200: { description: 'Removed.', json: 'RemovedCertificate' },
      400: standard[400],
      404: standard[404],
      409: problem('It is the last valid certificate (use force=true), or a renewal holds the lease (see Retry-After).', {
        'Retry-After': retryAfter,
      }),
      ...secured,
    },
  },
];

const rotationIdParameter: ParameterSpec = {
  name: 'rotationId',
  in: 'path',
  description: 'The rotation id that POST /api/rotations answered with (its Location).',
  schema: { type: 'string', format: 'uuid' },
};

export const FLEET_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'post',
    path: '/rotations',
    operationId: 'startRotation',
    tag: 'rotations',
    summary: 'Start a bulk rotation',
    description:
      'Renews every managed app the selector takes (criteria combine; `all` stands alone), once each however often the request is retried with the same `Idempotency-Key`: a retry answers 202 with the same rotation, the same key with another body 422. A scheduled renewal deployed after the rotation was asked for counts as its renewal (no second certificate). Apps with management off or without a certificate yet are skipped, saying why. History rows and events of its renewals carry `rotationId` and `reason`; `EntraCertRotator.RotationCompleted` is published once every app is verified, failed or skipped.',
    role: 'CertRotator.Admin',
    parameters: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        description: 'Required. A value of your own (a new UUID) for this rotation; send the same one when you retry.',
        required: true,
        schema: idempotencyKeySchema,
      },
    ],
    requestBody: { description: 'Which apps, and why.', mediaTypes: ['application/json'], schema: 'RotationRequest' },
    responses: {
      202: {
        description: 'Started (or, for a retry, already started): follow it at Location.',
        json: 'RotationView',
        headers: { Location: { description: '/api/rotations/{rotationId}', schema: { type: 'string' } } },
      },
      400: standard[400],
      409: problem('An earlier request with this key is still starting the rotation; retry after Retry-After.', {
        'Retry-After': retryAfter,
      }),
      413: problem('Request body too large.'),
      415: problem('Not application/json.', unsupportedMedia),
      422: problem('The Idempotency-Key was used before with another request.'),
      ...secured,
    },
  },
  {
    method: 'get',
    path: '/rotations',
    operationId: 'listRotations',
    tag: 'rotations',
    summary: 'Bulk rotations, newest first',
    description: 'Every rotation with its counts per stage (the apps of each are at its own URL).',
    role: 'CertRotator.Reader',
    responses: { 200: { description: 'The rotations.', json: 'RotationList' }, 400: standard[400], ...secured },
  },
  {
    method: 'get',
    path: '/rotations/{rotationId}',
    operationId: 'getRotation',
    tag: 'rotations',
    summary: 'A bulk rotation and its progress',
    description:
      'Counts per stage (queued, deployed, verified, failed, skipped), the apps still open and the failed ones (the first 200 of each), and `completedAt` once every app is settled.',
    role: 'CertRotator.Reader',
    parameters: [rotationIdParameter],
    responses: { 200: { description: 'The rotation.', json: 'RotationView' }, 400: standard[400], 404: standard[404], ...secured },
  },
  {
    method: 'get',
    path: '/inventory',
    operationId: 'listInventory',
    tag: 'inventory',
    summary: 'Every app registration of the tenant',
    description:
      "The managed tenant's app registrations as Microsoft Graph lists them to the rotator (the whole tenant with Application.Read.All; only the apps it owns with Application.ReadWrite.OwnedBy), each with its certificates and client secrets summarised (count, expired, the soonest expiry of the valid ones), `runsOnClientSecret`, its owners (the first 20) and whether the rotator manages it. One Graph request per page of 100, none per app. JSON comes a page at a time (a filtered page may hold fewer items, even none, with a continuationToken); `Accept: text/csv` answers the whole tenant as one CSV file.",
    role: 'CertRotator.Reader',
    parameters: queryParameters(inventoryQuerySchema),
    responses: {
      200: {
        description: 'One page (JSON), or every page (CSV).',
        json: 'InventoryPage',
        media: ['text/csv'],
        headers: {
          'Content-Disposition': { description: 'With CSV: `attachment; filename="inventory.csv"`.', schema: { type: 'string' } },
        },
      },
      400: standard[400],
      ...secured,
    },
  },
];

// --- generation ------------------------------------------------------------------------------------

const COMPONENT_REF = (name: string) => `#/components/schemas/${name}`;

/** A standalone schema in the 2020-12 dialect, without the `$schema` key (the document sets the dialect). */
function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

/** Named schemas; a schema registered under a name is referenced wherever another one uses it. */
function components(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [io, named] of [
    ['output', OUTPUT_COMPONENTS],
    ['input', INPUT_COMPONENTS],
  ] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
    const { schemas } = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: COMPONENT_REF }) as {
      schemas: Record<string, JsonSchema>;
    };
    for (const [id, schema] of Object.entries(schemas)) {
      const { $schema: _dialect, $id: _id, ...rest } = schema;
      out[id] = rest;
    }
  }
  return out;
}

function schemaFor(spec: ComponentName | z.ZodType | JsonSchema, io: 'input' | 'output'): JsonSchema {
  if (typeof spec === 'string') return { $ref: COMPONENT_REF(spec) };
  if (spec instanceof z.ZodType) return jsonSchemaOf(spec, io);
  return spec;
}

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
  for (const op of [...OPERATIONS, ...FLEET_OPERATIONS]) (paths[op.path] ??= {})[op.method] = operationObject(op);
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
      schemas: components(),
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
