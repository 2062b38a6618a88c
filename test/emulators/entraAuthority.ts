import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { base64url, createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { UserSignIn } from './authorizeEndpoint.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse } from './emulatorServer.js';

/**
 * A loopback Microsoft Entra ID authority (the AZURE_AUTHORITY_HOST of the tests and the sandbox).
 *
 * Follows:
 * - OpenID Connect metadata: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
 *   (`/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/discovery/v2.0/keys`).
 * - Client credentials with a secret or a certificate assertion:
 *   https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow and
 *   https://learn.microsoft.com/entra/identity-platform/certificate-credentials (RS256 + `x5t`,
 *   PS256 + `x5t#S256`; aud = token endpoint, iss = sub = client id, exp, nbf, jti).
 * - Error bodies: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 *   ({ error, error_description "AADSTSnnn: …\r\nTrace ID…", error_codes, timestamp, trace_id,
 *   correlation_id, error_uri }).
 * - App Service managed identity, protocol 2019-08-01:
 *   https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
 *   (GET IDENTITY_ENDPOINT?resource=…&api-version=2019-08-01 with header X-IDENTITY-HEADER; answer
 *   { access_token, expires_on (epoch seconds as a string), resource, token_type, client_id }).
 *
 * Strict where the real service is: a scope without `/.default`, a wrong secret, an assertion whose
 * certificate is unknown, expired, not yet valid or not yet propagated, a wrong audience or issuer,
 * a wrong signature algorithm for the thumbprint header: each is refused with the AADSTS body.
 */

export interface DirectoryKeyCredential {
  readonly keyId: string;
  /** `AsymmetricX509Cert` for certificates. */
  readonly type: string;
  /** `Verify` for sign-in certificates. */
  readonly usage: string;
  /** The DER certificate (Graph's `key`). */
  readonly key: Buffer;
  readonly startDateTime: Date;
  readonly endDateTime: Date;
  /** When the credential was added to the application; drives the propagation delay. */
  readonly addedAt: Date;
}

export interface DirectoryApplication {
  /** The application object's id. */
  readonly objectId: string;
  /** The object id of the app's service principal in that tenant (the `oid` of its app-only tokens). */
  readonly servicePrincipalId: string;
  readonly keyCredentials: readonly DirectoryKeyCredential[];
}

/** What the authority needs from the Graph emulator to verify client assertions. */
export interface CertificateDirectory {
  findApplication(tenantId: string, clientId: string): DirectoryApplication | undefined;
}

export interface EntraAuthorityOptions {
  tls: { certPem: string; keyPem: string };
  /** Set later by the Graph emulator: lookup of an app's keyCredentials by (tenantId, clientId). */
  directory?: CertificateDirectory;
}

export interface IssueAccessTokenOptions {
  tenantId: string;
  audience: string;
  roles?: string[];
  oid?: string;
  name?: string;
  version?: 1 | 2;
  appId?: string;
  lifetimeSeconds?: number;
  notBefore?: Date;
  expiresAt?: Date;
  issuer?: string;
  signWith?: 'jwks' | 'foreign-key' | 'none';
  /** Extra claims (e.g. `scp`, `upn`), merged last. */
  claims?: Record<string, unknown>;
}

export interface ManagedIdentity {
  tenantId: string;
  principalId: string;
  clientId: string;
  roles?: string[];
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

interface ClientRegistration {
  secrets: Set<string>;
  roles: string[];
  principalId: string;
}

interface ResourceRegistration {
  version: 1 | 2;
  /** v2 tokens carry the resource app's client id as `aud`. */
  appId?: string;
}

/** The first-party resources' tokens are v1 (accessTokenAcceptedVersion null), as in Azure. */
const DEFAULT_TOKEN_VERSION = 1;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const CLOCK_SKEW_SECONDS = 300;
const TOKEN_LIFETIME_SECONDS = 3599;
/** Metadata and keys are public and read by browsers (MSAL in a single-page app): Entra allows any origin. */
const ANY_ORIGIN = { 'access-control-allow-origin': '*' } as const;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class AadstsError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    description: string,
  ) {
    super(description);
  }
}

/**
 * What the authority has to remember across a restart (the sandbox keeps it under .sandbox/): its
 * signing keys, so tokens issued before still verify, and its registrations. Holds private keys and
 * client secrets in clear: for a local emulator's state file only.
 */
