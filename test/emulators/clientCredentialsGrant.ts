import { createHash, X509Certificate } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { AadstsError } from './aadstsError.js';
import type { EmulatorRequest } from './emulatorServer.js';
import type { CertificateDirectory, DirectoryApplication, DirectoryKeyCredential } from './entraAuthority.js';

/**
 * The token endpoint's client credentials grant, for the Entra authority emulator, with a secret or
 * a certificate assertion: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
 * and https://learn.microsoft.com/entra/identity-platform/certificate-credentials (RS256 + `x5t`,
 * PS256 + `x5t#S256`; aud = token endpoint, iss = sub = client id, exp, nbf, jti). Strict where
 * the real service is: a scope without `/.default`, a wrong secret, an assertion whose certificate
 * is unknown, expired, not yet valid or not yet propagated, a wrong audience or issuer, a wrong
 * signature algorithm for the thumbprint header: each is refused with its AADSTS code.
 */

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const CLOCK_SKEW_SECONDS = 300;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A client registered with the authority itself (secrets, app roles, its service principal). */
export interface ClientRegistration {
  secrets: Set<string>;
  roles: string[];
  principalId: string;
}

export interface ClientCredentialsRequest {
  readonly tenantId: string;
  readonly clientId: string;
  /** The scope without `/.default`. */
  readonly resource: string;
  readonly form: URLSearchParams;
}

/** The tenant, client and resource a token request names, or the AADSTS refusal of it. */
export function parseClientCredentialsRequest(request: EmulatorRequest): ClientCredentialsRequest {
  const tenantId = request.params.tenant!.toLowerCase();
  if (!GUID.test(tenantId)) {
    throw new AadstsError(
      400,
      'invalid_request',
      90002,
      `Tenant '${tenantId}' not found. Check to make sure you have the correct tenant ID.`,
    );
  }
  if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
    throw new AadstsError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
  }
  const form = new URLSearchParams(request.body.toString('utf8'));
  const grantType = form.get('grant_type');
  if (grantType !== 'client_credentials') {
    throw new AadstsError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType ?? ''}'.`);
  }
  const clientId = form.get('client_id')?.toLowerCase();
  if (!clientId)
    throw new AadstsError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
  const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '' && !['openid', 'profile', 'offline_access'].includes(s));
  if (scopes.length !== 1 || !scopes[0]!.endsWith('/.default')) {
    throw new AadstsError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scopes.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  const resource = scopes[0]!.slice(0, -'/.default'.length).replace(/\/+$/, '');
  return { tenantId, clientId, resource, form };
}

export interface AuthenticatedClient {
  readonly via: 'client_secret' | 'client_assertion';
  readonly principalId: string;
  readonly roles: string[];
  /** For a certificate sign-in, the SHA-1 thumbprint, as Entra's sign-in log shows it. */
  readonly certificateThumbprint?: string;
}

export interface ClientAuthenticationContext {
  /** The client's registration with the authority, if any (secrets, roles). */
  readonly registered: ClientRegistration | undefined;
  readonly directory: CertificateDirectory | undefined;
  /** The audiences an assertion may name: the tenant's token endpoints. */
  readonly acceptedAudiences: readonly string[];
  /** A certificate added less than this long ago is not yet known to sign-ins. */
  readonly propagationDelaySeconds: number;
}

