import { randomUUID } from 'node:crypto';
import functions, { type HttpResponseInit } from '@azure/functions';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createInventoryHandlers } from '../../../src/functions/inventory.js';
import type { InventoryItem, TenantApplication } from '../../../src/lib/domain/inventory.js';
import { createGraphClient } from '../../../src/lib/graph/graphClient.js';
import { TenantApplicationsClient } from '../../../src/lib/graph/tenantApplicationsClient.js';
import { BearerAuthenticator } from '../../../src/lib/http/bearerAuthenticator.js';
import { inventoryCsv } from '../../../src/lib/inventory/inventoryCsv.js';
import { inventoryItemOf, inventoryMatches } from '../../../src/lib/inventory/inventoryItem.js';
import { InventoryService } from '../../../src/lib/inventory/inventoryService.js';
import { AppStore } from '../../../src/lib/tables/appStore.js';
import { EntraAuthority } from '../../emulators/entraAuthority.js';
import { GraphEmulator } from '../../emulators/graph.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';
import { OpenApiContract } from '../../support/openApiContract.js';
import { createTestTableClient } from '../../support/tables.js';
import { managedConfig } from '../../support/storedAppFixture.js';

/**
 * The tenant inventory (issue 19.6): the pure summary and filters, the CSV, and the whole route
 * over the Graph emulator's paged listing and Azurite: pages only, never a request per app.
 */

const { HttpRequest, InvocationContext } = functions;
const NOW = new Date('2026-12-01T00:00:00Z');
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

function tenantApp(overrides: Partial<TenantApplication> = {}): TenantApplication {
  return {
    appId: 'a',
    objectId: 'o',
    displayName: 'App',
    signInAudience: 'AzureADMyOrg',
    certificates: [],
    clientSecrets: [],
    owners: [],
    ...overrides,
  };
}