export interface EntraAuthoritySnapshot {
  readonly signingKeys: readonly { readonly privateKeyPem: string }[];
  readonly clients: readonly {
    readonly tenantId: string;
    readonly clientId: string;
    readonly secrets: readonly string[];
    readonly roles: readonly string[];
    readonly principalId: string;
  }[];
  readonly resources: readonly { readonly resource: string; readonly version: 1 | 2; readonly appId?: string }[];
  readonly managedIdentities: readonly { readonly header: string; readonly identity: ManagedIdentity }[];
}

function newSigningKey(): SigningKey {
  return signingKeyFrom(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
}

function signingKeyFrom(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  // Entra's kid is the key's x5t; a hash of the public key serves the same purpose here.
  const kid = createHash('sha1')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, kty: 'RSA', use: 'sig', alg: 'RS256' };
  return { kid, privateKey, jwk };
}

export class EntraAuthority {
  readonly server: EmulatorServer;
  /** Set by the Graph emulator (or a test) so that client assertions are checked against keyCredentials. */
  directory: CertificateDirectory | undefined;
  /** People signing in to single-page apps (authorization code with PKCE): authorizeEndpoint.ts. */
  readonly signIn: UserSignIn = new UserSignIn(this);
  readonly #signingKeys: SigningKey[] = [newSigningKey()];
  /** jose imports a key set's JWKs on first use: one set per key list, not one per verification. */
  #keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  readonly #verifiedTokens = new Map<string, Record<string, unknown>>();
  readonly #foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  readonly #clients = new Map<string, ClientRegistration>();
  readonly #resources = new Map<string, ResourceRegistration>();
  readonly #managedIdentities = new Map<string, ManagedIdentity>();
  #propagationDelaySeconds = 0;
  /**
   * Every token this authority issued through its endpoints, for tests to inspect (claims only; for a
   * certificate sign-in, the SHA-1 thumbprint of the certificate it was made with, as Entra's sign-in log shows it).
   */
  readonly issued: Array<{
    via: 'client_secret' | 'client_assertion' | 'managed_identity';
    claims: Record<string, unknown>;
    certificateThumbprint?: string;
  }> = [];