/** Checks the client's secret or certificate assertion. */
export async function authenticateClient(
  request: ClientCredentialsRequest,
  context: ClientAuthenticationContext,
): Promise<AuthenticatedClient> {
  const { tenantId, clientId, form } = request;
  const { registered } = context;
  let via: 'client_secret' | 'client_assertion';
  let certificateThumbprint: string | undefined;
  let principalId: string;
  let roles: string[];
  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  if (secret !== null) {
    if (!registered || registered.secrets.size === 0) throw unknownApplication(clientId, tenantId);
    if (!registered.secrets.has(secret)) {
      throw new AadstsError(
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
    }
    via = 'client_secret';
    principalId = registered.principalId;
    roles = registered.roles;
  } else if (assertion !== null) {
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
      throw new AadstsError(400, 'invalid_request', 50027, `Invalid client_assertion_type: must be ${CLIENT_ASSERTION_TYPE}.`);
    }
    const application = context.directory?.findApplication(tenantId, clientId);
    if (!application) throw unknownApplication(clientId, tenantId);
    const credential = await verifyClientAssertion(assertion, clientId, application, context);
    certificateThumbprint = createHash('sha1').update(credential.key).digest('hex').toUpperCase();
    via = 'client_assertion';
    principalId = application.servicePrincipalId;
    roles = registered?.roles ?? [];
  } else {
    throw new AadstsError(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
  }
  return { via, principalId, roles, ...(certificateThumbprint ? { certificateThumbprint } : {}) };
}

function unknownApplication(clientId: string, tenantId: string): AadstsError {
  return new AadstsError(
    400,
    'unauthorized_client',
    700016,
    `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
  );
}

/** https://learn.microsoft.com/entra/identity-platform/certificate-credentials */
async function verifyClientAssertion(
  assertion: string,
  clientId: string,
  application: DirectoryApplication,
  context: ClientAuthenticationContext,
): Promise<DirectoryKeyCredential> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    throw new AadstsError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
  }
  const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
  const x5tS256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  // Entra pairs the hash of the thumbprint header with the signature: SHA-1 x5t with RS256, x5t#S256 with PS256.
  const expectedAlg = x5tS256 !== undefined ? 'PS256' : 'RS256';
  if ((x5t === undefined && x5tS256 === undefined) || header.alg !== expectedAlg) {
    throw new AadstsError(
      401,
      'invalid_client',
      5002723,
      `Invalid JWT header: expected alg ${expectedAlg} with ${x5tS256 !== undefined ? 'x5t#S256' : 'x5t'} (got alg ${String(header.alg)}).`,
    );
  }
  const identifier = x5tS256 ?? x5t!;
  const digest = x5tS256 !== undefined ? 'sha256' : 'sha1';
  const credential = application.keyCredentials.find(
    (c) => c.type === 'AsymmetricX509Cert' && c.usage === 'Verify' && createHash(digest).update(c.key).digest('base64url') === identifier,
  );
  const notRegistered = () =>
    new AadstsError(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${Buffer.from(identifier, 'base64url').toString('hex').toUpperCase()}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`,
    );
  if (!credential) throw notRegistered();
  const now = Date.now();
  if (credential.addedAt.getTime() + context.propagationDelaySeconds * 1000 > now) throw notRegistered();
  if (credential.endDateTime.getTime() <= now) {
    throw new AadstsError(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is expired on application. [Reason - The key used is expired., Thumbprint of key used by client: '${Buffer.from(identifier, 'base64url').toString('hex').toUpperCase()}']`,
    );
  }
  if (credential.startDateTime.getTime() > now) {
    throw new AadstsError(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is not yet valid on application. [Reason - The key used is not yet valid., Thumbprint of key used by client: '${Buffer.from(identifier, 'base64url').toString('hex').toUpperCase()}']`,
    );
  }
  const publicKey = new X509Certificate(credential.key).publicKey;
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(assertion, publicKey, { algorithms: [expectedAlg], clockTolerance: CLOCK_SKEW_SECONDS }));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED' || code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
      throw new AadstsError(
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. (${(error as Error).message})`,
      );
    }
    throw new AadstsError(401, 'invalid_client', 7000274, 'Key was found, but use of the key to verify the signature failed.');
  }
  if (typeof payload.aud !== 'string' || !context.acceptedAudiences.includes(payload.aud)) {
    throw new AadstsError(
      401,
      'invalid_client',
      700023,
      `Client assertion audience claim does not match Realm issuer. Review the documentation at https://aka.ms/certCredentials . (aud was '${String(payload.aud)}')`,
    );
  }
  if (String(payload.iss).toLowerCase() !== clientId || String(payload.sub).toLowerCase() !== clientId) {
    throw new AadstsError(
      401,
      'invalid_client',
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://aka.ms/certCredentials .",
    );
  }
  if (typeof payload.exp !== 'number') throw new AadstsError(401, 'invalid_client', 700024, 'Client assertion contains no exp claim.');
  if (typeof payload.jti !== 'string' || payload.jti === '')
    throw new AadstsError(401, 'invalid_client', 50027, 'Client assertion contains no jti claim.');
  return credential;
}
