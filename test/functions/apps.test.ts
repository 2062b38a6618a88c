import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, DEFAULT_VAULT, DEFAULT_VAULT_RESOURCE_ID, type CallOptions, type CallResult } from '../support/apiHarness.js';
import { snapshotTable } from '../support/tables.js';

let api: ApiHarness;
let adminToken: string;
const adminOid = randomUUID();
beforeAll(async () => {
  api = await ApiHarness.start();
  adminToken = await api.token('CertRotator.Admin', { oid: adminOid, name: 'Ada Admin' });
});
afterAll(() => api?.close());

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: { path: string; message: string }[];
}

const call = (options: Omit<CallOptions, 'token'> & { token?: string }) => api.call({ token: adminToken, ...options });

function newRegistration(displayName = `Payments API ${randomUUID().slice(0, 6)}`, modes?: ('owner' | 'self')[]): string {
  const appId = randomUUID();
  api.directory.add(appId, displayName, modes);
  return appId;
}

async function createApp(body: unknown = {}, displayName?: string): Promise<{ appId: string; response: CallResult }> {
  const appId = newRegistration(displayName);
  const response = await call({ method: 'PUT', path: `/api/apps/${appId}`, body });
  expect(response.status, response.text).toBe(201);
  return { appId, response };
}

/** Sends a request that must be refused with `status`, and proves it changed no stored byte. */
/** Every API response, an error's too: no sniffing, nothing loaded or framed, app data never cached. */
function expectSecurityHeaders(response: CallResult): void {
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(response.headers.get('cache-control')).toBe('no-store');
}

async function expectRejected(options: Parameters<typeof call>[0], status: number): Promise<Problem> {
  const before = await snapshotTable(api.table);
  const response = await call(options);
  expect(response.status, response.text).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expectSecurityHeaders(response);
  const problem = response.json as Problem;
  expect(problem).toMatchObject({ status, instance: options.path.split('?')[0] });
  expect(problem.type).toMatch(/^urn:entra-cert-rotator:problem:/);
  expect(problem.title).toEqual(expect.any(String));
  expect(problem.detail).toEqual(expect.any(String));
  expect(await snapshotTable(api.table)).toBe(before);
  return problem;
}

const pfxByEmail = { enabled: true, recipients: ['ops@contoso.com'], includeCertificate: true, attachmentFormat: 'pfx' };

