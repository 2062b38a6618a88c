import { randomBytes, randomUUID } from 'node:crypto';
import functions, { type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { ClientSecretCredential } from '@azure/identity';
import { inject } from 'vitest';
import type { TableClient } from '@azure/data-tables';
import { createCertificatesHandlers } from '../../src/functions/certificates.js';
import type { StoredApp } from '../../src/lib/domain/storedApp.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import { CertificateService, type CertificateServiceDependencies } from '../../src/lib/apps/certificateService.js';
import { createCertificateVaultClient, createEventPublisher, createNotificationMailer } from '../../src/lib/serviceClients.js';
import { BearerAuthenticator, type Role } from '../../src/lib/http/bearerAuthenticator.js';
import type { RenewalService } from '../../src/lib/renewal/renewalService.js';
import { EventGridEmulator } from '../emulators/eventGrid.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { startRenewalWorld, type RenewalWorld } from './renewalWorld.js';
import { createTestTableClient } from './tables.js';

// The classes come from the default export: @azure/functions has no such named exports under Node's ESM loader.
const { HttpRequest, InvocationContext } = functions;

export const CERT_API_AUDIENCE = 'api://entra-cert-rotator-certificates-test';

export interface RawResult {
  readonly status: number;
  readonly headers: Headers;
  /** The body as sent: bytes for downloads, JSON text otherwise. */
  readonly body: Buffer;
  readonly text: string;
  readonly json: unknown;
}

/**
 * The certificate routes over the renewal world (Azurite, every emulator, the production adapters):
 * the handlers from the same factory the registered ones use, a CertificateService wired as the
 * composition root wires it, and bearer tokens from the Entra authority emulator. Configs, state
 * and history live in a table of its own (`table`), so a test can read every stored byte; removal
 * events go to an Event Grid emulator of its own, so tests read exactly what the API emitted.
 */
export class CertificateApi {
  readonly table: TableClient = createTestTableClient('certapi');
  readonly store = new AppStore(this.table);
  readonly renewals: RenewalService;
  readonly certificates: CertificateService;
  readonly handlers: ReturnType<typeof createCertificatesHandlers>;
  /** Logged by the handlers (problemResponse logs unknown and transient errors). */
  readonly logs: string[] = [];

  private constructor(
    readonly world: RenewalWorld,
    readonly eventGrid: EventGridEmulator,
    overrides: Partial<CertificateServiceDependencies>,
  ) {
    const clientId = randomUUID();
    const secret = randomBytes(16).toString('hex');
    world.authority.registerClientSecret(world.tenantId, clientId, secret, { principalId: randomUUID() });
    const credential = new ClientSecretCredential(world.tenantId, clientId, secret, {
      authorityHost: world.authority.url,
      disableInstanceDiscovery: true,
    });
    const fastRetry = { maxRetries: 2, retryDelayInMs: 5, maxRetryDelayInMs: 20 };
    const vault = createCertificateVaultClient(world.keyVault.vaultUrl, credential, { retryOptions: fastRetry });
    const mailer = createNotificationMailer(
      { endpoint: world.email.server.url, connectionString: world.email.connectionString, sender: 'DoNotReply@rotator.example' },
      () => credential,
      { retryOptions: fastRetry, pollIntervalInMs: 5 },
    );
    const events = createEventPublisher({ topicEndpoint: eventGrid.topicEndpoint, topicKey: 'certificates-topic-key' }, () => credential, {
      retryOptions: fastRetry,
    });
    this.renewals = world.service({ store: this.store });
    this.certificates = new CertificateService({
      store: this.store,
      renewals: this.renewals,
      credentials: world.appRegistrations,
      vaultFor: () => vault,
      mailer,
      events,
      leaseSeconds: 600,
      ...overrides,
    });
    const authenticator = new BearerAuthenticator({
      authorityHost: world.authority.url,
      tenantId: world.tenantId,
      audiences: [CERT_API_AUDIENCE],
    });
    this.handlers = createCertificatesHandlers({ certificates: this.certificates, authenticator });
  }

  static async start(overrides: Partial<CertificateServiceDependencies> = {}): Promise<CertificateApi> {
    const world = await startRenewalWorld();
    const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
    const eventGrid = new EventGridEmulator({ tls, keys: ['certificates-topic-key'] });
    await eventGrid.start();
    return new CertificateApi(world, eventGrid, overrides);
  }

  /** An app registration owned by the rotator (the world's Graph) and its config in this API's store. */
  async createManagedApp(options: Parameters<RenewalWorld['createManagedApp']>[0] = {}) {
    const { registration, app } = await this.world.createManagedApp(options);
    const stored: StoredApp = await this.store.createApp({
      config: app.config,
      history: { action: 'config.created', trigger: 'test', outcome: 'succeeded' },
    });
    return { registration, app: stored };
  }

  async close(): Promise<void> {
    await this.eventGrid.close();
    await this.world.close();
  }

  token(role: Role | undefined, extra: { oid?: string; name?: string } = {}): Promise<string> {
    return this.world.authority.issueAccessToken({
      tenantId: this.world.tenantId,
      audience: CERT_API_AUDIENCE,
      roles: role ? [role] : [],
      oid: extra.oid,
      name: extra.name ?? `${role ?? 'No role'} User`,
    });
  }

  handlerFor(path: string): { handler: HttpHandler; params: Record<string, string> } {
    const segments = path.split('?')[0]!.split('/').filter(Boolean);
    if (segments[0] !== 'api' || segments[1] !== 'apps' || segments[3] !== 'certificates') throw new Error(`no route for ${path}`);
    const appId = decodeURIComponent(segments[2]!);
    if (segments.length === 4) return { handler: this.handlers.appCertificates, params: { appId } };
    if (segments.length === 5)
      return { handler: this.handlers.appCertificate, params: { appId, certificateId: decodeURIComponent(segments[4]!) } };
    if (segments.length === 6 && segments[5] === 'export')
      return { handler: this.handlers.appCertificateExport, params: { appId, certificateId: decodeURIComponent(segments[4]!) } };
    throw new Error(`no route for ${path}`);
  }

  async call(options: {
    method: string;
    path: string;
    token?: string;
    headers?: Record<string, string>;
    body?: unknown;
  }): Promise<RawResult> {
    const { handler, params } = this.handlerFor(options.path);
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const url = new URL(`https://rotator.example${options.path}`);
    const request = new HttpRequest({
      method: options.method,
      url: url.toString(),
      headers,
      query: Object.fromEntries(url.searchParams),
      params,
      body: options.body === undefined ? undefined : { string: JSON.stringify(options.body) },
    });
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: 'certificates',
      logHandler: (level, ...args) => void this.logs.push(`${level}: ${args.map(String).join(' ')}`),
    });
    const response: HttpResponseInit = await handler(request, context);
    const responseHeaders = new Headers(response.headers);
    let body: Buffer;
    if (response.jsonBody !== undefined) {
      body = Buffer.from(JSON.stringify(response.jsonBody));
      if (!responseHeaders.has('content-type')) responseHeaders.set('content-type', 'application/json');
    } else if (typeof response.body === 'string') body = Buffer.from(response.body);
    else if (Buffer.isBuffer(response.body)) body = response.body;
    else if (response.body === undefined || response.body === null) body = Buffer.alloc(0);
    else throw new Error(`unexpected response body type ${typeof response.body}`);
    const isJson = /json/.test(responseHeaders.get('content-type') ?? '');
    const text = isJson ? body.toString('utf8') : '';
    return {
      status: response.status ?? 200,
      headers: responseHeaders,
      body,
      text,
      json: isJson && text !== '' ? (JSON.parse(text) as unknown) : undefined,
    };
  }
}
