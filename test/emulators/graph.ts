import { randomUUID } from 'node:crypto';
import { CredentialLedger } from './credentialLedger.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, type Fault, type InjectedFault } from './emulatorServer.js';
import type { CertificateDirectory, DirectoryApplication, EntraAuthority } from './entraAuthority.js';
import { GRAPH_WRITE_LIMITS, GraphWriteThrottle, type GraphWriteLimits, type WriteVerdict } from './graphThrottle.js';
import { applicationsListBody } from './graphListing.js';
import { AppManagementPolicies, POLICY_READ } from './graphPolicies.js';
import { addPasswordCredential } from './graphPasswords.js';
import { badRequest, denied, GraphFailure, graphErrorBody, notFound } from './graphFailure.js';
import { authenticateCaller, canRead, canReadServicePrincipals, canWrite, mayRollKeys, type GraphCaller } from './graphCaller.js';
import {
  checkCredentialLimits,
  parseKeyCredential,
  parseKeyCredentialPatch,
  presentKeyCredential,
  seededKeyCredential,
} from './graphKeyCredential.js';
import { verifyProof } from './graphProof.js';
import { ownersBody, presentApplication, selectedFields, servicePrincipalBody } from './graphApplicationView.js';
import { applicationsOf, snapshotOf, type GraphEmulatorSnapshot } from './graphSnapshot.js';
import type { AppObjectCollections } from './graphAppObject.js';

