import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { CredentialLedger } from './credentialLedger.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, type Fault, type InjectedFault } from './emulatorServer.js';
import type { CertificateDirectory, DirectoryApplication, EntraAuthority } from './entraAuthority.js';
import { GRAPH_WRITE_LIMITS, GraphWriteThrottle, type GraphWriteLimits, type WriteVerdict } from './graphThrottle.js';
import { expandedOwner, MAX_EXPANDED_ITEMS, pageOf, parseListingQuery } from './graphListing.js';
import { AppManagementPolicies, POLICY_READ } from './graphPolicies.js';
import { presentCollections, type AppObjectCollections } from './graphAppObject.js';
import { addPasswordCredential } from './graphPasswords.js';

/**
 * A loopback Microsoft Graph v1.0, the part of it that manages an application's certificates.
 *
 * Follows:
 * - application resource and GET/PATCH: https://learn.microsoft.com/graph/api/resources/application,
 *   https://learn.microsoft.com/graph/api/application-get, https://learn.microsoft.com/graph/api/application-update
 *   (addressed by id or `applications(appId='{appId}')`; PATCH answers 204 and replaces the whole
 *   keyCredentials collection).
 * - keyCredential: https://learn.microsoft.com/graph/api/resources/keycredential (`key` is returned
 *   only when a single application is read with `$select=keyCredentials`, null otherwise).
 * - addKey / removeKey and the proof of possession:
 *   https://learn.microsoft.com/graph/api/application-addkey, https://learn.microsoft.com/graph/api/application-removekey,
 *   https://learn.microsoft.com/graph/application-rollkey-prooftoken (aud 00000002-0000-0000-c000-000000000000,
 *   iss = the application's object id, signed by a currently valid certificate of the app, valid for
 *   at most 10 minutes; an app needs no permission to roll its own keys; an app without a valid
 *   certificate cannot use addKey). A bad proof answers 401 Authentication_MissingOrMalformed, as Graph does.
 * - owners: https://learn.microsoft.com/graph/api/application-list-owners; permissions
 *   Application.ReadWrite.OwnedBy (owned apps only) / Application.ReadWrite.All / Application.Read.All.
 * - error bodies: https://learn.microsoft.com/graph/errors ({ error: { code, message, innerError:
 *   { date, request-id, client-request-id } } }); the app-management policy refusal
 *   (CredentialInvalidLifetimeAsPerAppPolicy with an InvalidKeyEndDate detail) and
 *   Directory_ResourceSizeExceeded as reported from the real service in microsoftgraph/microsoft-graph-docs#21469
 *   and OfficeDev/microsoft-365-agents-toolkit#10998.
 * - throttling of writes: graphThrottle.ts.
 */

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** The audience of an addKey/removeKey proof: the (legacy) Azure AD Graph's app id, as the docs require. */
export const PROOF_AUDIENCE = '00000002-0000-0000-c000-000000000000';
const PROOF_MAX_LIFETIME_SECONDS = 600;
const CLOCK_SKEW_SECONDS = 300;
const WRITE_ALL = ['Application.ReadWrite.All', 'Directory.ReadWrite.All'];
const READ_ALL = ['Application.Read.All', 'Directory.Read.All', ...WRITE_ALL];
const OWNED_BY = 'Application.ReadWrite.OwnedBy';
const KEY_CREDENTIAL_FIELDS = ['customKeyIdentifier', 'displayName', 'endDateTime', 'key', 'keyId', 'startDateTime', 'type', 'usage'];

export interface GraphKeyCredential {
  keyId: string;
  type: string;
  usage: string;
  /** The DER certificate. */
  key: Buffer;
  displayName: string | null;
  startDateTime: Date;
  endDateTime: Date;
  /** Base64 of the SHA-1 thumbprint bytes, as Graph fills it for certificates. */
  customKeyIdentifier: string;
  /** When it was added (drives the authority's propagation delay). */
  addedAt: Date;
}

export interface GraphOwner {
  /** Object id of the owner (a service principal's id for a workload, a user's id for a person). */
  id: string;
  type: 'servicePrincipal' | 'user';
  displayName?: string;
  appId?: string;
  userPrincipalName?: string;
}

/** A client secret as Graph lists it (the secret itself is only ever shown when it is made). */
export interface GraphPasswordCredential {
  keyId: string;
  displayName: string | null;
  hint: string | null;
  startDateTime: Date;
  endDateTime: Date;
}

