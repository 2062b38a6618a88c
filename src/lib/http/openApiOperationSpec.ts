import type { z } from 'zod';
import { appIdSchema } from '../domain/appConfig.js';
import { certificateIdSchema } from './apiSchemas.js';
import type { Role } from './bearerAuthenticator.js';
import { jsonSchemaOf, type ComponentName, type JsonSchema } from './openApiComponents.js';

/**
 * How the operations of the OpenAPI document are written down (src/lib/http/openApiDocument.ts turns
 * each into an operation object), and the parameters, headers and responses they share.
 */

export interface ParameterSpec {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly description: string;
  readonly required?: boolean;
  readonly schema: z.ZodType | JsonSchema;
}

export interface HeaderSpec {
  readonly description: string;
  readonly schema?: JsonSchema;
}

export interface ResponseSpec {
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

export const appIdParameter: ParameterSpec = {
  name: 'appId',
  in: 'path',
  description: 'The application (client) id of the managed app registration.',
  schema: { ...jsonSchemaOf(appIdSchema, 'input'), format: 'uuid' },
};
export const certificateIdParameter: ParameterSpec = {
  name: 'certificateId',
  in: 'path',
  description:
    "The certificate's SHA-1 thumbprint as Entra shows it (40 hex digits; colons or spaces allowed) or its keyId on the app registration (a GUID).",
  schema: certificateIdSchema,
};
export const ifMatch: ParameterSpec = {
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

export function queryParameters(schema: z.ZodObject): ParameterSpec[] {
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: 'query',
    description: QUERY_DESCRIPTIONS[name] ?? name,
    required: !(field as z.ZodType).safeParse(undefined).success,
    schema: field as z.ZodType,
  }));
}

export const etagHeader: HeaderSpec = { description: 'The version of the app; send it back in If-Match.', schema: { type: 'string' } };
export const noStore: HeaderSpec = { description: 'Always `no-store`.', schema: { type: 'string', const: 'no-store' } };
export const retryAfter: HeaderSpec = { description: 'Seconds to wait before retrying.', schema: { type: 'string', pattern: '^[0-9]+$' } };

export const insufficientScope: HeaderSpec = {
  description: 'Bearer challenge with `error="insufficient_scope"` naming the role',
  schema: { type: 'string' },
};
export const unsupportedMedia: Record<string, HeaderSpec> = {
  Accept: { description: 'The media types the operation accepts.', schema: { type: 'string' } },
  'Accept-Patch': { description: 'The same, for PATCH (RFC 5789).', schema: { type: 'string' } },
};
export const problem = (description: string, headers?: Record<string, HeaderSpec>): ResponseSpec => ({
  description,
  json: 'Problem',
  headers,
});
export const standard = {
  400: problem('The request is invalid; `errors` names each offending field.'),
  401: problem('No bearer token, or one that is not valid.', {
    'WWW-Authenticate': { description: 'Bearer challenge naming the authority', schema: { type: 'string' } },
  }),
  403: problem('The token lacks the app role the operation needs.', { 'WWW-Authenticate': insufficientScope }),
  404: problem('The app (or the certificate) is not found.'),
  503: problem('A dependency (Graph, Key Vault, storage, the token issuer) is throttling or unavailable.', { 'Retry-After': retryAfter }),
};
export const secured = { 401: standard[401], 403: standard[403], 503: standard[503] };
