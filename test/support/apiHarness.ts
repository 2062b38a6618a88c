import { randomUUID } from 'node:crypto';
import functions, { type HttpHandler, type HttpResponseInit } from '@azure/functions';
import type { TableClient } from '@azure/data-tables';
import { inject } from 'vitest';
import { createAppsHandlers } from '../../src/functions/apps.js';
import { AppService } from '../../src/lib/apps/appService.js';
import type { AppManagementPolicyReader } from '../../src/lib/domain/appManagementPolicy.js';
import { AppStore, type AppStoreHooks } from '../../src/lib/tables/appStore.js';
import { BearerAuthenticator, type Role } from '../../src/lib/http/bearerAuthenticator.js';
import { EntraAuthority } from '../emulators/entraAuthority.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { AppRegistrationDirectoryDouble } from './appRegistrationDirectoryDouble.js';
import { createTestTableClient } from './tables.js';

// The classes come from the default export: @azure/functions has no such named exports under Node's ESM loader.
const { HttpRequest, InvocationContext } = functions;

export const API_AUDIENCE = 'api://entra-cert-rotator-test';
export const API_CLIENT_ID = randomUUID();
export const DEFAULT_VAULT = 'https://default-vault.vault.azure.net/';
export const DEFAULT_VAULT_RESOURCE_ID =
  '/subscriptions/8f2d3c4b-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourceGroups/rg-rotator/providers/Microsoft.KeyVault/vaults/default-vault';

export interface CallOptions {
  readonly method: string;
  readonly path: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
  /** An object is sent as JSON with Content-Type application/json unless headers say otherwise. */
  readonly body?: unknown;
  readonly params?: Record<string, string>;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly json: unknown;
  readonly text: string;
}

/**
 * The /api/apps handlers over a fresh table in the run's Azurite, the Entra authority emulator for
 * tokens, and a test double of the directory port: the same factory the registered handlers use.
 */
export class ApiHarness {
  readonly tenantId: string;
  readonly directory = new AppRegistrationDirectoryDouble();
  readonly table: TableClient;
  readonly store: AppStore;
  readonly service: AppService;
  readonly handlers: ReturnType<typeof createAppsHandlers>;
  readonly authority: EntraAuthority;
  /** What the handlers logged through their invocation context (kept here, not printed: the run stays quiet). */
  readonly logs: { level: string; text: string }[] = [];

  private constructor(authority: EntraAuthority, tenantId: string, hooks: AppStoreHooks, policies?: AppManagementPolicyReader) {
    this.authority = authority;
    this.tenantId = tenantId;
    this.table = createTestTableClient();
    this.store = new AppStore(this.table, { hooks });
    this.service = new AppService({
      store: this.store,
      directory: this.directory,
      defaultKeyVaultUrl: DEFAULT_VAULT,
      defaultKeyVaultResourceId: DEFAULT_VAULT_RESOURCE_ID,
      policies,
    });
    const authenticator = new BearerAuthenticator({
      authorityHost: authority.url,
      tenantId: this.tenantId,
      audiences: [API_AUDIENCE, API_CLIENT_ID],
    });
    this.handlers = createAppsHandlers({ apps: this.service, authenticator });
  }

  /** `policies` builds the app management policy reader (over the harness's authority and tenant); absent: not checked. */
  static async start(
    options: {
      hooks?: AppStoreHooks;
      policies?: (authority: EntraAuthority, tenantId: string) => Promise<AppManagementPolicyReader>;
    } = {},
  ): Promise<ApiHarness> {
    const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
    const authority = new EntraAuthority({ tls: { certPem: tls.certPem, keyPem: tls.keyPem } });
    await authority.start();
    const tenantId = randomUUID();
    const policies = await options.policies?.(authority, tenantId);
    const harness = new ApiHarness(authority, tenantId, options.hooks ?? {}, policies);
    // Created up front so that table snapshots work before the first write.
    await harness.table.createTable();
    return harness;
  }

  close(): Promise<void> {
    return this.authority.close();
  }

  token(role: Role | undefined, extra: { oid?: string; name?: string } = {}): Promise<string> {
    return this.authority.issueAccessToken({
      tenantId: this.tenantId,
      audience: API_AUDIENCE,
      roles: role ? [role] : [],
      oid: extra.oid,
      name: extra.name ?? `${role ?? 'No role'} User`,
    });
  }

  handlerFor(path: string): { handler: HttpHandler; params: Record<string, string> } {
    const segments = path.split('?')[0]!.split('/').filter(Boolean);
    if (segments.length === 2) return { handler: this.handlers.appsCollection, params: {} };
    if (segments.length === 3) return { handler: this.handlers.appItem, params: { appId: decodeURIComponent(segments[2]!) } };
    if (segments.length === 4 && segments[3] === 'history')
      return { handler: this.handlers.appHistory, params: { appId: decodeURIComponent(segments[2]!) } };
    throw new Error(`no route for ${path}`);
  }

  async call(options: CallOptions): Promise<CallResult> {
    const { handler, params } = this.handlerFor(options.path);
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let body: { string: string } | undefined;
    if (options.body !== undefined) {
      body = { string: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) };
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    const request = new HttpRequest({
      method: options.method,
      url: `https://rotator.example${options.path}`,
      headers,
      body,
      params: options.params ?? params,
    });
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: 'apps',
      logHandler: (level, ...args) =>
        void this.logs.push({ level, text: args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ') }),
    });
    const response: HttpResponseInit = await handler(request, context);
    const responseHeaders = new Headers(response.headers);
    let text = '';
    if (response.jsonBody !== undefined) {
      text = JSON.stringify(response.jsonBody);
      if (!responseHeaders.has('content-type')) responseHeaders.set('content-type', 'application/json');
    } else if (typeof response.body === 'string') text = response.body;
    return {
      status: response.status ?? 200,
      headers: responseHeaders,
      text,
      json: text === '' ? undefined : (JSON.parse(text) as unknown),
    };
  }
}
