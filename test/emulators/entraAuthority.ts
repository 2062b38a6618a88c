import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { base64url, createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { AadstsError, aadstsResponse } from './aadstsError.js';
import { UserSignIn } from './authorizeEndpoint.js';
import { authenticateClient, parseClientCredentialsRequest, type ClientRegistration } from './clientCredentialsGrant.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse } from './emulatorServer.js';
import { parseManagedIdentityRequest } from './managedIdentityEndpoint.js';
import { ANY_ORIGIN, newSigningKey, openIdMetadata, signingKeyFrom, type SigningKey } from './openIdDiscovery.js';

/**
 * A loopback Microsoft Entra ID authority (the AZURE_AUTHORITY_HOST of the tests and the sandbox).
 *
 * Follows:
 * - OpenID Connect metadata and signing keys: openIdDiscovery.ts.
 * - Client credentials with a secret or a certificate assertion: clientCredentialsGrant.ts.
 * - Error bodies: aadstsError.ts.
 * - App Service managed identity, protocol 2019-08-01: managedIdentityEndpoint.ts.
 * - People signing in to single-page apps (authorization code with PKCE): authorizeEndpoint.ts.
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

interface ResourceRegistration {
  version: 1 | 2;
  /** v2 tokens carry the resource app's client id as `aud`. */
  appId?: string;
}

/** The first-party resources' tokens are v1 (accessTokenAcceptedVersion null), as in Azure. */
const DEFAULT_TOKEN_VERSION = 1;
const CLOCK_SKEW_SECONDS = 300;
const TOKEN_LIFETIME_SECONDS = 3599;

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
      .route('GET', '/:tenant/v2.0/.well-known/openid-configuration', 'openid-configuration', (r) =>
        openIdMetadata(this.url, r.params.tenant!, 2),
      )
      .route('GET', '/:tenant/.well-known/openid-configuration', 'openid-configuration-v1', (r) =>
        openIdMetadata(this.url, r.params.tenant!, 1),
      )
      .route('GET', '/:tenant/discovery/v2.0/keys', 'keys', () => ({ status: 200, headers: ANY_ORIGIN, body: this.jwks }))
      .route('GET', '/:tenant/discovery/keys', 'keys-v1', () => ({ status: 200, headers: ANY_ORIGIN, body: this.jwks }))
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

  async #token(request: EmulatorRequest): Promise<EmulatorResponse> {
    if (this.signIn.handles(request)) return this.signIn.token(request);
    try {
      return await this.#clientCredentials(request);
    } catch (error) {
      if (error instanceof AadstsError) return aadstsResponse(error, this.url);
      throw error;
    }
  }

  async #clientCredentials(request: EmulatorRequest): Promise<EmulatorResponse> {
    const parsed = parseClientCredentialsRequest(request);
    const { tenantId, clientId, resource } = parsed;
    const client = await authenticateClient(parsed, {
      registered: this.#clients.get(`${tenantId}|${clientId}`),
      directory: this.directory,
      acceptedAudiences: [this.tokenEndpointFor(tenantId), `${this.url}/${tenantId}/oauth2/token`],
      propagationDelaySeconds: this.#propagationDelaySeconds,
    });
    const shape = this.#resources.get(resource) ?? { version: DEFAULT_TOKEN_VERSION };
    const accessToken = await this.issueAccessToken({
      tenantId,
      audience: shape.version === 2 && shape.appId ? shape.appId : resource,
      version: shape.version,
      appId: clientId,
      oid: client.principalId,
      roles: client.roles.length > 0 ? client.roles : undefined,
    });
    this.issued.push({
      via: client.via,
      claims: JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>,
      ...(client.certificateThumbprint ? { certificateThumbprint: client.certificateThumbprint } : {}),
    });
    return {
      status: 200,
      headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
      body: { token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS, ext_expires_in: TOKEN_LIFETIME_SECONDS, access_token: accessToken },
    };
  }

  async #managedIdentityToken(request: EmulatorRequest): Promise<EmulatorResponse> {
    const parsed = parseManagedIdentityRequest(request, this.#managedIdentities);
    if ('refusal' in parsed) return parsed.refusal;
    const { identity, resource, normalized } = parsed;

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
