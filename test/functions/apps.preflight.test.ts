import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { generateCertificate } from '../../src/lib/certificates/generateCertificate.js';
import { AppManagementPolicyClient } from '../../src/lib/graph/appManagementPolicyClient.js';
import { createGraphClient } from '../../src/lib/graph/graphClient.js';
import { GraphEmulator } from '../emulators/graph.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { ApiHarness, type CallOptions, type CallResult } from '../support/apiHarness.js';
import { OpenApiContract } from '../support/openApiContract.js';
import { snapshotTable } from '../support/tables.js';

/**
 * Issue 19.5 over HTTP: PUT and PATCH /api/apps/{appId} checked against the app management policies
 * the Graph emulator serves (read by the real adapter with Policy.Read.All): a lifetime above the cap
 * is a 400 naming lifetimeDays and the policy, a trusted-CA rule a 409 precondition naming the
 * policy, neither storing a byte; otherwise the app is stored and GET shows the preflight's
 * warnings. Every response is checked against the OpenAPI document.
 */

let api: ApiHarness;
let graph: GraphEmulator;
let adminToken: string;
const contract = new OpenApiContract();
/** The reader's clock: it keeps the tenant default five minutes, so each test starts past them. */
let readerClock = Date.now();

beforeAll(async () => {
  api = await ApiHarness.start({
    policies: async (authority, tenantId) => {
      const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
      graph = new GraphEmulator({ tls, authority });
      await graph.start();
      const clientId = randomUUID();
      authority.registerClientSecret(tenantId, clientId, 'policy-secret', {
        roles: ['Application.Read.All', 'Policy.Read.All'],
        principalId: randomUUID(),
      });
      const credential = new ClientSecretCredential(tenantId, clientId, 'policy-secret', {
        authorityHost: authority.url,
        disableInstanceDiscovery: true,
      });
      const client = createGraphClient({ credential, graphBaseUrl: graph.url, retry: { delaySeconds: 0, maxRetries: 1 } });
      return new AppManagementPolicyClient({ graph: client, now: () => readerClock });
    },
  });
  adminToken = await api.token('CertRotator.Admin', { oid: randomUUID(), name: 'Ada Admin' });
});
afterAll(async () => {
  await graph?.close();
  await api?.close();
});
beforeEach(() => {
  graph.policies.clear();
  readerClock += 5 * 60_000 + 1;
});

interface Problem {
  type: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

async function call(options: Omit<CallOptions, 'token'>): Promise<CallResult> {
  const response = await api.call({ token: adminToken, ...options });
  contract.check(options.method, '/apps/{appId}', response);
  return response;
}

/** An app registration both the Graph emulator and the directory port know. */
function registration(): { appId: string; objectId: string } {
  const app = graph.createApplication({ tenantId: api.tenantId, displayName: `Preflight ${randomUUID().slice(0, 6)}` });
  api.directory.add(app.appId, app.displayName);
  return { appId: app.appId, objectId: app.id };
}

async function expectRefused(options: Omit<CallOptions, 'token'>, status: number): Promise<Problem> {
  const before = await snapshotTable(api.table);
  const response = await call(options);
  expect(response.status, response.text).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(await snapshotTable(api.table)).toBe(before);
  return response.json as Problem;
}

const tenantCap = (maxLifetime: string): void => {
  graph.policies.tenant = {
    ...graph.policies.tenant,
    isEnabled: true,
    keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime }],
  };
};