describe('an app registration summarised', () => {
  it('counts each kind, the expired ones, and the soonest expiry of the valid ones', () => {
    const item = inventoryItemOf(
      tenantApp({
        certificates: [{ endDateTime: at(-1) }, { endDateTime: at(40) }, { endDateTime: at(10) }],
        clientSecrets: [{ endDateTime: at(-5) }],
      }),
      true,
      NOW,
    );
    expect(item.certificates).toEqual({ count: 3, expired: 1, earliestExpiry: at(10) });
    expect(item.clientSecrets).toEqual({ count: 1, expired: 1 });
    expect(item.runsOnClientSecret).toBe(false);
    expect(inventoryItemOf(tenantApp({ clientSecrets: [{ endDateTime: at(5) }] }), false, NOW).runsOnClientSecret).toBe(true);
  });

  const secretSoon = inventoryItemOf(tenantApp({ clientSecrets: [{ endDateTime: at(5) }] }), false, NOW);
  const certLater = inventoryItemOf(tenantApp({ certificates: [{ endDateTime: at(200) }] }), true, NOW);
  const expired = inventoryItemOf(tenantApp({ certificates: [{ endDateTime: at(-1) }] }), true, NOW);
  const bare = inventoryItemOf(tenantApp(), false, NOW);
  it.each<[string, Parameters<typeof inventoryMatches>[1], InventoryItem[]]>([
    ['no filter', {}, [secretSoon, certLater, expired, bare]],
    ['credential=secret', { credential: 'secret' }, [secretSoon]],
    ['credential=certificate', { credential: 'certificate' }, [certLater, expired]],
    ['credential=none', { credential: 'none' }, [bare]],
    ['expiringWithinDays=30 (an expired one counts)', { expiringWithinDays: 30 }, [secretSoon, expired]],
    ['managed=false', { managed: false }, [secretSoon, bare]],
    ['combined', { managed: true, expiringWithinDays: 365 }, [certLater, expired]],
  ])('%s', (_name, filter, expected) => {
    expect([secretSoon, certLater, expired, bare].filter((i) => inventoryMatches(i, filter, NOW))).toEqual(expected);
  });

  it('writes RFC 4180 CSV that a spreadsheet will not run as a formula', () => {
    const csv = inventoryCsv([
      inventoryItemOf(
        tenantApp({ displayName: '=HYPERLINK("http://evil","x")', owners: [{ id: 'u', type: 'user', displayName: 'Ann "the admin"' }] }),
        false,
        NOW,
      ),
    ]);
    const [header, row] = csv.split('\r\n');
    expect(header).toMatch(/^"appId","objectId","displayName",/);
    expect(row).toContain(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(row).toContain('"Ann ""the admin"""');
    expect(csv.endsWith('\r\n')).toBe(true);
  });
});

describe('GET /api/inventory over Graph and Azurite', () => {
  const tenantId = randomUUID();
  const rotator = { clientId: randomUUID(), oid: randomUUID() };
  const API_AUDIENCE = 'api://inventory-test';
  const contract = new OpenApiContract();
  let authority: EntraAuthority;
  let graph: GraphEmulator;
  let handlers: ReturnType<typeof createInventoryHandlers>;
  let reader: string;
  const appIds: string[] = [];
  const managedIds: string[] = [];

  beforeAll(async () => {
    const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
    authority = new EntraAuthority({ tls });
    graph = new GraphEmulator({ tls, authority });
    await Promise.all([authority.start(), graph.start()]);
    authority.registerClientSecret(tenantId, rotator.clientId, 'secret', { roles: ['Application.Read.All'], principalId: rotator.oid });
    const credential = new ClientSecretCredential(tenantId, rotator.clientId, 'secret', {
      authorityHost: authority.url,
      disableInstanceDiscovery: true,
    });
    const store = new AppStore(createTestTableClient('inventory'));
    // 250 apps: every 5th on a client secret, every 10th managed, the first with 25 owners.
    for (let i = 0; i < 250; i++) {
      const owners = Array.from({ length: i === 0 ? 25 : 1 }, (_, n) => ({
        id: randomUUID(),
        type: 'user' as const,
        displayName: `Owner ${n}`,
        userPrincipalName: `owner${n}.app${i}@contoso.example`,
      }));
      const app = graph.createApplication({
        tenantId,
        displayName: `App ${String(i).padStart(3, '0')}`,
        owners,
        passwordCredentials:
          i % 5 === 0
            ? [
                {
                  keyId: randomUUID(),
                  displayName: 'legacy',
                  hint: 'abc',
                  startDateTime: new Date(),
                  endDateTime: new Date(Date.now() + (i % 2 ? 10 : 400) * DAY),
                },
              ]
            : [],
      });
      appIds.push(app.appId);
      if (i % 10 === 0) {
        managedIds.push(app.appId);
        await store.createApp({
          config: managedConfig(app.appId, app.displayName, {
            vaultUrl: 'https://inventory-vault.vault.azure.net/',
            certificateName: `c${i}`,
          }),
          history: { action: 'config.created', trigger: 'test', outcome: 'succeeded' },
        });
      }
    }
    const inventory = new InventoryService({
      store,
      tenant: new TenantApplicationsClient({
        graph: createGraphClient({ credential, graphBaseUrl: graph.url, retry: { delaySeconds: 0, maxRetries: 1 } }),
      }),
    });
    const authenticator = new BearerAuthenticator({ authorityHost: authority.url, tenantId, audiences: [API_AUDIENCE] });
    handlers = createInventoryHandlers({ inventory, authenticator });
    reader = await authority.issueAccessToken({ tenantId, audience: API_AUDIENCE, roles: ['CertRotator.Reader'], name: 'Reader' });
  }, 120_000);
  afterAll(() => Promise.all([authority?.close(), graph?.close()]));

  async function get(query: string, headers: Record<string, string> = {}) {
    const request = new HttpRequest({
      method: 'GET',
      url: `https://rotator.example/api/inventory${query}`,
      headers: { authorization: `Bearer ${reader}`, ...headers },
    });
    const response = (await handlers.inventoryCollection(
      request,
      new InvocationContext({ invocationId: randomUUID(), functionName: 'inventory', logHandler: () => {} }),
    )) as HttpResponseInit;
    const responseHeaders = new Headers(response.headers);
    const text =
      response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : typeof response.body === 'string' ? response.body : '';
    if (response.jsonBody !== undefined) responseHeaders.set('content-type', 'application/json');
    const result = { status: response.status ?? 200, headers: responseHeaders, text };
    contract.check('GET', '/inventory', result);
    return {
      ...result,
      json: responseHeaders.get('content-type')?.includes('json')
        ? (JSON.parse(text) as { items: InventoryItem[]; continuationToken?: string; errors?: { path: string }[] })
        : undefined,
    };
  }

  it('pages through the whole tenant with one Graph request per page of 100 and none per app', async () => {
    graph.server.resetCounters();
    const seen: InventoryItem[] = [];
    let token: string | undefined;
    do {
      const page = await get(token ? `?continuationToken=${encodeURIComponent(token)}` : '');
      expect(page.status).toBe(200);
      seen.push(...page.json!.items);
      token = page.json!.continuationToken;
    } while (token);
    expect(seen.map((i) => i.appId).sort()).toEqual([...appIds].sort());
    expect(graph.server.counters()).toEqual({ 'list-applications': 3 });
    const first = seen.find((i) => i.displayName === 'App 000')!;
    expect(first).toMatchObject({ managed: true, runsOnClientSecret: true, clientSecrets: { count: 1, expired: 0 } });
    expect(first.owners).toHaveLength(20);
    expect(first.owners[3]).toMatchObject({
      type: 'user',
      displayName: 'Owner 3',
      userPrincipalName: 'owner3.app0@contoso.example',
    });
    expect(
      seen
        .filter((i) => i.managed)
        .map((i) => i.appId)
        .sort(),
    ).toEqual([...managedIds].sort());
  });

  it('filters, and answers the whole tenant as CSV for Accept: text/csv', async () => {
    const secrets = await get('?credential=secret&managed=false');
    expect(secrets.status).toBe(200);
    expect(secrets.json!.items.every((i) => i.clientSecrets.count > 0 && !i.managed)).toBe(true);
    graph.server.resetCounters();
    const csv = await get('?credential=secret', { accept: 'text/csv' });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="inventory.csv"');
    const rows = csv.text.trim().split('\r\n');
    expect(rows).toHaveLength(1 + 50);
    expect(rows.find((r) => r.includes('"App 005"'))).toContain('"Owner 0 <owner0.app5@contoso.example>"');
    expect(graph.server.counters()).toEqual({ 'list-applications': 3 });
    const soon = await get('?expiringWithinDays=30');
    expect(soon.json!.items.length).toBeGreaterThan(0);
    expect(
      soon.json!.items.every(
        (i) => i.clientSecrets.earliestExpiry !== undefined && Date.parse(i.clientSecrets.earliestExpiry) < Date.now() + 31 * DAY,
      ),
    ).toBe(true);
  });

  it('answers 401 without a token and 403 without the Reader role, reading nothing from Graph', async () => {
    graph.server.resetCounters();
    expect((await get('', { authorization: '' })).status).toBe(401);
    const noRole = await authority.issueAccessToken({ tenantId, audience: API_AUDIENCE, roles: [], name: 'Nobody' });
    expect((await get('', { authorization: `Bearer ${noRole}` })).status).toBe(403);
    expect(graph.server.counters()).toEqual({});
  });

  it('refuses a continuation token that could add to the Graph query, and any token with the CSV', async () => {
    graph.server.resetCounters();
    const injected = await get(`?continuationToken=${encodeURIComponent("X%27AB%27&$filter=appId eq 'x'")}`);
    expect(injected.status).toBe(400);
    expect(injected.json!.errors!.map((e) => e.path)).toEqual(['continuationToken']);
    const csv = await get('?continuationToken=X%2527AB%2527', { accept: 'text/csv' });
    expect(csv.status).toBe(400);
    expect(csv.json!.errors!.map((e) => e.path)).toEqual(['continuationToken']);
    expect(graph.server.counters()).toEqual({});
  });

  it('names each bad filter in a 400', async () => {
    const bad = await get('?credential=password&managed=maybe&expiringWithinDays=-1&top=5');
    expect(bad.status).toBe(400);
    expect(bad.json!.errors!.map((e) => e.path).sort()).toEqual(['credential', 'expiringWithinDays', 'managed', 'top']);
  });
});

describe("the Graph emulator's application listing", () => {
  it('refuses $top above 999 and pages with an opaque $skiptoken', async () => {
    const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
    const authority = new EntraAuthority({ tls });
    const graph = new GraphEmulator({ tls, authority });
    await Promise.all([authority.start(), graph.start()]);
    try {
      const tenantId = randomUUID();
      authority.registerClientSecret(tenantId, 'reader-app', 's', { roles: ['Application.Read.All'], principalId: randomUUID() });
      for (let i = 0; i < 3; i++) graph.createApplication({ tenantId, displayName: `A${i}` });
      const credential = new ClientSecretCredential(tenantId, 'reader-app', 's', {
        authorityHost: authority.url,
        disableInstanceDiscovery: true,
      });
      const { token } = await credential.getToken('https://graph.microsoft.com/.default');
      const call = (query: string) => fetch(`${graph.url}/v1.0/applications${query}`, { headers: { authorization: `Bearer ${token}` } });
      const tooMany = await call('?$top=1000');
      expect(tooMany.status).toBe(400);
      const first = (await (await call('?$select=id,displayName&$top=2')).json()) as { value: unknown[]; '@odata.nextLink': string };
      expect(first.value).toHaveLength(2);
      // As Graph writes it for directory objects: the query as sent, then X'<hex>' percent-encoded.
      expect(first['@odata.nextLink']).toMatch(/\/v1\.0\/applications\?\$select=id,displayName&\$top=2&\$skiptoken=X%27[0-9A-F]+%27$/);
      expect(new URL(first['@odata.nextLink']).searchParams.get('$skiptoken')).toMatch(/^X'[0-9A-F]+'$/);
      expect((await call(`?$top=2&$skiptoken=${encodeURIComponent('not-a-token')}`)).status).toBe(400);
      const second = (await (await fetch(first['@odata.nextLink'], { headers: { authorization: `Bearer ${token}` } })).json()) as {
        value: unknown[];
        '@odata.nextLink'?: string;
      };
      expect(second.value).toHaveLength(1);
      expect(second['@odata.nextLink']).toBeUndefined();
    } finally {
      await Promise.all([authority.close(), graph.close()]);
    }
  });
});