  constructor(options: EntraAuthorityOptions) {
    this.server = new EmulatorServer('entra-authority', options.tls);
    this.directory = options.directory;
    this.server
      .route('GET', '/:tenant/v2.0/.well-known/openid-configuration', 'openid-configuration', (r) => this.#metadata(r, 2))
      .route('GET', '/:tenant/.well-known/openid-configuration', 'openid-configuration-v1', (r) => this.#metadata(r, 1))
      .route('GET', '/:tenant/discovery/v2.0/keys', 'keys', () => this.#keysResponse())
      .route('GET', '/:tenant/discovery/keys', 'keys-v1', () => this.#keysResponse())
      .route('POST', '/:tenant/oauth2/v2.0/token', 'token', (r) => this.#token(r))
      .route('GET', '/msi/token', 'managed-identity', (r) => this.#managedIdentityToken(r))
      // Not Entra's: the sign-in log of certificate sign-ins, for a test whose authority runs in another process (the sandbox).
      .route('GET', '/_emulator/certificate-sign-ins', 'certificate-sign-ins', () => ({ status: 200, body: this.certificateSignIns() }));
    this.signIn.mount(this.server);
  }

  /** Each sign-in with a certificate: which app, for which resource, with which certificate, when. No token, no key. */
  certificateSignIns(): Array<{ appId: string; audience: string; certificateThumbprint: string; at: string }> {
    return this.issued
      .filter((t) => t.via === 'client_assertion' && t.certificateThumbprint !== undefined)
      .map((t) => ({
        appId: String(t.claims.appid ?? t.claims.azp),
        audience: String(t.claims.aud),
        certificateThumbprint: t.certificateThumbprint!,
        at: new Date(Number(t.claims.iat) * 1000).toISOString(),
      }));
  }

  async start(port?: number): Promise<string> {
    return this.server.start(port);
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  get url(): string {
    return this.server.url;
  }

  issuerFor(tenantId: string, version: 1 | 2 = 2): string {
    return version === 2 ? `${this.url}/${tenantId}/v2.0` : `https://sts.windows.net/${tenantId}/`;
  }

  tokenEndpointFor(tenantId: string): string {
    return `${this.url}/${tenantId}/oauth2/v2.0/token`;
  }

  /** The published key set (every key since the last restart; the last one signs). */
  get jwks(): JSONWebKeySet {
    return { keys: this.#signingKeys.map((k) => k.jwk) };
  }

  /** Starts signing with a new key; the old one stays published, as Entra does during a rollover. */
  rotateSigningKey(): void {
    this.#signingKeys.push(newSigningKey());
    this.#keySet = undefined;
    this.#verifiedTokens.clear();
  }

  snapshot(): EntraAuthoritySnapshot {
    return {
      signingKeys: this.#signingKeys.map((k) => ({ privateKeyPem: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string })),
      clients: [...this.#clients].map(([key, c]) => {
        const [tenantId, clientId] = key.split('|') as [string, string];
        return { tenantId, clientId, secrets: [...c.secrets], roles: [...c.roles], principalId: c.principalId };
      }),
      resources: [...this.#resources].map(([resource, r]) => ({ resource, ...r })),
      managedIdentities: [...this.#managedIdentities].map(([header, identity]) => ({ header, identity })),
    };
  }

  /** Replaces the keys and registrations with a snapshot's (the directory stays as it is). */
  restore(snapshot: EntraAuthoritySnapshot): void {
    if (snapshot.signingKeys.length > 0) {
      this.#signingKeys.splice(
        0,
        this.#signingKeys.length,
        ...snapshot.signingKeys.map((k) => signingKeyFrom(createPrivateKey(k.privateKeyPem))),
      );
      this.#keySet = undefined;
      this.#verifiedTokens.clear();
    }
    this.#clients.clear();
    for (const c of snapshot.clients) {
      this.#clients.set(`${c.tenantId}|${c.clientId}`, { secrets: new Set(c.secrets), roles: [...c.roles], principalId: c.principalId });
    }
    this.#resources.clear();
    for (const { resource, ...shape } of snapshot.resources) this.#resources.set(resource, shape);
    this.#managedIdentities.clear();
    for (const { header, identity } of snapshot.managedIdentities) this.#managedIdentities.set(header, { ...identity });
  }

  /** How the token endpoint shapes tokens for a resource (default: v1, aud = the resource URI). */
  registerResource(resource: string, options: { version?: 1 | 2; appId?: string }): void {
    this.#resources.set(resource.replace(/\/+$/, ''), { version: options.version ?? DEFAULT_TOKEN_VERSION, appId: options.appId });
  }

  async issueAccessToken(options: IssueAccessTokenOptions): Promise<string> {
    const version = options.version ?? 2;
    const now = Math.floor(Date.now() / 1000);
    const nbf = options.notBefore ? Math.floor(options.notBefore.getTime() / 1000) : now;
    const exp = options.expiresAt
      ? Math.floor(options.expiresAt.getTime() / 1000)
      : now + (options.lifetimeSeconds ?? TOKEN_LIFETIME_SECONDS);
    const oid = options.oid ?? randomUUID();
    const appId = options.appId ?? randomUUID();
    const claims: Record<string, unknown> = {
      aud: options.audience,
      iss: options.issuer ?? this.issuerFor(options.tenantId, version),
      iat: Math.min(now, nbf),
      nbf,
      exp,
      oid,
      sub: oid,
      tid: options.tenantId,
      ver: version === 2 ? '2.0' : '1.0',
      uti: base64url.encode(randomBytes(16)),
      rh: '0.emulator.',
      ...(version === 2 ? { azp: appId, azpacr: '1' } : { appid: appId, appidacr: '1', idp: this.issuerFor(options.tenantId, 1) }),
      ...(options.roles ? { roles: options.roles } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...options.claims,
    };
    const signingKey = this.#signingKeys[this.#signingKeys.length - 1]!;
    const signWith = options.signWith ?? 'jwks';
    if (signWith === 'none') {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      return `${header}.${base64url.encode(JSON.stringify(claims))}.`;
    }
    // A foreign key under the published kid: the validator finds a key and the signature must fail.
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: signingKey.kid })
      .sign(signWith === 'foreign-key' ? this.#foreignKey : signingKey.privateKey);
  }

  async verifyAccessToken(token: string, audiences: string | string[]): Promise<Record<string, unknown> | undefined> {
    const accepted = Array.isArray(audiences) ? audiences : [audiences];
    // A token verified once for these audiences stays good until it expires (or the keys change):
    // services cache validated tokens too, and the benchmarks measure the client, not this check.
    const cacheKey = `${accepted.join(' ')}|${token}`;
    const cached = this.#verifiedTokens.get(cacheKey);
    if (cached && (cached.exp as number) * 1000 + CLOCK_SKEW_SECONDS * 1000 > Date.now()) return cached;
    const payload = await this.#verifyAccessTokenNow(token, accepted);
    if (payload) {
      if (this.#verifiedTokens.size >= 10_000) this.#verifiedTokens.clear();
      this.#verifiedTokens.set(cacheKey, payload);
    }
    return payload;
  }

  async #verifyAccessTokenNow(token: string, accepted: string[]): Promise<Record<string, unknown> | undefined> {
    try {
      this.#keySet ??= createLocalJWKSet(this.jwks);
      const { payload } = await jwtVerify(token, this.#keySet, {
        algorithms: ['RS256'],
        audience: accepted,
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      const tid = typeof payload.tid === 'string' ? payload.tid : '';
      const expectedIssuer = payload.ver === '2.0' ? this.issuerFor(tid, 2) : this.issuerFor(tid, 1);
      if (payload.iss !== expectedIssuer || typeof payload.exp !== 'number') return undefined;
      return payload;
    } catch {
      return undefined;
    }
  }

  registerClientSecret(tenantId: string, clientId: string, secret: string, options: { roles?: string[]; principalId?: string } = {}): void {
    const client = this.#client(tenantId, clientId);
    client.secrets.add(secret);
    if (options.roles) client.roles = [...options.roles];
    if (options.principalId) client.principalId = options.principalId;
  }

  /** App roles granted to a client's service principal (what `roles` carries in its app-only tokens). */
  grantAppRoles(tenantId: string, clientId: string, roles: string[]): void {
    this.#client(tenantId, clientId).roles = [...roles];
  }

  /** The object id put in `oid` for a client registered here (not for directory apps or identities). */
  servicePrincipalIdOf(tenantId: string, clientId: string): string {
    return this.#client(tenantId, clientId).principalId;
  }

  enableManagedIdentity(identity: ManagedIdentity): { endpoint: string; header: string } {
    const header = randomBytes(24).toString('hex');
    this.#managedIdentities.set(header, { ...identity, tenantId: identity.tenantId.toLowerCase() });
    return { endpoint: `${this.url}/msi/token`, header };
  }

  /**
   * Refuses, for this many seconds after it was added, a certificate that is already on the
   * application: what a sign-in sees while Entra replicates a new credential. 0 turns it off.
   */
  refuseNewCertificatesFor(seconds: number): void {
    this.#propagationDelaySeconds = seconds;
  }

  #client(tenantId: string, clientId: string): ClientRegistration {
    const key = `${tenantId.toLowerCase()}|${clientId.toLowerCase()}`;
    let client = this.#clients.get(key);
    if (!client) {
      client = { secrets: new Set(), roles: [], principalId: randomUUID() };
      this.#clients.set(key, client);
    }
    return client;
  }

  #metadata(request: EmulatorRequest, version: 1 | 2): EmulatorResponse {
    const tenant = request.params.tenant!;
    const base = `${this.url}/${tenant}`;
    if (version === 1) {
      return {
        status: 200,
        headers: ANY_ORIGIN,
        body: {
          token_endpoint: `${base}/oauth2/token`,
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          jwks_uri: `${base}/discovery/keys`,
          response_modes_supported: ['query', 'fragment', 'form_post'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
          scopes_supported: ['openid'],
          issuer: `https://sts.windows.net/${tenant}/`,
          authorization_endpoint: `${base}/oauth2/authorize`,
          http_logout_supported: true,
          frontchannel_logout_supported: true,
          end_session_endpoint: `${base}/oauth2/logout`,
          claims_supported: [
            'sub',
            'iss',
            'aud',
            'exp',
            'iat',
            'auth_time',
            'acr',
            'amr',
            'nonce',
            'email',
            'given_name',
            'family_name',
            'nickname',
          ],
          tenant_region_scope: 'EU',
          cloud_instance_name: 'microsoftonline.com',
          cloud_graph_host_name: 'graph.windows.net',
          msgraph_host: 'graph.microsoft.com',
        },
      };
    }
    return {
      status: 200,
      headers: ANY_ORIGIN,
      body: {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${base}/openid/userinfo`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        claims_supported: [
          'sub',
          'iss',
          'cloud_instance_name',
          'cloud_instance_host_name',
          'cloud_graph_host_name',
          'msgraph_host',
          'aud',
          'exp',
          'iat',
          'auth_time',
          'acr',
          'nonce',
          'preferred_username',
          'name',
          'tid',
          'ver',
          'at_hash',
          'c_hash',
          'email',
        ],
        kerberos_endpoint: `${base}/kerberos`,
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
        rbac_url: 'https://pas.windows.net',
      },
    };
  }

  #keysResponse(): EmulatorResponse {
    return { status: 200, headers: ANY_ORIGIN, body: this.jwks };
  }

  #aadstsResponse(error: AadstsError): EmulatorResponse {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    return {
      status: error.status,
      body: {
        error: error.error,
        error_description: `AADSTS${error.code}: ${error.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
        error_codes: [error.code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `${this.url}/error?code=${error.code}`,
      },
    };
  }

  async #token(request: EmulatorRequest): Promise<EmulatorResponse> {
    if (this.signIn.handles(request)) return this.signIn.token(request);
    try {
      return await this.#clientCredentials(request);
    } catch (error) {
      if (error instanceof AadstsError) return this.#aadstsResponse(error);
      throw error;
    }
  }

  async #clientCredentials(request: EmulatorRequest): Promise<EmulatorResponse> {
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

    let via: 'client_secret' | 'client_assertion';
    let certificateThumbprint: string | undefined;
    let principalId: string;
    let roles: string[];
    const registered = this.#clients.get(`${tenantId}|${clientId}`);
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!registered || registered.secrets.size === 0) throw this.#unknownApplication(clientId, tenantId);
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
      const application = this.directory?.findApplication(tenantId, clientId);
      if (!application) throw this.#unknownApplication(clientId, tenantId);
      const credential = await this.#verifyClientAssertion(assertion, tenantId, clientId, application);
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

    const shape = this.#resources.get(resource) ?? { version: DEFAULT_TOKEN_VERSION };
    const accessToken = await this.issueAccessToken({
      tenantId,
      audience: shape.version === 2 && shape.appId ? shape.appId : resource,
      version: shape.version,
      appId: clientId,
      oid: principalId,
      roles: roles.length > 0 ? roles : undefined,
    });
    this.issued.push({
      via,
      claims: JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>,
      ...(certificateThumbprint ? { certificateThumbprint } : {}),
    });
    return {
      status: 200,
      headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
      body: { token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS, ext_expires_in: TOKEN_LIFETIME_SECONDS, access_token: accessToken },
    };
  }

  #unknownApplication(clientId: string, tenantId: string): AadstsError {
    return new AadstsError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
    );
  }

  /** https://learn.microsoft.com/entra/identity-platform/certificate-credentials */
  async #verifyClientAssertion(
    assertion: string,
    tenantId: string,
    clientId: string,
    application: DirectoryApplication,
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
    if (credential.addedAt.getTime() + this.#propagationDelaySeconds * 1000 > now) throw notRegistered();
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
    const accepted = [this.tokenEndpointFor(tenantId), `${this.url}/${tenantId}/oauth2/token`];
    if (typeof payload.aud !== 'string' || !accepted.includes(payload.aud)) {
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

  async #managedIdentityToken(request: EmulatorRequest): Promise<EmulatorResponse> {
    const header = request.headers['x-identity-header'];
    const identity = typeof header === 'string' ? this.#managedIdentities.get(header) : undefined;
    if (!identity) {
      return { status: 401, body: { statusCode: 401, message: 'Unauthorized: the X-IDENTITY-HEADER is missing or wrong.' } };
    }
    const apiVersion = request.url.searchParams.get('api-version');
    if (apiVersion !== '2019-08-01') {
      return {
        status: 400,
        body: { statusCode: 400, message: `Unsupported api-version '${apiVersion ?? ''}': this endpoint speaks 2019-08-01.` },
      };
    }
    const resource = request.url.searchParams.get('resource');
    if (!resource) return { status: 400, body: { statusCode: 400, message: "The 'resource' parameter is required." } };
    for (const [param, value] of [
      ['client_id', identity.clientId],
      ['principal_id', identity.principalId],
      ['object_id', identity.principalId],
    ] as const) {
      const asked = request.url.searchParams.get(param);
      if (asked !== null && asked.toLowerCase() !== value.toLowerCase()) {
        return { status: 400, body: { statusCode: 400, message: `No managed identity with ${param} '${asked}' is assigned to this app.` } };
      }
    }
    const normalized = resource.replace(/\/\.default$/, '').replace(/\/+$/, '');
    const shape = this.#resources.get(normalized) ?? { version: DEFAULT_TOKEN_VERSION };
    const expiresOn = Math.floor(Date.now() / 1000) + 24 * 3600;
    const accessToken = await this.issueAccessToken({
      tenantId: identity.tenantId,
      audience: shape.version === 2 && shape.appId ? shape.appId : normalized,
      version: shape.version,
      appId: identity.clientId,
      oid: identity.principalId,
      roles: identity.roles && identity.roles.length > 0 ? identity.roles : undefined,
      expiresAt: new Date(expiresOn * 1000),
    });
    this.issued.push({
      via: 'managed_identity',
      claims: JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>,
    });
    return {
      status: 200,
      body: { access_token: accessToken, expires_on: String(expiresOn), resource, token_type: 'Bearer', client_id: identity.clientId },
    };
  }
}