describe('PUT and PATCH /api/apps/{appId} against app management policies', () => {
  it('a lifetime above the tenant cap is a 400 on lifetimeDays naming the policy, on create and on update, nothing stored', async () => {
    tenantCap('P180D');
    const { appId } = registration();
    const created = await expectRefused({ method: 'PUT', path: `/api/apps/${appId}`, body: { lifetimeDays: 365 } }, 400);
    expect(created.type).toBe('urn:entra-cert-rotator:problem:validation');
    expect(created.errors?.map((e) => e.path)).toEqual(['lifetimeDays']);
    expect(created.errors?.[0]?.message).toContain(
      `the tenant's default app management policy "Default app management tenant policy" (00000000-0000-0000-0000-000000000000) allows certificates valid at most 180 days, and lifetimeDays is 365`,
    );

    // Within the cap: stored, and the state says the preflight ran and found nothing.
    const ok = await call({ method: 'PUT', path: `/api/apps/${appId}`, body: { lifetimeDays: 180 } });
    expect(ok.status, ok.text).toBe(201);
    const { preflight } = (ok.json as { state: { preflight?: { checkedAt: string; warnings: string[] } } }).state;
    expect(preflight?.warnings).toEqual([]);
    expect(Date.parse(preflight!.checkedAt)).not.toBeNaN();

    const patched = await expectRefused(
      {
        method: 'PATCH',
        path: `/api/apps/${appId}`,
        body: { lifetimeDays: 181 },
        headers: { 'content-type': 'application/merge-patch+json' },
      },
      400,
    );
    expect(patched.errors?.map((e) => e.path)).toEqual(['lifetimeDays']);
    expect(patched.errors?.[0]?.message).toContain('at most 180 days, and lifetimeDays is 181');
  });

  it('an app a policy set since would refuse can still be switched off (a warning then), and switching it on is refused', async () => {
    const { appId } = registration();
    expect((await call({ method: 'PUT', path: `/api/apps/${appId}`, body: { lifetimeDays: 365 } })).status).toBe(201);
    tenantCap('P90D');
    readerClock += 5 * 60_000 + 1;
    const patch = (body: unknown) =>
      call({ method: 'PATCH', path: `/api/apps/${appId}`, body, headers: { 'content-type': 'application/merge-patch+json' } });
    const off = await patch({ enabled: false });
    expect(off.status, off.text).toBe(200);
    expect((off.json as { state: { preflight?: { warnings: string[] } } }).state.preflight?.warnings).toEqual([
      expect.stringMatching(/^when enabled: the tenant's default app management policy .* allows certificates valid at most 90 days/),
    ]);
    const on = await expectRefused(
      { method: 'PATCH', path: `/api/apps/${appId}`, body: { enabled: true }, headers: { 'content-type': 'application/merge-patch+json' } },
      400,
    );
    expect(on.errors?.map((e) => e.path)).toEqual(['lifetimeDays']);
    // Both at once: on, within the cap.
    expect((await patch({ enabled: true, lifetimeDays: 90 })).status).toBe(200);
  });

  it("the app's own policy replaces the tenant's: a looser cap lets a longer lifetime through", async () => {
    tenantCap('P90D');
    const { appId, objectId } = registration();
    graph.policies.assign(objectId, {
      id: 'b4a1e8f0-0000-4000-8000-000000000001',
      displayName: 'Two-year certificates',
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P730D' }],
    });
    const response = await call({ method: 'PUT', path: `/api/apps/${appId}`, body: { lifetimeDays: 365 } });
    expect(response.status, response.text).toBe(201);
  });

  it('a trusted-CA rule is a 409 precondition naming the policy, nothing stored', async () => {
    const { appId, objectId } = registration();
    graph.policies.assign(objectId, {
      id: 'b4a1e8f0-0000-4000-8000-000000000002',
      displayName: 'Trusted CAs only',
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'trustedCertificateAuthority', certificateBasedApplicationConfigurationIds: [randomUUID()] }],
    });
    const problem = await expectRefused({ method: 'PUT', path: `/api/apps/${appId}`, body: {} }, 409);
    expect(problem.type).toBe('urn:entra-cert-rotator:problem:precondition');
    expect(problem.detail).toContain(
      `the app's app management policy "Trusted CAs only" (b4a1e8f0-0000-4000-8000-000000000002) accepts only certificates issued by the tenant's trusted certificate authorities`,
    );
  });

  it('GET shows the size-headroom warning of an app registration crowded with certificates', async () => {
    const { appId } = registration();
    for (let i = 0; i < 15; i++) {
      const old = await generateCertificate({ displayName: `Someone else's ${i}`, lifetimeDays: 30, keySize: 2048 });
      graph.seedCertificate(appId, old.der);
    }
    expect((await call({ method: 'PUT', path: `/api/apps/${appId}`, body: {} })).status).toBe(201);
    const read = await call({ method: 'GET', path: `/api/apps/${appId}` });
    expect(read.status).toBe(200);
    expect((read.json as { state: { preflight?: { warnings: string[] } } }).state.preflight?.warnings).toEqual([
      expect.stringContaining('holds 15 certificates'),
    ]);
  });
});