/**
 * A loopback Microsoft Graph v1.0, the part of it that manages an application's certificates.
 *
 * Follows:
 * - application resource and GET/PATCH: https://learn.microsoft.com/graph/api/resources/application,
 *   https://learn.microsoft.com/graph/api/application-get, https://learn.microsoft.com/graph/api/application-update
 *   (addressed by id or `applications(appId='{appId}')`; PATCH answers 204 and replaces the whole
 *   keyCredentials collection).
 * - keyCredential and the limits a write meets: graphKeyCredential.ts; how an application reads:
 *   graphApplicationView.ts.
 * - addKey / removeKey: https://learn.microsoft.com/graph/api/application-addkey,
 *   https://learn.microsoft.com/graph/api/application-removekey; an app needs no permission to roll
 *   its own keys; the proof of possession: graphProof.ts.
 * - callers and permissions: graphCaller.ts; error bodies: graphFailure.ts; throttling of writes: graphThrottle.ts.
 */

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

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
          if (!c.roles.includes(POLICY_READ) || !canRead(app, c)) throw denied();
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
    return snapshotOf(this.allApplications());
  }

  /** Replaces every application with a snapshot's. */
  restore(snapshot: GraphEmulatorSnapshot): void {
    this.#applications.clear();
    for (const a of applicationsOf(snapshot)) this.#applications.set(a.id, a);
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
    const credential = seededKeyCredential(der, options);
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
      body: graphErrorBody(
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

  async #handle(
    request: EmulatorRequest,
    action: (caller: GraphCaller) => EmulatorResponse | Promise<EmulatorResponse>,
  ): Promise<EmulatorResponse> {
    const clientRequestId = typeof request.headers['client-request-id'] === 'string' ? request.headers['client-request-id'] : randomUUID();
    let admitted: WriteVerdict | undefined;
    try {
      const caller = await authenticateCaller(request, this.authority, [GRAPH_RESOURCE, GRAPH_APP_ID, this.url]);
      // The application a write names, if it exists: its sign-in audience decides a throttling limit.
      const named = this.#named(request, caller);
      const target = named && { id: named.id, signInAudience: named.signInAudience ?? 'AzureADMyOrg' };
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
        body: graphErrorBody(error.code, error.message, error.details, clientRequestId),
      };
    }
  }

  /** The application a request's path names (by id or appId) in the caller's tenant, if it exists. */
  #named(request: EmulatorRequest, caller: GraphCaller): GraphApplication | undefined {
    const { id, appId } = request.params;
    if (id === undefined && appId === undefined) return undefined;
    const key = (id ?? appId ?? '').toLowerCase();
    return [...this.#applications.values()].find((a) => a.tenantId === caller.tenantId && (id !== undefined ? a.id : a.appId) === key);
  }

  #resolve(request: EmulatorRequest, caller: GraphCaller): GraphApplication {
    const app = this.#named(request, caller);
    if (!app) throw notFound((request.params.id ?? request.params.appId ?? '').toLowerCase());
    return app;
  }

  #getApplication(request: EmulatorRequest, caller: GraphCaller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    if (!canRead(app, caller)) throw denied();
    const select = selectedFields(request.url);
    const body = presentApplication(app, select, select?.includes('keyCredentials') ?? false);
    return {
      status: 200,
      body: { '@odata.context': `${this.url}/v1.0/$metadata#applications${select ? `(${select.join(',')})` : ''}/$entity`, ...body },
    };
  }

  #getServicePrincipal(request: EmulatorRequest, caller: GraphCaller): EmulatorResponse {
    const appId = (request.params.appId ?? '').toLowerCase();
    if (!canReadServicePrincipals(caller)) throw denied();
    const app = [...this.#applications.values()].find((a) => a.tenantId === caller.tenantId && a.appId === appId);
    if (!app) throw notFound(appId);
    return { status: 200, body: servicePrincipalBody(this.url, app) };
  }

  #listApplications(request: EmulatorRequest, caller: GraphCaller): EmulatorResponse {
    const readable = [...this.#applications.values()].filter((a) => a.tenantId === caller.tenantId && canRead(a, caller));
    return { status: 200, body: applicationsListBody(this.url, readable, request.url) };
  }

  #listOwners(request: EmulatorRequest, caller: GraphCaller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    if (!canRead(app, caller)) throw denied();
    return { status: 200, body: ownersBody(this.url, app) };
  }

  #updateApplication(request: EmulatorRequest, caller: GraphCaller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    const body = request.json;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Empty Payload. JSON content expected.');
    const patch = body as Record<string, unknown>;
    const unsupported = Object.keys(patch).filter((k) => !['keyCredentials', 'displayName'].includes(k));
    if (unsupported.length > 0)
      throw badRequest(
        `Property '${unsupported[0]}' is not supported by this emulator or does not exist on type 'microsoft.graph.application'.`,
      );
    if (!canWrite(app, caller)) throw denied();
    let next: GraphKeyCredential[] | undefined;
    if ('keyCredentials' in patch) {
      next = parseKeyCredentialPatch(app, patch.keyCredentials);
      checkCredentialLimits(app, next, this);
    }
    if (typeof patch.displayName === 'string') app.displayName = patch.displayName;
    if (next) {
      this.ledger.replaced(app, app.keyCredentials, next);
      app.keyCredentials = next;
    }
    return { status: 204 };
  }

  async #addKey(request: EmulatorRequest, caller: GraphCaller): Promise<EmulatorResponse> {
    const app = this.#resolve(request, caller);
    const body = request.json as Record<string, unknown> | undefined;
    if (!body || typeof body.keyCredential !== 'object' || body.keyCredential === null)
      throw badRequest("The request body must contain 'keyCredential'.");
    if (!mayRollKeys(app, caller)) throw denied();
    await verifyProof(app, body.proof);
    if (body.passwordCredential !== undefined && body.passwordCredential !== null)
      throw badRequest('passwordCredential must be null when adding a certificate.');
    const input = body.keyCredential as Record<string, unknown>;
    if (input.keyId !== undefined && input.keyId !== null) throw badRequest('keyId must be null: addKey assigns it.');
    const credential = parseKeyCredential(input, 0, undefined);
    if (app.keyCredentials.some((c) => c.key.equals(credential.key)))
      throw badRequest('A key credential with the same key already exists on the application.');
    checkCredentialLimits(app, [...app.keyCredentials, credential], this);
    app.keyCredentials.push(credential);
    this.ledger.added(app, credential);
    return {
      status: 200,
      body: { '@odata.context': `${this.url}/v1.0/$metadata#microsoft.graph.keyCredential`, ...presentKeyCredential(credential, false) },
    };
  }

  /** Application.ReadWrite.OwnedBy on an owned app, or ReadWrite.All: as application-addpassword lists. */
  #addPassword(request: EmulatorRequest, caller: GraphCaller): EmulatorResponse {
    const app = this.#resolve(request, caller);
    if (!canWrite(app, caller)) throw denied();
    const added = addPasswordCredential(this.url, request.json, new Date(), badRequest);
    (app.passwordCredentials ??= []).push(added.credential);
    return { status: 200, body: added.body };
  }

  async #removeKey(request: EmulatorRequest, caller: GraphCaller): Promise<EmulatorResponse> {
    const app = this.#resolve(request, caller);
    const body = request.json as Record<string, unknown> | undefined;
    if (!body || typeof body.keyId !== 'string') throw badRequest("The request body must contain 'keyId'.");
    if (!mayRollKeys(app, caller)) throw denied();
    await verifyProof(app, body.proof);
    const keyId = body.keyId.toLowerCase();
    if (!app.keyCredentials.some((c) => c.keyId === keyId)) throw notFound(keyId);
    const remaining = app.keyCredentials.filter((c) => c.keyId !== keyId);
    this.ledger.replaced(app, app.keyCredentials, remaining);
    app.keyCredentials = remaining;
    return { status: 204 };
  }
}