export interface GraphApplication {
  tenantId: string;
  /** Object id. */
  id: string;
  appId: string;
  displayName: string;
  createdDateTime: Date;
  /** The app's service principal in its home tenant (the `oid` of its app-only tokens). */
  servicePrincipalId: string;
  /** AzureADMyOrg unless set; one including personal accounts has Graph's 60-writes-a-minute limit. */
  signInAudience?: string;
  owners: GraphOwner[];
  keyCredentials: GraphKeyCredential[];
  passwordCredentials?: GraphPasswordCredential[];
  /** identifierUris, appRoles, redirect URIs… (graphAppObject.ts); empty unless a test sets them. */
  collections?: AppObjectCollections;
}

export interface CredentialLifetimePolicy {
  maxLifetimeDays: number;
  policyId?: string;
}

export interface GraphEmulatorOptions {
  tls: { certPem: string; keyPem: string };
  authority: EntraAuthority;
  /** How many keyCredentials an application may hold before Directory_ResourceSizeExceeded. */
  maxKeyCredentials?: number;
  /** A tenant app-management policy capping certificate lifetime (asymmetricKeyLifetime). */
  credentialLifetimePolicy?: CredentialLifetimePolicy;
  /**
   * Write limits (graphThrottle.ts); default Graph's own numbers, which no test reaches by accident
   * (3,000 writes per 150 s of one caller), so the emulator is as strict as Graph at no cost; `{}` for none.
   */
  writeLimits?: GraphWriteLimits;
}

export interface CreateApplicationOptions {
  tenantId: string;
  appId?: string;
  id?: string;
  displayName: string;
  signInAudience?: string;
  /** Owner object ids (service principals) or full owner records. */
  owners?: Array<string | GraphOwner>;
  /** Client secrets (for the inventory): only their metadata is kept. */
  passwordCredentials?: GraphPasswordCredential[];
}

/** Every application as JSON (DER keys in base64, dates in ISO 8601): what the sandbox keeps across restarts. */
export interface GraphEmulatorSnapshot {
  readonly applications: readonly (Omit<GraphApplication, 'createdDateTime' | 'keyCredentials' | 'passwordCredentials'> & {
    readonly createdDateTime: string;
    readonly passwordCredentials?: readonly (Omit<GraphPasswordCredential, 'startDateTime' | 'endDateTime'> & {
      readonly startDateTime: string;
      readonly endDateTime: string;
    })[];
    readonly keyCredentials: readonly (Omit<GraphKeyCredential, 'key' | 'startDateTime' | 'endDateTime' | 'addedAt'> & {
      readonly key: string;
      readonly startDateTime: string;
      readonly endDateTime: string;
      readonly addedAt: string;
    })[];
  })[];
}

interface Caller {
  tenantId: string;
  oid: string;
  appId: string;
  roles: string[];
}

class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Array<{ code: string; message: string; target?: string }>,
  ) {
    super(message);
  }
}