/** One case per docs/configuration.md rule: the body, and the field path the 400 must name. */
const invalidConfigs: { rule: string; body: unknown; path: string }[] = [
  {
    rule: 'a recipient over 254 characters',
    body: {
      notifications: {
        enabled: true,
        recipients: [`${'a'.repeat(64)}@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(10)}.com`],
      },
    },
    path: 'notifications.recipients.0',
  },
  {
    rule: 'a recipient of 60,000 characters',
    body: { notifications: { enabled: true, recipients: [`${'a'.repeat(60_000)}@contoso.example`] } },
    path: 'notifications.recipients.0',
  },
  {
    rule: 'a vaultUrl over 200 characters',
    body: { keyVault: { vaultUrl: `https://localhost/${'a'.repeat(300)}` } },
    path: 'keyVault.vaultUrl',
  },
  { rule: 'lifetimeDays below 30', body: { lifetimeDays: 29 }, path: 'lifetimeDays' },
  { rule: 'lifetimeDays above 1095', body: { lifetimeDays: 1096 }, path: 'lifetimeDays' },
  { rule: 'lifetimeDays not whole', body: { lifetimeDays: 90.5 }, path: 'lifetimeDays' },
  { rule: 'lifetimeDays as a string', body: { lifetimeDays: '365' }, path: 'lifetimeDays' },
  { rule: 'renewBeforeDays below 1', body: { renewBeforeDays: 0 }, path: 'renewBeforeDays' },
  { rule: 'renewBeforeDays above 365', body: { lifetimeDays: 1000, renewBeforeDays: 366 }, path: 'renewBeforeDays' },
  { rule: 'renewBeforeDays equal to lifetimeDays', body: { lifetimeDays: 60, renewBeforeDays: 60 }, path: 'renewBeforeDays' },
  { rule: 'renewBeforeDays above lifetimeDays', body: { lifetimeDays: 30, renewBeforeDays: 31 }, path: 'renewBeforeDays' },
  { rule: 'notifications on without recipients', body: { notifications: { enabled: true } }, path: 'notifications.recipients' },
  {
    rule: 'more than 50 recipients',
    body: { notifications: { enabled: true, recipients: Array.from({ length: 51 }, (_, i) => `r${i}@contoso.com`) } },
    path: 'notifications.recipients',
  },
  {
    rule: 'a recipient that is not an email',
    body: { notifications: { enabled: true, recipients: ['ops@contoso.com', 'not-an-email'] } },
    path: 'notifications.recipients.1',
  },
  { rule: 'thresholdDays below 1', body: { notifications: { thresholdDays: 0 } }, path: 'notifications.thresholdDays' },
  { rule: 'thresholdDays above 90', body: { notifications: { thresholdDays: 91 } }, path: 'notifications.thresholdDays' },
  {
    rule: 'attachmentFormat other than cer/pfx',
    body: { notifications: { attachmentFormat: 'pem' } },
    path: 'notifications.attachmentFormat',
  },
  {
    rule: 'includeCertificate not a boolean',
    body: { notifications: { includeCertificate: 'yes' } },
    path: 'notifications.includeCertificate',
  },
  { rule: 'keySize other than 2048/3072/4096', body: { keySize: 1024 }, path: 'keySize' },
  { rule: 'graphMode other than owner/self', body: { graphMode: 'delegated' }, path: 'graphMode' },
  { rule: 'bootstrap not a boolean', body: { bootstrap: 'true' }, path: 'bootstrap' },
  { rule: 'enabled not a boolean', body: { enabled: 1 }, path: 'enabled' },
  { rule: 'vault URL over http', body: { keyVault: { vaultUrl: 'http://my-vault.vault.azure.net/' } }, path: 'keyVault.vaultUrl' },
  { rule: 'vault URL not a vault', body: { keyVault: { vaultUrl: 'https://example.com/' } }, path: 'keyVault.vaultUrl' },
  {
    rule: 'loopback vault URL outside an emulated setup',
    body: { keyVault: { vaultUrl: 'https://127.0.0.1:8443/' } },
    path: 'keyVault.vaultUrl',
  },
  {
    rule: 'vault URL with a path',
    body: { keyVault: { vaultUrl: 'https://my-vault.vault.azure.net/secrets/x' } },
    path: 'keyVault.vaultUrl',
  },
  {
    rule: 'certificate name with other characters',
    body: { keyVault: { certificateName: 'my_cert.pfx' } },
    path: 'keyVault.certificateName',
  },
  { rule: 'certificate name empty', body: { keyVault: { certificateName: '' } }, path: 'keyVault.certificateName' },
  {
    rule: 'certificate name over 127 characters',
    body: { keyVault: { certificateName: 'a'.repeat(128) } },
    path: 'keyVault.certificateName',
  },
  { rule: 'enabled app whose key lands nowhere', body: { keyVault: { enabled: false } }, path: 'keyVault.enabled' },
  {
    rule: 'enabled app with a cer attachment only',
    body: { keyVault: { enabled: false }, notifications: { ...pfxByEmail, attachmentFormat: 'cer' } },
    path: 'keyVault.enabled',
  },
  {
    rule: 'enabled app with a pfx attachment but notifications off',
    body: { keyVault: { enabled: false }, notifications: { ...pfxByEmail, enabled: false } },
    path: 'keyVault.enabled',
  },
  {
    rule: 'self mode without Key Vault',
    body: { graphMode: 'self', enabled: false, keyVault: { enabled: false } },
    path: 'keyVault.enabled',
  },
  { rule: 'a reader that is not an object id', body: { keyVault: { readers: ['alice@contoso.com'] } }, path: 'keyVault.readers.0' },
  {
    rule: 'more than 20 readers',
    body: { keyVault: { readers: Array.from({ length: 21 }, () => randomUUID()) } },
    path: 'keyVault.readers',
  },
  {
    rule: 'a reader listed twice',
    body: { keyVault: { readers: ['5e5e5e5e-1111-4222-8333-444455556666', '5E5E5E5E-1111-4222-8333-444455556666'] } },
    path: 'keyVault.readers.1',
  },
  { rule: 'grantAppRead not a boolean', body: { keyVault: { grantAppRead: 'yes' } }, path: 'keyVault.grantAppRead' },
  {
    rule: 'a resource id that is not a vault',
    body: { keyVault: { resourceId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st' } },
    path: 'keyVault.resourceId',
  },
  {
    rule: 'a resource id of another vault than vaultUrl',
    body: { keyVault: { resourceId: DEFAULT_VAULT_RESOURCE_ID.replace(/default-vault$/, 'other-vault') } },
    path: 'keyVault.resourceId',
  },
  { rule: 'an unknown field', body: { lifetime: 90 }, path: 'lifetime' },
  { rule: 'an unknown nested field', body: { notifications: { cc: ['x@contoso.com'] } }, path: 'notifications.cc' },
  { rule: 'displayName (read from Entra)', body: { displayName: 'Mine' }, path: 'displayName' },
  { rule: 'state (written by the rotator)', body: { state: {} }, path: 'state' },
  { rule: 'a body that is not an object', body: [1, 2], path: '' },
];

describe('validation (docs/configuration.md): every rule is a 400 naming the field, and nothing is stored', () => {
  it.each(invalidConfigs)('PUT (create) rejects $rule at "$path"', async ({ body, path }) => {
    const appId = newRegistration();
    const problem = await expectRejected({ method: 'PUT', path: `/api/apps/${appId}`, body }, 400);
    expect(problem.errors?.map((e) => e.path)).toContain(path);
    expect(problem.errors?.find((e) => e.path === path)?.message).toEqual(expect.any(String));
    // The preflight never ran for an invalid body: Entra is not asked about junk.
    expect(api.directory.calls.filter((c) => c.includes(appId))).toEqual([]);
  });

  it.each(invalidConfigs.filter((c) => !Array.isArray(c.body)))('PATCH rejects $rule at "$path"', async ({ body, path }) => {
    const { appId } = await createApp({ lifetimeDays: 400 });
    const problem = await expectRejected({ method: 'PATCH', path: `/api/apps/${appId}`, body }, 400);
    expect(problem.errors?.map((e) => e.path)).toContain(path);
  });

  it('names every bad field at once: a type error does not hide a rule that ties fields together', async () => {
    const appId = newRegistration();
    const problem = await expectRejected(
      { method: 'PUT', path: `/api/apps/${appId}`, body: { lifetimeDays: '365', renewBeforeDays: true, keyVault: { enabled: false } } },
      400,
    );
    expect(problem.errors?.map((e) => e.path).sort()).toEqual(['keyVault.enabled', 'lifetimeDays', 'renewBeforeDays']);
    // A rule whose fields are themselves wrong is not judged on them.
    const typed = await expectRejected(
      { method: 'PUT', path: `/api/apps/${appId}`, body: { lifetimeDays: 30, renewBeforeDays: '40' } },
      400,
    );
    expect(typed.errors?.map((e) => e.path)).toEqual(['renewBeforeDays']);
    const { appId: existing } = await createApp({ lifetimeDays: 400 });
    const patched = await expectRejected(
      { method: 'PATCH', path: `/api/apps/${existing}`, body: { lifetimeDays: 'long', keyVault: { enabled: false } } },
      400,
    );
    expect(patched.errors?.map((e) => e.path).sort()).toEqual(['keyVault.enabled', 'lifetimeDays']);
  });

  it('refuses a body nested past 32 levels (PUT and PATCH alike), naming where, and changes nothing', async () => {
    // 5,000 levels in about 25 KB: under the body limit, deep enough to overflow a recursive walk.
    const deep = `{"notifications":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    const { appId } = await createApp({ lifetimeDays: 400 });
    for (const method of ['PUT', 'PATCH'] as const) {
      const problem = await expectRejected({ method, path: `/api/apps/${appId}`, body: deep }, 400);
      expect(problem.errors).toEqual([{ path: `notifications${'.a'.repeat(31)}`, message: 'is nested deeper than 32 levels' }]);
    }
  });

  it.each([
    ['__proto__ at the top', '{"__proto__":{"enabled":false},"lifetimeDays":90}', '__proto__'],
    ['constructor inside notifications', '{"notifications":{"constructor":{"prototype":1}}}', 'notifications.constructor'],
    ['prototype inside keyVault', '{"keyVault":{"prototype":{}}}', 'keyVault.prototype'],
  ])('refuses %s as an unknown field (PUT and PATCH), and changes nothing', async (_name, body, path) => {
    const { appId } = await createApp({ lifetimeDays: 400 });
    for (const method of ['PUT', 'PATCH'] as const) {
      const problem = await expectRejected({ method, path: `/api/apps/${appId}`, body }, 400);
      expect(problem.errors).toContainEqual({ path, message: 'is not a known field' });
    }
    expect(({} as Record<string, unknown>).enabled).toBeUndefined();
  });

  it('rejects an appId that is not a GUID, on every route', async () => {
    for (const [method, path] of [
      ['GET', '/api/apps/not-a-guid'],
      ['PUT', '/api/apps/not-a-guid'],
      ['PATCH', '/api/apps/not-a-guid'],
      ['DELETE', '/api/apps/not-a-guid'],
      ['GET', '/api/apps/not-a-guid/history'],
    ] as const) {
      const problem = await expectRejected({ method, path, body: method === 'PUT' || method === 'PATCH' ? {} : undefined }, 400);
      expect(problem.errors?.map((e) => e.path)).toEqual(['appId']);
    }
  });

  it('lists every offending field at once', async () => {
    const problem = await expectRejected(
      {
        method: 'PUT',
        path: `/api/apps/${newRegistration()}`,
        body: { lifetimeDays: 5, keySize: 1, notifications: { attachmentFormat: 'zip' }, extra: true },
      },
      400,
    );
    expect(problem.errors?.map((e) => e.path).sort()).toEqual(['extra', 'keySize', 'lifetimeDays', 'notifications.attachmentFormat']);
  });

  it('accepts the one other home for the key: a PFX emailed to the recipients', async () => {
    const { response } = await createApp({ keyVault: { enabled: false }, notifications: pfxByEmail });
    expect(response.json).toMatchObject({ config: { keyVault: { enabled: false }, notifications: pfxByEmail } });
  });

  it('accepts a disabled app without Key Vault (nothing is renewed, so no key needs a home)', async () => {
    await createApp({ enabled: false, keyVault: { enabled: false } });
  });
});

describe('HTTP rules', () => {
  it('404 for an unknown app on GET, PATCH, DELETE and history', async () => {
    const appId = randomUUID();
    await expectRejected({ method: 'GET', path: `/api/apps/${appId}` }, 404);
    await expectRejected({ method: 'PATCH', path: `/api/apps/${appId}`, body: { lifetimeDays: 90 } }, 404);
    await expectRejected({ method: 'DELETE', path: `/api/apps/${appId}` }, 404);
    await expectRejected({ method: 'GET', path: `/api/apps/${appId}/history` }, 404);
  });

  it('405 with Allow for a method a route does not have', async () => {
    const { appId } = await createApp();
    const item = await call({ method: 'POST', path: `/api/apps/${appId}`, body: {} });
    expect(item.status).toBe(405);
    expect(item.headers.get('allow')).toBe('GET, PUT, PATCH, DELETE');
    const collection = await call({ method: 'DELETE', path: '/api/apps' });
    expect(collection.status).toBe(405);
    expect(collection.headers.get('allow')).toBe('GET');
    await expectRejected({ method: 'PUT', path: `/api/apps/${appId}/history`, body: {} }, 405);
  });

  it('413 for a body over 64 KiB, declared or not', async () => {
    const { appId } = await createApp();
    const big = JSON.stringify({ lifetimeDays: 90, padding: 'x'.repeat(64 * 1024) });
    await expectRejected({ method: 'PUT', path: `/api/apps/${appId}`, body: big }, 413);
    await expectRejected(
      {
        method: 'PATCH',
        path: `/api/apps/${appId}`,
        body: big,
        headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      },
      413,
    );
    // Exactly at the limit is read (and then refused for its content, not its size).
    const atLimit = JSON.stringify({ lifetimeDays: 90, padding: '' }).length;
    const exact = JSON.stringify({ lifetimeDays: 90, padding: 'x'.repeat(64 * 1024 - atLimit) });
    expect(exact.length).toBe(64 * 1024);
    const problem = await expectRejected({ method: 'PUT', path: `/api/apps/${appId}`, body: exact }, 400);
    expect(problem.errors?.map((e) => e.path)).toEqual(['padding']);
  });

  it('415 for a body that is not JSON, 400 for malformed JSON', async () => {
    const { appId } = await createApp();
    await expectRejected(
      { method: 'PUT', path: `/api/apps/${appId}`, body: 'lifetimeDays=90', headers: { 'content-type': 'text/plain' } },
      415,
    );
    await expectRejected(
      { method: 'PATCH', path: `/api/apps/${appId}`, body: '<x/>', headers: { 'content-type': 'application/xml' } },
      415,
    );
    await expectRejected(
      { method: 'PUT', path: `/api/apps/${appId}`, body: '{"lifetimeDays": 90', headers: { 'content-type': 'application/json' } },
      400,
    );
    await expectRejected({ method: 'PUT', path: `/api/apps/${appId}`, body: '', headers: { 'content-type': 'application/json' } }, 400);
    // merge-patch+json is accepted for PATCH.
    const ok = await call({
      method: 'PATCH',
      path: `/api/apps/${appId}`,
      body: '{"lifetimeDays": 90}',
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(ok.status).toBe(200);
  });

  it('400 for paging parameters it did not issue', async () => {
    await expectRejected({ method: 'GET', path: '/api/apps?pageSize=0' }, 400);
    await expectRejected({ method: 'GET', path: '/api/apps?pageSize=abc' }, 400);
    const problem = await expectRejected({ method: 'GET', path: '/api/apps?continuationToken=bm9wZQ' }, 400);
    expect(problem.errors?.map((e) => e.path)).toEqual(['continuationToken']);
    for (const pageSize of ['101', '2.5', '-1']) {
      const bad = await expectRejected({ method: 'GET', path: `/api/apps?pageSize=${pageSize}` }, 400);
      expect(bad.errors?.map((e) => e.path)).toEqual(['pageSize']);
    }
    const repeated = await expectRejected({ method: 'GET', path: '/api/apps?pageSize=100&pageSize=5' }, 400);
    expect(repeated.errors).toEqual([{ path: 'pageSize', message: 'is given more than once; give it once' }]);
  });

  it('400 naming each query parameter an app route does not take, before anything is written', async () => {
    const { appId } = await createApp();
    for (const [method, body] of [['GET'], ['PUT', {}], ['PATCH', { lifetimeDays: 90 }], ['DELETE']] as const) {
      const problem = await expectRejected({ method, path: `/api/apps/${appId}?dryRun=true&force=1`, body }, 400);
      expect(problem.errors?.map((e) => e.path).sort()).toEqual(['dryRun', 'force']);
    }
    expect((await call({ method: 'GET', path: `/api/apps/${appId}` })).status).toBe(200);
  });
});

describe('create, read, replace, patch, delete', () => {
  it('creates from the directory: displayName from Entra, defaults applied, name derived, bootstrap stored', async () => {
    const { appId, response } = await createApp({ bootstrap: true }, 'Payments API (prod) #1');
    expect(response.headers.get('location')).toBe(`/api/apps/${appId}`);
    expect(response.headers.get('etag')).toBe((response.json as { etag: string }).etag);
    expectSecurityHeaders(response);
    expect(response.json).toMatchObject({
      appId,
      displayName: 'Payments API (prod) #1',
      config: {
        enabled: true,
        lifetimeDays: 365,
        renewBeforeDays: 30,
        notifications: { enabled: false, recipients: [], thresholdDays: 14, includeCertificate: false, attachmentFormat: 'cer' },
        keySize: 2048,
        graphMode: 'owner',
        bootstrap: true,
        keyVault: {
          enabled: true,
          vaultUrl: DEFAULT_VAULT,
          certificateName: 'Payments-API-prod-1',
          resourceId: DEFAULT_VAULT_RESOURCE_ID,
          grantAppRead: true,
          readers: [],
        },
      },
      state: { consecutiveFailures: 0 },
      updatedBy: { oid: adminOid, name: 'Ada Admin' },
    });
    expect(api.directory.calls).toContain(`assertManageable ${appId} owner`);
    const read = await call({ method: 'GET', path: `/api/apps/${appId}`, token: await api.token('CertRotator.Reader') });
    expect(read.status).toBe(200);
    expect(read.json).toEqual(response.json);
  });

  it('preflight: an unknown app registration is a 400 on appId; an unmanageable one a 409 naming what is missing', async () => {
    const unknown = randomUUID();
    const notFound = await expectRejected({ method: 'PUT', path: `/api/apps/${unknown}`, body: {} }, 400);
    expect(notFound.errors?.map((e) => e.path)).toEqual(['appId']);
    expect(notFound.errors?.[0]?.message).toContain('no app registration');

    const notOwner = newRegistration('Not Owned', ['self']);
    const ownerProblem = await expectRejected({ method: 'PUT', path: `/api/apps/${notOwner}`, body: {} }, 409);
    expect(ownerProblem.detail).toMatch(/not an owner.*grant/);
    expect(ownerProblem.type).toBe('urn:entra-cert-rotator:problem:precondition');

    const noCertificate = newRegistration('No Cert', ['owner']);
    const selfProblem = await expectRejected({ method: 'PUT', path: `/api/apps/${noCertificate}`, body: { graphMode: 'self' } }, 409);
    expect(selfProblem.detail).toMatch(/no valid managed certificate/);
    // Switching an existing app to self mode runs the same check.
    await call({ method: 'PUT', path: `/api/apps/${noCertificate}`, body: {} });
    await expectRejected({ method: 'PATCH', path: `/api/apps/${noCertificate}`, body: { graphMode: 'self' } }, 409);
  });

  it('certificate names are unique per vault: 409 for a chosen one, a suffix for a derived one', async () => {
    const vault = { vaultUrl: 'https://names-vault.vault.azure.net/' };
    const { appId: first } = await createApp({ keyVault: { ...vault, certificateName: 'shared-name' } });
    const problem = await expectRejected(
      { method: 'PUT', path: `/api/apps/${newRegistration()}`, body: { keyVault: { ...vault, certificateName: 'Shared-Name' } } },
      409,
    );
    expect(problem.detail).toContain('Shared-Name');
    // Another vault may use it.
    await createApp({ keyVault: { vaultUrl: 'https://other-vault.vault.azure.net/', certificateName: 'shared-name' } });
    // PATCHing another app onto the taken name: 409.
    const { appId: second } = await createApp({ keyVault: vault });
    await expectRejected({ method: 'PATCH', path: `/api/apps/${second}`, body: { keyVault: { certificateName: 'shared-name' } } }, 409);

    const { response: a } = await createApp({ keyVault: vault }, 'Twin');
    const twin = newRegistration('Twin');
    const b = await call({ method: 'PUT', path: `/api/apps/${twin}`, body: { keyVault: vault } });
    expect((a.json as { config: { keyVault: { certificateName: string } } }).config.keyVault.certificateName).toBe('Twin');
    expect((b.json as { config: { keyVault: { certificateName: string } } }).config.keyVault.certificateName).toBe(`Twin-${twin}`);

    // Deleting an app frees its name.
    expect((await call({ method: 'DELETE', path: `/api/apps/${first}` })).status).toBe(204);
    await createApp({ keyVault: { ...vault, certificateName: 'shared-name' } });
  });

  it('PATCH merges (RFC 7396: null restores the default) and PUT replaces the whole config, keeping the name and state', async () => {
    const { appId } = await createApp({ lifetimeDays: 400, renewBeforeDays: 60, keySize: 4096 });
    const patched = await call({
      method: 'PATCH',
      path: `/api/apps/${appId}`,
      body: { notifications: { thresholdDays: 30 }, keySize: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      config: { lifetimeDays: 400, renewBeforeDays: 60, keySize: 2048, notifications: { thresholdDays: 30 } },
    });

    const name = (patched.json as { config: { keyVault: { certificateName: string } } }).config.keyVault.certificateName;
    const carol = { oid: randomUUID(), name: 'Carol Replacer' };
    const replaced = await call({
      method: 'PUT',
      path: `/api/apps/${appId}`,
      body: { lifetimeDays: 100 },
      token: await api.token('CertRotator.Admin', carol),
    });
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({
      config: { lifetimeDays: 100, renewBeforeDays: 30, notifications: { thresholdDays: 14 }, keyVault: { certificateName: name } },
    });
    const history = await call({ method: 'GET', path: `/api/apps/${appId}/history` });
    expect((history.json as { items: { action: string; actor: unknown }[] }).items[0]).toMatchObject({
      action: 'config.replaced',
      actor: carol,
    });
  });

  it('access settings (docs/consumers.md): readers kept lower-case, the default vault gets its resource id, another vault only the one given', async () => {
    const reader = '5E5E5E5E-1111-4222-8333-444455556666';
    const { appId, response } = await createApp({ keyVault: { grantAppRead: false, readers: [reader] } });
    expect((response.json as { config: unknown }).config).toMatchObject({
      keyVault: { vaultUrl: DEFAULT_VAULT, resourceId: DEFAULT_VAULT_RESOURCE_ID, grantAppRead: false, readers: [reader.toLowerCase()] },
    });

    // Moving to another vault: the default vault's id does not follow, so no grant lands on the wrong vault.
    const otherVault = 'https://team-vault.vault.azure.net/';
    const moved = await call({ method: 'PATCH', path: `/api/apps/${appId}`, body: { keyVault: { vaultUrl: otherVault } } });
    expect(moved.status, moved.text).toBe(200);
    const movedVault = (moved.json as { config: { keyVault: Record<string, unknown> } }).config.keyVault;
    expect(movedVault).toMatchObject({ vaultUrl: otherVault, grantAppRead: false, readers: [reader.toLowerCase()] });
    expect(movedVault).not.toHaveProperty('resourceId');

    const teamVaultId = DEFAULT_VAULT_RESOURCE_ID.replace(/default-vault$/, 'Team-Vault');
    const named = await call({ method: 'PATCH', path: `/api/apps/${appId}`, body: { keyVault: { resourceId: teamVaultId } } });
    expect(named.status, named.text).toBe(200);
    expect((named.json as { config: unknown }).config).toMatchObject({ keyVault: { vaultUrl: otherVault, resourceId: teamVaultId } });
    const history = await call({ method: 'GET', path: `/api/apps/${appId}/history` });
    expect((history.json as { items: { changes?: string[] }[] }).items[0]?.changes).toEqual(['keyVault.resourceId']);
  });

  it('412 for a stale If-Match, If-Match on a missing app and If-None-Match on an existing one', async () => {
    const { appId, response } = await createApp();
    const v1 = response.headers.get('etag')!;
    const patched = await call({ method: 'PATCH', path: `/api/apps/${appId}`, body: { lifetimeDays: 200 }, headers: { 'if-match': v1 } });
    expect(patched.status).toBe(200);
    const v2 = patched.headers.get('etag')!;
    expect(v2).not.toBe(v1);

    await expectRejected({ method: 'PATCH', path: `/api/apps/${appId}`, body: { lifetimeDays: 300 }, headers: { 'if-match': v1 } }, 412);
    await expectRejected({ method: 'PUT', path: `/api/apps/${appId}`, body: {}, headers: { 'if-match': v1 } }, 412);
    await expectRejected({ method: 'DELETE', path: `/api/apps/${appId}`, headers: { 'if-match': v1 } }, 412);
    await expectRejected({ method: 'PUT', path: `/api/apps/${appId}`, body: {}, headers: { 'if-none-match': '*' } }, 412);
    await expectRejected({ method: 'PUT', path: `/api/apps/${newRegistration()}`, body: {}, headers: { 'if-match': v2 } }, 412);
    // RFC 9110 §13.1.1: `*` matches any current version, and there is none.
    await expectRejected({ method: 'PUT', path: `/api/apps/${newRegistration()}`, body: {}, headers: { 'if-match': '*' } }, 412);

    expect((await call({ method: 'DELETE', path: `/api/apps/${appId}`, headers: { 'if-match': v2 } })).status).toBe(204);
  });

  it('DELETE stops managing the app; its history stays and says who deleted it', async () => {
    const { appId } = await createApp();
    const operatorToken = await api.token('CertRotator.Operator');
    expect((await call({ method: 'DELETE', path: `/api/apps/${appId}`, token: operatorToken })).status).toBe(403);
    const dave = { oid: randomUUID(), name: 'Dave Deleter' };
    expect((await call({ method: 'DELETE', path: `/api/apps/${appId}`, token: await api.token('CertRotator.Admin', dave) })).status).toBe(
      204,
    );
    await expectRejected({ method: 'GET', path: `/api/apps/${appId}` }, 404);
    const history = await call({ method: 'GET', path: `/api/apps/${appId}/history` });
    expect(history.status).toBe(200);
    const items = (history.json as { items: { action: string; actor: unknown }[] }).items;
    expect(items.map((i) => i.action)).toEqual(['config.deleted', 'config.created']);
    expect(items[0]!.actor).toEqual(dave);
  });
});

describe('history and listing', () => {
  it('records who did what, newest first, paged', async () => {
    const { appId } = await createApp();
    const bob = { oid: randomUUID(), name: 'Bob Builder' };
    const bobToken = await api.token('CertRotator.Admin', bob);
    await call({ method: 'PATCH', path: `/api/apps/${appId}`, body: { lifetimeDays: 200 }, token: bobToken });
    await call({ method: 'PATCH', path: `/api/apps/${appId}`, body: { renewBeforeDays: 20, notifications: { thresholdDays: 7 } } });
    // A no-op PATCH writes nothing and records nothing.
    const before = await snapshotTable(api.table);
    expect((await call({ method: 'PATCH', path: `/api/apps/${appId}`, body: { renewBeforeDays: 20 } })).status).toBe(200);
    expect(await snapshotTable(api.table)).toBe(before);

    const reader = await api.token('CertRotator.Reader');
    const first = await call({ method: 'GET', path: `/api/apps/${appId}/history?pageSize=2`, token: reader });
    const page1 = first.json as {
      items: { action: string; actor: unknown; changes: string[]; outcome: string }[];
      continuationToken: string;
      nextLink: string;
    };
    expect(page1.items).toMatchObject([
      {
        action: 'config.updated',
        actor: { oid: adminOid, name: 'Ada Admin' },
        changes: ['notifications.thresholdDays', 'renewBeforeDays'],
        outcome: 'succeeded',
      },
      { action: 'config.updated', actor: bob, changes: ['lifetimeDays'] },
    ]);
    // Relative, so a forged Host header cannot point it elsewhere.
    expect(page1.nextLink).toBe(`/api/apps/${appId}/history?pageSize=2&continuationToken=${page1.continuationToken}`);
    const second = await call({
      method: 'GET',
      path: `/api/apps/${appId}/history?pageSize=2&continuationToken=${page1.continuationToken}`,
      token: reader,
    });
    const page2 = second.json as { items: { action: string; actor: unknown }[]; continuationToken?: string };
    expect(page2.items).toMatchObject([{ action: 'config.created', actor: { oid: adminOid, name: 'Ada Admin' } }]);
    expect(page2.continuationToken).toBeUndefined();
    // A token from another app's history is refused rather than leaking rows.
    const other = await createApp();
    await expectRejected({ method: 'GET', path: `/api/apps/${other.appId}/history?continuationToken=${page1.continuationToken}` }, 400);
    // A forged token in our own wrapping is refused before it reaches Table Storage.
    const forge = (inner: object) =>
      Buffer.from(JSON.stringify({ s: 'app_', t: Buffer.from(JSON.stringify(inner)).toString('base64') })).toString('base64url');
    for (const inner of [{ nextPartitionKey: 'x'.repeat(1500) }, { nextPartitionKey: 'apps', nextRowKey: "' or 1 eq 1" }]) {
      const forged = await expectRejected({ method: 'GET', path: `/api/apps?continuationToken=${forge(inner)}` }, 400);
      expect(forged.errors?.map((e) => e.path)).toEqual(['continuationToken']);
    }
  });

  it('?expiringWithinDays=N lists only the apps whose certificate expires within N days (or has), across pages', async () => {
    const day = 86_400_000;
    const expiry = { soon: 3, expired: -2, later: 40 } as const;
    const ids: Record<string, string> = {};
    for (const [label, days] of Object.entries(expiry)) {
      const { appId } = await createApp();
      const app = (await api.store.getApp(appId))!;
      await api.store.updateApp(app, { state: { ...app.state, notAfter: new Date(Date.now() + days * day).toISOString() } });
      ids[label] = appId;
    }
    const { appId: noCertificate } = await createApp();
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const response = await call({
        method: 'GET',
        path: `/api/apps?expiringWithinDays=10&pageSize=2${token ? `&continuationToken=${token}` : ''}`,
        token: await api.token('CertRotator.Reader'),
      });
      expect(response.status).toBe(200);
      const body = response.json as { items: { appId: string }[]; continuationToken?: string };
      seen.push(...body.items.map((i) => i.appId));
      token = body.continuationToken;
    } while (token !== undefined);
    expect(seen).toEqual(expect.arrayContaining([ids.soon, ids.expired]));
    expect(seen).not.toContain(ids.later);
    expect(seen).not.toContain(noCertificate);
    for (const bad of ['-1', 'abc', '3651', '2.5']) {
      const problem = await expectRejected({ method: 'GET', path: `/api/apps?expiringWithinDays=${bad}` }, 400);
      expect(problem.errors?.map((e) => e.path)).toEqual(['expiringWithinDays']);
    }
  });

  it('lists every app exactly once across pages', async () => {
    for (let i = 0; i < 3; i += 1) await createApp();
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const response = await call({
        method: 'GET',
        path: `/api/apps?pageSize=4${token ? `&continuationToken=${token}` : ''}`,
        token: await api.token('CertRotator.Reader'),
      });
      expect(response.status).toBe(200);
      const body = response.json as { items: { appId: string; state: unknown; config: unknown }[]; continuationToken?: string };
      expect(body.items.length).toBeLessThanOrEqual(4);
      seen.push(...body.items.map((i) => i.appId));
      token = body.continuationToken;
      pages += 1;
    } while (token !== undefined);
    const stored = (await api.store.listApps({ maxPageSize: 1000 })).items.map((a) => a.config.appId);
    expect(seen.sort()).toEqual(stored.sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThan(1);
  });
});