const notFound = (id: string) =>
  new GraphFailure(
    404,
    'Request_ResourceNotFound',
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
const denied = () => new GraphFailure(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
const badRequest = (message: string) => new GraphFailure(400, 'Request_BadRequest', message);

function thumbprintId(der: Buffer): string {
  return createHash('sha1').update(der).digest('base64');
}

export class GraphEmulator implements CertificateDirectory {
  readonly server: EmulatorServer;
  readonly authority: EntraAuthority;
  maxKeyCredentials: number;
  credentialLifetimePolicy: CredentialLifetimePolicy | undefined;
  /** Graph's write limits; `configure` them per test. */
  readonly writeThrottle: GraphWriteThrottle;
  /** Every credential added and removed, in order. */
  readonly ledger = new CredentialLedger();
  /** The tenant's and each app's app management policies (graphPolicies.ts). */
  readonly policies = new AppManagementPolicies();
  readonly #applications = new Map<string, GraphApplication>();

  constructor(options: GraphEmulatorOptions) {
    this.server = new EmulatorServer('graph', options.tls);
    this.authority = options.authority;
    this.authority.directory = this;
    this.maxKeyCredentials = options.maxKeyCredentials ?? 20;
    this.credentialLifetimePolicy = options.credentialLifetimePolicy;
    this.writeThrottle = new GraphWriteThrottle(options.writeLimits ?? GRAPH_WRITE_LIMITS);
    const byAppId = "/v1.0/applications(appId=':appId')";
    this.server
      .route('GET', '/v1.0/applications', 'list-applications', (r) => this.#handle(r, (c) => this.#listApplications(r, c)))
      .route('GET', '/v1.0/applications/:id', 'get-application', (r) => this.#handle(r, (c) => this.#getApplication(r, c)))
      .route('GET', byAppId, 'get-application', (r) => this.#handle(r, (c) => this.#getApplication(r, c)))
      .route('PATCH', '/v1.0/applications/:id', 'update-application', (r) => this.#handle(r, (c) => this.#updateApplication(r, c)))
      .route('PATCH', byAppId, 'update-application', (r) => this.#handle(r, (c) => this.#updateApplication(r, c)))
      .route('POST', '/v1.0/applications/:id/addKey', 'add-key', (r) => this.#handle(r, (c) => this.#addKey(r, c)))
      .route('POST', `${byAppId}/addKey`, 'add-key', (r) => this.#handle(r, (c) => this.#addKey(r, c)))
      .route('POST', '/v1.0/applications/:id/removeKey', 'remove-key', (r) => this.#handle(r, (c) => this.#removeKey(r, c)))
      .route('POST', `${byAppId}/removeKey`, 'remove-key', (r) => this.#handle(r, (c) => this.#removeKey(r, c)))
      .route('POST', '/v1.0/applications/:id/addPassword', 'add-password', (r) => this.#handle(r, (c) => this.#addPassword(r, c)))
      .route('POST', `${byAppId}/addPassword`, 'add-password', (r) => this.#handle(r, (c) => this.#addPassword(r, c)))
      .route('GET', '/v1.0/policies/defaultAppManagementPolicy', 'get-default-app-management-policy', (r) =>
        this.#handle(r, (c) => {
          if (!c.roles.includes(POLICY_READ)) throw denied();
          return { status: 200, body: this.policies.tenantBody(this.url) };
        }),
      )
      .route('GET', '/v1.0/applications/:id/appManagementPolicies', 'list-app-management-policies', (r) =>
        this.#handle(r, (c) => {
          const app = this.#resolve(r, c);
          if (!c.roles.includes(POLICY_READ) || !this.#canRead(app, c)) throw denied();
          return { status: 200, body: this.policies.assignedBody(this.url, app.id) };
        }),
      )
      .route('GET', '/v1.0/applications/:id/owners', 'list-owners', (r) => this.#handle(r, (c) => this.#listOwners(r, c)))
      .route('GET', `${byAppId}/owners`, 'list-owners', (r) => this.#handle(r, (c) => this.#listOwners(r, c)))
      .route('GET', "/v1.0/servicePrincipals(appId=':appId')", 'get-service-principal', (r) =>
        this.#handle(r, (c) => this.#getServicePrincipal(r, c)),
      );
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

  /** Seeds an application (and its service principal) in a tenant. */
  createApplication(options: CreateApplicationOptions): GraphApplication {
    const app: GraphApplication = {
      tenantId: options.tenantId.toLowerCase(),
      id: options.id ?? randomUUID(),
      appId: (options.appId ?? randomUUID()).toLowerCase(),
      displayName: options.displayName,
      createdDateTime: new Date(),
      servicePrincipalId: randomUUID(),
      signInAudience: options.signInAudience ?? 'AzureADMyOrg',
      owners: (options.owners ?? []).map((o) => (typeof o === 'string' ? { id: o, type: 'servicePrincipal' } : o)),
      keyCredentials: [],
      passwordCredentials: options.passwordCredentials ?? [],
    };
    this.#applications.set(app.id, app);
    return app;
  }

  snapshot(): GraphEmulatorSnapshot {
    return {
      applications: this.allApplications().map((a) => ({
        ...a,
        owners: a.owners.map((o) => ({ ...o })),
        createdDateTime: a.createdDateTime.toISOString(),
        passwordCredentials: (a.passwordCredentials ?? []).map((c) => ({
          ...c,
          startDateTime: c.startDateTime.toISOString(),
          endDateTime: c.endDateTime.toISOString(),
        })),
        keyCredentials: a.keyCredentials.map((c) => ({
          ...c,
          key: c.key.toString('base64'),
          startDateTime: c.startDateTime.toISOString(),
          endDateTime: c.endDateTime.toISOString(),
          addedAt: c.addedAt.toISOString(),
        })),
      })),
    };
  }

  /** Replaces every application with a snapshot's. */
  restore(snapshot: GraphEmulatorSnapshot): void {
    this.#applications.clear();
    for (const a of snapshot.applications) {
      this.#applications.set(a.id, {
        ...a,
        owners: a.owners.map((o) => ({ ...o })),
        createdDateTime: new Date(a.createdDateTime),
        passwordCredentials: (a.passwordCredentials ?? []).map((c) => ({
          ...c,
          startDateTime: new Date(c.startDateTime),
          endDateTime: new Date(c.endDateTime),
        })),
        keyCredentials: a.keyCredentials.map((c) => ({
          ...c,
          key: Buffer.from(c.key, 'base64'),
          startDateTime: new Date(c.startDateTime),
          endDateTime: new Date(c.endDateTime),
          addedAt: new Date(c.addedAt),
        })),
      });
    }
  }

  /** Inspectable state: every application, with its keyCredentials and their keys. */
  allApplications(): readonly GraphApplication[] {
    return [...this.#applications.values()];
  }

  application(idOrAppId: string): GraphApplication | undefined {
    const key = idOrAppId.toLowerCase();
    return this.#applications.get(key) ?? [...this.#applications.values()].find((a) => a.appId === key);
  }

  addOwner(idOrAppId: string, owner: string | GraphOwner): void {
    this.#mustFind(idOrAppId).owners.push(typeof owner === 'string' ? { id: owner, type: 'servicePrincipal' } : owner);
  }

  /** Seeds a certificate directly (as an admin in the portal would), bypassing every check. */
  seedCertificate(
    idOrAppId: string,
    der: Buffer,
    options: { keyId?: string; displayName?: string; startDateTime?: Date; endDateTime?: Date; addedAt?: Date } = {},
  ): GraphKeyCredential {
    const app = this.#mustFind(idOrAppId);
    const x509 = new X509Certificate(der);
    const credential: GraphKeyCredential = {
      keyId: options.keyId ?? randomUUID(),
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
      key: Buffer.from(der),
      displayName: options.displayName ?? `CN=${x509.subject.replace(/^CN=/, '')}`,
      startDateTime: options.startDateTime ?? x509.validFromDate,
      endDateTime: options.endDateTime ?? x509.validToDate,
      customKeyIdentifier: thumbprintId(der),
      addedAt: options.addedAt ?? new Date(Date.now() - 24 * 3600 * 1000),
    };
    app.keyCredentials.push(credential);
    this.ledger.added(app, credential);
    return credential;
  }

  /** A 429 with Retry-After and Graph's throttling body on a route (`*` for all), N times. */
  throttle(routeName: string, options: { retryAfterSeconds: number; times?: number }): InjectedFault {
    return this.server.inject(routeName, {
      status: 429,
      retryAfterSeconds: options.retryAfterSeconds,
      times: options.times,
      body: this.#errorBody(
        'TooManyRequests',
        'Too many requests are being made. Please retry after the interval given in the Retry-After header.',
        undefined,
        randomUUID(),
      ),
    });
  }

  /** Any other fault (status, delay, drop), passed to the emulator server. */
  inject(routeName: string, fault: Fault): InjectedFault {
    return this.server.inject(routeName, fault);
  }

  findApplication(tenantId: string, clientId: string): DirectoryApplication | undefined {
    const app = [...this.#applications.values()].find((a) => a.tenantId === tenantId.toLowerCase() && a.appId === clientId.toLowerCase());
    return app ? { objectId: app.id, servicePrincipalId: app.servicePrincipalId, keyCredentials: app.keyCredentials } : undefined;
  }

  #mustFind(idOrAppId: string): GraphApplication {
    const app = this.application(idOrAppId);
    if (!app) throw new Error(`No application ${idOrAppId} in the Graph emulator`);
    return app;
  }

  #errorBody(code: string, message: string, details: GraphFailure['details'], clientRequestId: string) {
    return {
      error: {
        code,
        message,
        ...(details ? { details } : {}),
        innerError: {
          date: new Date().toISOString().replace(/\.\d+Z$/, ''),
          'request-id': randomUUID(),
          'client-request-id': clientRequestId,
        },
      },
    };
  }

  async #handle(
    request: EmulatorRequest,
    action: (caller: Caller) => EmulatorResponse | Promise<EmulatorResponse>,
  ): Promise<EmulatorResponse> {
    const clientRequestId = typeof request.headers['client-request-id'] === 'string' ? request.headers['client-request-id'] : randomUUID();
    let admitted: WriteVerdict | undefined;
    try {
      const caller = await this.#authenticate(request);
      const target = this.#target(request, caller);
      admitted = this.writeThrottle.admit({ method: request.method, callerAppId: caller.appId, tenantId: caller.tenantId, target });
      if (admitted.throttled) throw new GraphFailure(429, 'TooManyRequests', 'Please retry again later.');
      const response = await action(caller);
      const headers = { 'client-request-id': clientRequestId, 'request-id': randomUUID(), ...admitted.headers, ...response.headers };
      return { ...response, headers };
    } catch (error) {
      if (!(error instanceof GraphFailure)) throw error;
      return {
        status: error.status,
        headers: { 'client-request-id': clientRequestId, 'request-id': randomUUID(), ...admitted?.headers },
        body: this.#errorBody(error.code, error.message, error.details, clientRequestId),
      };
    }
  }

  async #authenticate(request: EmulatorRequest): Promise<Caller> {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !/^Bearer \S+$/i.test(header)) {
      throw new GraphFailure(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    }
    const claims = await this.authority.verifyAccessToken(header.slice(7), [GRAPH_RESOURCE, GRAPH_APP_ID, this.url]);
    if (!claims)
      throw new GraphFailure(
        401,
        'InvalidAuthenticationToken',
        'Access token validation failure. Invalid audience, issuer, signature or lifetime.',
      );
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    return {
      tenantId: str(claims.tid).toLowerCase(),
      oid: str(claims.oid).toLowerCase(),
      appId: (str(claims.appid) || str(claims.azp)).toLowerCase(),
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    };
  }

  #resolve(request: EmulatorRequest, caller: Caller): GraphApplication {
    const { id, appId } = request.params;
    const key = (id ?? appId ?? '').toLowerCase();
    const app = [...this.#applications.values()].find(
      (a) => a.tenantId === caller.tenantId && (id !== undefined ? a.id === key : a.appId === key),
    );
    if (!app) throw notFound(key);
    return app;
  }

  /** The application a write names, if it exists (its sign-in audience decides a throttling limit). */
  #target(request: EmulatorRequest, caller: Caller): { id: string; signInAudience: string } | undefined {
    const { id, appId } = request.params;
    if (id === undefined && appId === undefined) return undefined;
    const key = (id ?? appId ?? '').toLowerCase();
    const app = [...this.#applications.values()].find((a) => a.tenantId === caller.tenantId && (id !== undefined ? a.id : a.appId) === key);
    return app ? { id: app.id, signInAudience: app.signInAudience ?? 'AzureADMyOrg' } : undefined;
  }

  #isOwner(app: GraphApplication, caller: Caller): boolean {
    return app.owners.some((o) => o.id.toLowerCase() === caller.oid);
  }

  #canRead(app: GraphApplication, caller: Caller): boolean {
    return caller.roles.some((r) => READ_ALL.includes(r)) || (caller.roles.includes(OWNED_BY) && this.#isOwner(app, caller));
  }

  #canWrite(app: GraphApplication, caller: Caller): boolean {
    return caller.roles.some((r) => WRITE_ALL.includes(r)) || (caller.roles.includes(OWNED_BY) && this.#isOwner(app, caller));
  }

  #selected(request: EmulatorRequest): string[] | undefined {
    const select = request.url.searchParams.get('$select');
    return select === null
      ? undefined
      : select
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  }

  #present(app: GraphApplication, select: string[] | undefined, withKeys: boolean): Record<string, unknown> {
    const full: Record<string, unknown> = {
      id: app.id,
      deletedDateTime: null,
      appId: app.appId,
      createdDateTime: app.createdDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
      displayName: app.displayName,
      signInAudience: app.signInAudience ?? 'AzureADMyOrg',
      publisherDomain: 'contoso.onmicrosoft.com',
      ...presentCollections(app.collections),
      passwordCredentials: (app.passwordCredentials ?? []).map((c) => ({
        customKeyIdentifier: null,
        displayName: c.displayName,
        endDateTime: c.endDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
        hint: c.hint,
        keyId: c.keyId,
        secretText: null,
        startDateTime: c.startDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
      })),
      keyCredentials: app.keyCredentials.map((c) => ({
        customKeyIdentifier: c.customKeyIdentifier,
        displayName: c.displayName,
        endDateTime: c.endDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
        key: withKeys ? c.key.toString('base64') : null,
        keyId: c.keyId,
        startDateTime: c.startDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
        type: c.type,
        usage: c.usage,
      })),
    };
    if (!select) return full;
    const unknown = select.filter((s) => !(s in full));
    if (unknown.length > 0) throw badRequest(`Could not find a property named '${unknown[0]}' on type 'microsoft.graph.application'.`);
    return Object.fromEntries(select.map((s) => [s, full[s]]));
  }

  #getApplication(request: EmulatorRequest, caller: Caller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    if (!this.#canRead(app, caller)) throw denied();
    const select = this.#selected(request);
    const body = this.#present(app, select, select?.includes('keyCredentials') ?? false);
    return {
      status: 200,
      body: { '@odata.context': `${this.url}/v1.0/$metadata#applications${select ? `(${select.join(',')})` : ''}/$entity`, ...body },
    };
  }

  /**
   * GET /servicePrincipals(appId='…'): Application.Read.All, or Application.ReadWrite.OwnedBy, which
   * "allows an app to call … GET /servicePrincipals to list all … service principals in the tenant"
   * (serviceprincipal-get). Only the fields the rotator reads.
   */
  #getServicePrincipal(request: EmulatorRequest, caller: Caller): EmulatorResponse {
    const appId = (request.params.appId ?? '').toLowerCase();
    if (!caller.roles.some((r) => READ_ALL.includes(r) || r === OWNED_BY)) throw denied();
    const app = [...this.#applications.values()].find((a) => a.tenantId === caller.tenantId && a.appId === appId);
    if (!app) throw notFound(appId);
    return {
      status: 200,
      body: {
        '@odata.context': `${this.url}/v1.0/$metadata#servicePrincipals/$entity`,
        id: app.servicePrincipalId,
        appId: app.appId,
        displayName: app.displayName,
        servicePrincipalType: 'Application',
        accountEnabled: true,
      },
    };
  }

  #listApplications(request: EmulatorRequest, caller: Caller): EmulatorResponse {
    const query = parseListingQuery(request.url.searchParams);
    if ('error' in query) throw badRequest(query.error);
    let apps = [...this.#applications.values()].filter((a) => a.tenantId === caller.tenantId && this.#canRead(a, caller));
    if (query.filterAppId !== undefined) apps = apps.filter((a) => a.appId === query.filterAppId);
    const select = this.#selected(request);
    const page = pageOf(apps, query, request.url);
    // A collection read never returns `key`, whatever $select says.
    const value = page.value.map((a) => ({
      ...this.#present(a, select, false),
      ...(query.expandOwners
        ? { owners: a.owners.slice(0, MAX_EXPANDED_ITEMS).map((o) => expandedOwner(o, query.expandOwners!.select)) }
        : {}),
    }));
    return {
      status: 200,
      body: {
        '@odata.context': `${this.url}/v1.0/$metadata#applications`,
        value,
        ...(page.nextLink ? { '@odata.nextLink': page.nextLink } : {}),
      },
    };
  }

  #listOwners(request: EmulatorRequest, caller: Caller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    if (!this.#canRead(app, caller)) throw denied();
    return {
      status: 200,
      body: {
        '@odata.context': `${this.url}/v1.0/$metadata#directoryObjects`,
        value: app.owners.map((o) => ({
          '@odata.type': `#microsoft.graph.${o.type}`,
          id: o.id,
          displayName: o.displayName ?? null,
          ...(o.type === 'servicePrincipal' ? { appId: o.appId ?? null } : {}),
        })),
      },
    };
  }

  /** Validates one keyCredential as Graph does for a write; `existing` is the credential it keeps, if any. */
  #parseKeyCredential(input: unknown, index: number, existing: GraphKeyCredential | undefined): GraphKeyCredential {
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw badRequest(`Invalid value for keyCredentials[${index}].`);
    const c = input as Record<string, unknown>;
    const unknown = Object.keys(c).filter((k) => !KEY_CREDENTIAL_FIELDS.includes(k) && !k.startsWith('@odata.'));
    if (unknown.length > 0) throw badRequest(`Property '${unknown[0]}' does not exist on type 'microsoft.graph.keyCredential'.`);
    // Graph never returns `key` from an ordinary read, and a write that omits it is refused: the
    // caller must resend every credential's key, which is why an adapter has to read with $select.
    if (typeof c.key !== 'string' || c.key === '')
      throw badRequest("Invalid value specified for property 'key' of resource 'KeyCredential'.");
    if (c.type !== 'AsymmetricX509Cert') throw badRequest("Invalid value specified for property 'type' of resource 'KeyCredential'.");
    if (c.usage !== 'Verify') throw badRequest("Invalid value specified for property 'usage' of resource 'KeyCredential'.");
    let der = Buffer.from(c.key, 'base64');
    // Some tools upload base64 of a PEM file; Graph accepts that too.
    const asText = der.toString('latin1');
    if (asText.includes('-----BEGIN CERTIFICATE-----')) der = Buffer.from(asText.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch {
      throw badRequest('Key credential key is not a valid X.509 certificate.');
    }
    const date = (value: unknown, fallback: Date, name: string) => {
      if (value === undefined || value === null) return fallback;
      const parsed = typeof value === 'string' ? new Date(value) : new Date(NaN);
      if (Number.isNaN(parsed.getTime())) throw badRequest(`Invalid value specified for property '${name}' of resource 'KeyCredential'.`);
      return parsed;
    };
    const startDateTime = date(c.startDateTime, x509.validFromDate, 'startDateTime');
    const endDateTime = date(c.endDateTime, x509.validToDate, 'endDateTime');
    if (startDateTime.getTime() < x509.validFromDate.getTime())
      throw badRequest('Key credential start date is invalid: it is before the certificate becomes valid.');
    if (endDateTime.getTime() > x509.validToDate.getTime())
      throw badRequest('Key credential end date is invalid: it is after the certificate expires.');
    if (endDateTime.getTime() <= startDateTime.getTime())
      throw badRequest('Key credential end date is invalid: it is not after the start date.');
    let keyId = existing?.keyId ?? randomUUID();
    if (c.keyId !== undefined && c.keyId !== null) {
      if (typeof c.keyId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(c.keyId)) {
        throw badRequest("Invalid value specified for property 'keyId' of resource 'KeyCredential'.");
      }
      keyId = c.keyId.toLowerCase();
    }
    if (c.displayName !== undefined && c.displayName !== null && typeof c.displayName !== 'string') {
      throw badRequest("Invalid value specified for property 'displayName' of resource 'KeyCredential'.");
    }
    return {
      keyId,
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
      key: der,
      displayName: typeof c.displayName === 'string' ? c.displayName : `CN=${x509.subject.replace(/^CN=/, '')}`,
      startDateTime,
      endDateTime,
      customKeyIdentifier: thumbprintId(der),
      addedAt: existing && existing.key.equals(der) ? existing.addedAt : new Date(),
    };
  }

  /** The tenant policy and the object size limit, checked on the collection a write would leave. */
  #checkLimits(app: GraphApplication, next: GraphKeyCredential[]): void {
    const fresh = next.filter((c) => !app.keyCredentials.some((e) => e.keyId === c.keyId && e.key.equals(c.key))).map((c) => c.key);
    const untrusted = this.policies.trustedCertificateRefusal(app.id, app.createdDateTime, fresh);
    if (untrusted) throw new GraphFailure(400, untrusted.code, untrusted.message);
    const assigned = this.policies.maxLifetimeDays(app.id, app.createdDateTime);
    const policy =
      assigned === undefined
        ? this.credentialLifetimePolicy
        : {
            maxLifetimeDays: Math.min(assigned, this.credentialLifetimePolicy?.maxLifetimeDays ?? assigned),
            policyId: this.policies.assignedTo(app.id)[0]?.id ?? this.policies.tenant.id,
          };
    if (policy) {
      const policyId = policy.policyId ?? '00000000-0000-0000-0000-000000000000';
      // Credentials already on the app are grandfathered; only added ones are evaluated.
      const added = next.filter((c) => !app.keyCredentials.some((e) => e.keyId === c.keyId && e.key.equals(c.key)));
      const tooLong = added.find((c) => c.endDateTime.getTime() - c.startDateTime.getTime() > policy.maxLifetimeDays * 24 * 3600 * 1000);
      if (tooLong) {
        const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${policyId}'.`;
        throw new GraphFailure(400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, [
          { code: 'InvalidKeyEndDate', message, target: 'EndDate' },
        ]);
      }
    }
    if (next.length > this.maxKeyCredentials) {
      throw new GraphFailure(
        400,
        'Directory_ResourceSizeExceeded',
        'The size of the object has exceeded its limit. Please reduce the number of values and retry your request.',
      );
    }
  }

  #updateApplication(request: EmulatorRequest, caller: Caller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    const body = request.json;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Empty Payload. JSON content expected.');
    const patch = body as Record<string, unknown>;
    const unsupported = Object.keys(patch).filter((k) => !['keyCredentials', 'displayName'].includes(k));
    if (unsupported.length > 0)
      throw badRequest(
        `Property '${unsupported[0]}' is not supported by this emulator or does not exist on type 'microsoft.graph.application'.`,
      );
    if (!this.#canWrite(app, caller)) throw denied();
    let next: GraphKeyCredential[] | undefined;
    if ('keyCredentials' in patch) {
      if (!Array.isArray(patch.keyCredentials))
        throw badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.");
      next = patch.keyCredentials.map((input, i) => {
        const keyId =
          typeof (input as { keyId?: unknown })?.keyId === 'string' ? (input as { keyId: string }).keyId.toLowerCase() : undefined;
        return this.#parseKeyCredential(input, i, keyId ? app.keyCredentials.find((e) => e.keyId === keyId) : undefined);
      });
      const ids = new Set(next.map((c) => c.keyId));
      if (ids.size !== next.length) throw badRequest('Duplicate keyId values in keyCredentials.');
      this.#checkLimits(app, next);
    }
    if (typeof patch.displayName === 'string') app.displayName = patch.displayName;
    if (next) {
      this.ledger.replaced(app, app.keyCredentials, next);
      app.keyCredentials = next;
    }
    return { status: 204 };
  }

  /** Checks the proof-of-possession JWT of addKey / removeKey against the app's valid certificates. */
  async #verifyProof(app: GraphApplication, proof: unknown): Promise<void> {
    const malformed = new GraphFailure(401, 'Authentication_MissingOrMalformed', 'Access Token missing or malformed.');
    if (typeof proof !== 'string' || proof === '') throw malformed;
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      throw malformed;
    }
    const now = Date.now();
    const valid = app.keyCredentials.filter(
      (c) => c.type === 'AsymmetricX509Cert' && c.startDateTime.getTime() <= now && c.endDateTime.getTime() > now,
    );
    if (valid.length === 0) {
      throw badRequest('The application has no valid certificate to prove possession of; use Update application (PATCH) instead.');
    }
    // The signing certificate is named by x5t (base64url SHA-1) or by kid (its hex thumbprint), as .NET's X509SigningCredentials writes it.
    const byHeader = valid.filter((c) => {
      const sha1 = createHash('sha1').update(c.key).digest();
      return (
        header.x5t === sha1.toString('base64url') ||
        (typeof header.kid === 'string' && header.kid.toUpperCase() === sha1.toString('hex').toUpperCase())
      );
    });
    if (byHeader.length === 0) throw malformed;
    let payload: Record<string, unknown> | undefined;
    for (const credential of byHeader) {
      try {
        ({ payload } = await jwtVerify(proof, new X509Certificate(credential.key).publicKey, {
          algorithms: ['RS256'],
          audience: PROOF_AUDIENCE,
          issuer: app.id,
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ['nbf', 'exp'],
        }));
        break;
      } catch {
        payload = undefined;
      }
    }
    if (!payload) throw malformed;
    if ((payload.exp as number) - (payload.nbf as number) > PROOF_MAX_LIFETIME_SECONDS) throw malformed;
  }

  #mayRollKeys(app: GraphApplication, caller: Caller): boolean {
    // "Applications don't need any specific permission to roll their own keys."
    return caller.appId === app.appId || this.#canWrite(app, caller);
  }

  async #addKey(request: EmulatorRequest, caller: Caller): Promise<EmulatorResponse> {
    const app = this.#resolve(request, caller);
    const body = request.json as Record<string, unknown> | undefined;
    if (!body || typeof body.keyCredential !== 'object' || body.keyCredential === null)
      throw badRequest("The request body must contain 'keyCredential'.");
    if (!this.#mayRollKeys(app, caller)) throw denied();
    await this.#verifyProof(app, body.proof);
    if (body.passwordCredential !== undefined && body.passwordCredential !== null)
      throw badRequest('passwordCredential must be null when adding a certificate.');
    const input = body.keyCredential as Record<string, unknown>;
    if (input.keyId !== undefined && input.keyId !== null) throw badRequest('keyId must be null: addKey assigns it.');
    const credential = this.#parseKeyCredential(input, 0, undefined);
    if (app.keyCredentials.some((c) => c.key.equals(credential.key)))
      throw badRequest('A key credential with the same key already exists on the application.');
    this.#checkLimits(app, [...app.keyCredentials, credential]);
    app.keyCredentials.push(credential);
    this.ledger.added(app, credential);
    return {
      status: 200,
      body: {
        '@odata.context': `${this.url}/v1.0/$metadata#microsoft.graph.keyCredential`,
        customKeyIdentifier: credential.customKeyIdentifier,
        displayName: credential.displayName,
        endDateTime: credential.endDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
        key: null,
        keyId: credential.keyId,
        startDateTime: credential.startDateTime.toISOString().replace(/\.\d+Z$/, 'Z'),
        type: credential.type,
        usage: credential.usage,
      },
    };
  }

  /** Application.ReadWrite.OwnedBy on an owned app, or ReadWrite.All: as application-addpassword lists. */
  #addPassword(request: EmulatorRequest, caller: Caller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    if (!this.#canWrite(app, caller)) throw denied();
    const added = addPasswordCredential(this.url, request.json, new Date(), badRequest);
    (app.passwordCredentials ??= []).push(added.credential);
    return { status: 200, body: added.body };
  }

  async #removeKey(request: EmulatorRequest, caller: Caller): Promise<EmulatorResponse> {
    const app = this.#resolve(request, caller);
    const body = request.json as Record<string, unknown> | undefined;
    if (!body || typeof body.keyId !== 'string') throw badRequest("The request body must contain 'keyId'.");
    if (!this.#mayRollKeys(app, caller)) throw denied();
    await this.#verifyProof(app, body.proof);
    const keyId = body.keyId.toLowerCase();
    if (!app.keyCredentials.some((c) => c.keyId === keyId)) throw notFound(keyId);
    const remaining = app.keyCredentials.filter((c) => c.keyId !== keyId);
    this.ledger.replaced(app, app.keyCredentials, remaining);
    app.keyCredentials = remaining;
    return { status: 204 };
  }
}
