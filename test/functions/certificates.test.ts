import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificate } from '../../src/lib/certificates/generateCertificate.js';
import type { Role } from '../../src/lib/http/bearerAuthenticator.js';
import { CertificateApi, type RawResult } from '../support/certificateApi.js';
import { OpenApiContract } from '../support/openApiContract.js';
import { peekAll } from '../support/renewalWorld.js';
import { snapshotTable } from '../support/tables.js';

/**
 * The certificate routes through their handlers, against Azurite and the Graph, Key Vault, email and
 * Event Grid emulators with the production adapters. Every response is checked against the OpenAPI
 * document (status, media type, schema, headers).
 */

let api: CertificateApi;
let dir: string;
const contract = new OpenApiContract();
const people = {
  reader: { oid: randomUUID(), name: 'Rita Reader' },
  operator: { oid: randomUUID(), name: 'Otto Operator' },
  admin: { oid: randomUUID(), name: 'Ada Admin' },
};
const tokens: Record<'reader' | 'operator' | 'admin' | 'noRole', string> = { reader: '', operator: '', admin: '', noRole: '' };

beforeAll(async () => {
  api = await CertificateApi.start();
  dir = mkdtempSync(join(tmpdir(), 'ecr-certificates-'));
  const roles: Record<keyof typeof people, Role> = {
    reader: 'CertRotator.Reader',
    operator: 'CertRotator.Operator',
    admin: 'CertRotator.Admin',
  };
  for (const who of Object.keys(people) as (keyof typeof people)[]) tokens[who] = await api.token(roles[who], people[who]);
  tokens.noRole = await api.token(undefined);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await api?.close();
});

/** The OpenAPI path template of a request path. */
function templateOf(path: string): string {
  const segments = path.split('?')[0]!.split('/').filter(Boolean).slice(1);
  return `/${segments.map((s, i) => (i === 1 ? '{appId}' : i === 3 ? '{certificateId}' : s)).join('/')}`;
}

async function call(method: string, path: string, who: keyof typeof tokens | undefined, body?: unknown): Promise<RawResult> {
  const result = await api.call({ method, path, token: who === undefined ? undefined : tokens[who], body });
  contract.check(method, templateOf(path), result);
  return result;
}

interface Problem {
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

function expectProblem(result: RawResult, status: number): Problem {
  expect(result.status, result.text).toBe(status);
  expect(result.headers.get('content-type')).toBe('application/problem+json');
  return result.json as Problem;
}

const certs = (appId: string) => `/api/apps/${appId}/certificates`;

interface Generated {
  thumbprint: string;
  keyId: string;
  renewalId: string;
  notBefore: string;
  notAfter: string;
  verification: string;
  links: { app: string; certificate: string };
  keyVault: { certificateId: string; version: string } | null;
  privateKey: { storedIn: string[]; notice: string };
  pfx?: { fileName: string; base64: string; password: string; encryption: string };
  pem?: { fileName: string; bundle: string };
}

/** Deploys a certificate now: as an Operator, or as an Admin when the query asks for the private key. */
async function generate(appId: string, query = ''): Promise<Generated> {
  const result = await call('POST', `${certs(appId)}${query}`, query.includes('include=') ? 'admin' : 'operator');
  expect(result.status, result.text).toBe(201);
  return result.json as Generated;
}

function pkcs12Info(pfx: Buffer, password: string): string {
  const file = join(dir, `${randomUUID()}.pfx`);
  writeFileSync(file, pfx);
  return execFileSync('sh', ['-c', 'openssl pkcs12 -info -in "$0" -passin env:PFX_PASSWORD -nodes 2>&1', file], {
    encoding: 'utf8',
    env: { ...process.env, PFX_PASSWORD: password },
  });
}

/** The certificate and key in openssl's view of a PFX: they must belong together and be the expected certificate. */
function expectPfxHolds(pfx: Buffer, password: string, thumbprint: string, encryption: RegExp): void {
  const info = pkcs12Info(pfx, password);
  expect(info).toMatch(encryption);
  const certificate = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(info)![0]);
  expect(certificate.fingerprint.replace(/:/g, '')).toBe(thumbprint);
  const key = createPrivateKey(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(info)![0]);
  expect(certificate.checkPrivateKey(key)).toBe(true);
}

/** Everything the rotator persists or emits, as text: table rows, queue messages, events, logs. */
async function everythingStoredOrEmitted(): Promise<string> {
  return [
    await snapshotTable(api.table),
    ...(await peekAll(api.world.queue)),
    JSON.stringify(api.world.eventGrid.events()),
    JSON.stringify(api.eventGrid.events()),
    api.world.logs.join('\n'),
    api.logs.join('\n'),
  ].join('\n');
}

/** Secrets as they would appear if leaked: the password, the key's base64 and PEM body lines. */
function leakProbes(secret: { password?: string; keyPem?: string }): string[] {
  const probes: string[] = [];
  if (secret.password) probes.push(secret.password);
  if (secret.keyPem) {
    const body = secret.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    probes.push(body[3]!, body.slice(2, 6).join(''));
  }
  return probes;
}

describe('POST /api/apps/{appId}/certificates', () => {
  it('deploys a certificate (Operator): 201 with thumbprint, keyId, validity, Key Vault version, verification pending, no key material', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    const result = await call('POST', certs(appId), 'operator');
    expect(result.status, result.text).toBe(201);
    const body = result.json as Generated;
    expect(body).toMatchObject({ verification: 'pending', links: { app: `/api/apps/${appId}` } });
    expect(body.pfx).toBeUndefined();
    expect(body.pem).toBeUndefined();
    expect(result.headers.get('location')).toBe(`/api/apps/${appId}/certificates/${body.thumbprint}`);
    expect(result.headers.get('link')).toBe(`</api/apps/${appId}>; rel="monitor"`);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(body.privateKey.storedIn).toEqual(['key-vault']);

    // What the response says is what Graph, Key Vault and the stored state hold.
    const onGraph = api.world.graph.application(registration.appId)!.keyCredentials.find((c) => c.keyId === body.keyId)!;
    expect(new X509Certificate(onGraph.key).fingerprint.replace(/:/g, '')).toBe(body.thumbprint);
    const latest = api.world.keyVault.latest(app.config.keyVault.certificateName)!;
    expect(latest.thumbprint).toBe(body.thumbprint);
    expect(body.keyVault!.version).toBe(latest.version);
    expect(body.keyVault!.certificateId).toContain(`/certificates/${app.config.keyVault.certificateName}/${latest.version}`);
    expect(Date.parse(body.notAfter) - Date.parse(body.notBefore)).toBe(90 * 86_400_000);
    const stored = (await api.store.getApp(appId))!;
    expect(stored.state).toMatchObject({ currentThumbprint: body.thumbprint, keyId: body.keyId, lastOutcome: 'deployed' });
    expect(stored.state.verifiedAt).toBeUndefined();

    // History records the caller; the confirm stage was queued and, delivered, sets verifiedAt.
    const history = await api.store.listHistory(appId);
    expect(history.items[0]).toMatchObject({
      action: 'renewal.deploy',
      trigger: 'manual',
      thumbprint: body.thumbprint,
      actor: people.operator,
    });
    await api.world.drain(api.renewals);
    expect((await api.store.getApp(appId))!.state.verifiedAt).toEqual(expect.any(String));
  });

  it('returns the PFX (AES, or 3DES with legacy=true) with its password once, and the PEM bundle, only when asked; no key reaches storage, queue, events or logs', async () => {
    const { app } = await api.createManagedApp({ displayName: 'Payroll "Blue" / EU' });
    const appId = app.config.appId;

    const pfx = await generate(appId, '?include=pfx');
    expect(pfx.pfx).toMatchObject({ encryption: 'aes-256-cbc', fileName: `Payroll-Blue-EU-${pfx.thumbprint.slice(0, 8)}.pfx` });
    expect(pfx.pfx!.password.length).toBeGreaterThanOrEqual(22);
    expectPfxHolds(Buffer.from(pfx.pfx!.base64, 'base64'), pfx.pfx!.password, pfx.thumbprint, /PBES2, PBKDF2, AES-256-CBC/);
    expect(pfx.privateKey.notice).toContain('shown once');

    const legacy = await generate(appId, '?include=pfx&legacy=true');
    expect(legacy.pfx!.encryption).toBe('3des-legacy');
    expect(legacy.pfx!.password).not.toBe(pfx.pfx!.password);
    expectPfxHolds(Buffer.from(legacy.pfx!.base64, 'base64'), legacy.pfx!.password, legacy.thumbprint, /pbeWithSHA1And3-KeyTripleDES-CBC/);

    const pem = await generate(appId, '?include=pem');
    const certificate = new X509Certificate(pem.pem!.bundle);
    expect(certificate.fingerprint.replace(/:/g, '')).toBe(pem.thumbprint);
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(pem.pem!.bundle)![0];
    expect(certificate.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);

    await api.world.drain(api.renewals);
    const everything = await everythingStoredOrEmitted();
    expect(everything).toContain(pem.thumbprint); // the probe reads the right places
    for (const probe of [
      ...leakProbes({ password: pfx.pfx!.password }),
      ...leakProbes({ password: legacy.pfx!.password }),
      ...leakProbes({ keyPem }),
    ]) {
      expect(everything).not.toContain(probe);
    }
    expect(everything).not.toContain(pfx.pfx!.base64.slice(100, 200));
  });

  it("says in a generation's answer that a disabled app's scheduled renewals are off, and nothing for an enabled one", async () => {
    const { app } = await api.createManagedApp({ config: { enabled: false } });
    const body = (await generate(app.config.appId)) as Generated & { notices?: { code: string; detail: string }[] };
    expect(body.notices?.map((n) => n.code)).toEqual(['scheduled-renewal-disabled']);
    expect(body.notices![0]!.detail).toContain('the scheduler will not renew this certificate before it expires on');
    const { app: enabled } = await api.createManagedApp();
    expect(((await generate(enabled.config.appId)) as Generated & { notices?: unknown }).notices).toBeUndefined();
  });

  it('says plainly that the key exists only in the response and the email when Key Vault is disabled', async () => {
    const { app } = await api.createManagedApp({
      config: {
        keyVault: {
          enabled: false,
          vaultUrl: api.world.keyVault.vaultUrl,
          certificateName: `nokv-${randomUUID().slice(0, 8)}`,
          grantAppRead: true,
          readers: [],
        },
        notifications: {
          enabled: true,
          recipients: ['keys@contoso.example'],
          thresholdDays: 14,
          includeCertificate: true,
          attachmentFormat: 'pfx',
        },
      },
    });
    const sentBefore = api.world.email.messages().length;
    const body = await generate(app.config.appId, '?include=pem');
    expect(body.keyVault).toBeNull();
    expect(body.privateKey.storedIn).toEqual(['email']);
    expect(body.privateKey.notice).toMatch(/the private key exists only in this response and the email sent to keys@contoso\.example/);
    expect(body.pem!.bundle).toContain('PRIVATE KEY');
    // The PFX went out by email (and its password in a second one).
    const sent = api.world.email.messages().slice(sentBefore);
    expect(sent.some((m) => (m.message.attachments ?? []).some((a) => a.contentType === 'application/x-pkcs12'))).toBe(true);

    const withoutKey = await generate(app.config.appId);
    expect(withoutKey.privateKey.notice).toMatch(/the private key exists only in the email sent to keys@contoso\.example/);
  });

  it('answers 409 with Retry-After while a renewal holds the lease, and adds nothing', async () => {
    const { registration, app } = await api.createManagedApp();
    // A lease far longer than this test takes; Retry-After is checked against the clock read around
    // the call, so no assumption about how long the steps take.
    const untilMs = Date.now() + 3_600_000;
    const until = new Date(untilMs).toISOString();
    await api.store.updateApp(app, { state: { ...app.state, lease: { owner: 'worker', renewalId: 'scheduled-1', until } } });
    const sent = Date.now();
    const result = await call('POST', certs(app.config.appId), 'operator');
    const answered = Date.now();
    const problem = expectProblem(result, 409);
    expect(problem.detail).toContain(until);
    // The seconds the lease had left when the API answered, rounded up.
    const retryAfter = Number(result.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(Math.ceil((untilMs - answered) / 1000));
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil((untilMs - sent) / 1000));
    expect(api.world.graph.application(registration.appId)!.keyCredentials).toEqual([]);
  });

  it("refuses an Operator the private key (403 naming the Admin role) and deploys nothing; the Operator's plain POST deploys", async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    const before = await api.store.getApp(appId);
    // Any include=, a bad value too: the role is judged before the value.
    for (const include of ['pfx', 'pem', 'pfx&legacy=true', 'zip']) {
      const refused = expectProblem(await call('POST', `${certs(appId)}?include=${include}`, 'operator'), 403);
      expect(refused.detail).toContain('CertRotator.Admin');
      expect(refused.detail).toContain(`include=${include.split('&')[0]}`);
    }
    expect(api.world.graph.application(registration.appId)!.keyCredentials).toEqual([]);
    expect(await api.store.getApp(appId)).toEqual(before);
    expect((await api.store.listHistory(appId)).items.map((entry) => entry.action)).not.toContain('renewal.deploy');

    const plain = await call('POST', certs(appId), 'operator');
    expect(plain.status).toBe(201);
    const body = plain.json as Generated;
    expect(body.pfx).toBeUndefined();
    expect(body.pem).toBeUndefined();
    expect(api.world.graph.application(registration.appId)!.keyCredentials.map((c) => c.keyId)).toEqual([body.keyId]);
  });

  it('refuses a Reader (403), an anonymous caller (401), an unknown app (404) and a bad query (400)', async () => {
    const { registration, app } = await api.createManagedApp();
    expectProblem(await call('POST', certs(app.config.appId), 'reader'), 403);
    const anonymous = await call('POST', certs(app.config.appId), undefined);
    expectProblem(anonymous, 401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expectProblem(await call('POST', certs(randomUUID()), 'operator'), 404);
    const badInclude = expectProblem(await call('POST', `${certs(app.config.appId)}?include=zip`, 'admin'), 400).errors!;
    expect(badInclude.map((e) => e.path)).toEqual(['include']);
    expect(badInclude[0]!.message).toContain('"pfx"');
    expect(expectProblem(await call('POST', `${certs(app.config.appId)}?include=pem&legacy=true`, 'admin'), 400).errors).toEqual([
      { path: 'legacy', message: 'applies to include=pfx only' },
    ]);
    expect(expectProblem(await call('POST', `${certs(app.config.appId)}?foo=1`, 'operator'), 400).errors![0]!.path).toBe('foo');
    expect(expectProblem(await call('POST', certs('not-a-guid'), 'operator'), 400).errors![0]!.path).toBe('appId');
    expect(api.world.graph.application(registration.appId)!.keyCredentials).toEqual([]);
  });
});

describe('GET /api/apps/{appId}/certificates', () => {
  it('lists every certificate on the app registration (Reader) with status and whether the rotator manages it', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    const now = Date.now();
    const older = await generate(appId);
    const current = await generate(appId);
    const foreign = await generateCertificate({ displayName: 'Uploaded by hand', lifetimeDays: 30 });
    api.world.graph.seedCertificate(registration.appId, foreign.der, { displayName: 'portal upload' });
    const expired = await generateCertificate({ displayName: 'Old', lifetimeDays: 30, now: new Date(now - 60 * 86_400_000) });
    api.world.graph.seedCertificate(registration.appId, expired.der, { displayName: 'old upload' });
    const future = await generateCertificate({ displayName: 'Future', lifetimeDays: 30, now: new Date(now + 5 * 86_400_000) });
    api.world.graph.seedCertificate(registration.appId, future.der, { displayName: 'future upload' });

    const result = await call('GET', certs(appId), 'reader');
    expect(result.status, result.text).toBe(200);
    const { items } = result.json as {
      items: { thumbprint: string; status: string; managed: boolean; keyId: string; displayName: string }[];
    };
    const byThumbprint = new Map(items.map((i) => [i.thumbprint, i]));
    expect(items).toHaveLength(5);
    expect(byThumbprint.get(current.thumbprint)).toMatchObject({ status: 'current', managed: true, keyId: current.keyId });
    expect(byThumbprint.get(older.thumbprint)).toMatchObject({ status: 'valid', managed: true });
    expect(byThumbprint.get(foreign.thumbprints.sha1)).toMatchObject({ status: 'valid', managed: false, displayName: 'portal upload' });
    expect(byThumbprint.get(expired.thumbprints.sha1)).toMatchObject({ status: 'expired', managed: false });
    expect(byThumbprint.get(future.thumbprints.sha1)).toMatchObject({ status: 'not yet valid', managed: false });
  });

  it('answers 503 with Retry-After when Graph throttles, 404 for an unknown app, 401 without a token, 403 without a role', async () => {
    const { app } = await api.createManagedApp();
    const throttle = api.world.graph.throttle('get-application', { retryAfterSeconds: 120, times: 1 });
    const throttled = await call('GET', certs(app.config.appId), 'reader');
    expectProblem(throttled, 503);
    expect(throttle.served).toBe(1);
    expect(throttled.headers.get('retry-after')).toBe('120');
    expect((await call('GET', certs(app.config.appId), 'reader')).status).toBe(200);
    expectProblem(await call('GET', certs(randomUUID()), 'reader'), 404);
    expectProblem(await call('GET', certs(app.config.appId), undefined), 401);
    expectProblem(await call('GET', certs(app.config.appId), 'noRole'), 403);
    // Not an operation of the document, so not checked against it: the Allow header lists the ones that are.
    const wrongMethod = await api.call({ method: 'PUT', path: certs(app.config.appId), token: tokens.admin });
    expectProblem(wrongMethod, 405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
  });
});

describe('GET /api/apps/{appId}/certificates/{certificateId}', () => {
  let appId: string;
  let registrationId: string;
  let managed: Generated;
  let foreignDer: Buffer;
  let foreignThumbprint: string;
  beforeAll(async () => {
    const { registration, app } = await api.createManagedApp({ displayName: 'Billing: "prod"/EU ☃' });
    appId = app.config.appId;
    registrationId = registration.appId;
    managed = await generate(appId);
    const foreign = await generateCertificate({ displayName: 'Uploaded by hand', lifetimeDays: 30 });
    foreignDer = foreign.der;
    foreignThumbprint = foreign.thumbprints.sha1;
    api.world.graph.seedCertificate(registration.appId, foreign.der, { displayName: 'portal upload' });
  });
  const one = (id: string, query = '') => `${certs(appId)}/${id}${query}`;

  it('serves the public certificate of any certificate on the app (Reader): DER, or PEM with encoding=pem, by thumbprint or keyId', async () => {
    const der = await call('GET', one(foreignThumbprint, '?format=cer'), 'reader');
    expect(der.status).toBe(200);
    expect(der.headers.get('content-type')).toBe('application/pkix-cert');
    expect(der.body.equals(foreignDer)).toBe(true);
    expect(der.headers.get('content-disposition')).toBe(`attachment; filename="Billing-prod-EU-${foreignThumbprint.slice(0, 8)}.cer"`);

    const pem = await call('GET', one(foreignThumbprint.toLowerCase().match(/../g)!.join(':'), '?encoding=pem'), 'reader');
    expect(pem.headers.get('content-type')).toBe('application/x-pem-file');
    expect(new X509Certificate(pem.body).raw.equals(foreignDer)).toBe(true);

    const byKeyId = await call('GET', one(managed.keyId), 'reader');
    expect(new X509Certificate(byKeyId.body).fingerprint.replace(/:/g, '')).toBe(managed.thumbprint);
  });

  it('serves certificate and key from Key Vault to an Admin (PFX and its password in a JSON body, or PEM), records the download, never stores the password', async () => {
    const pfx = await call('GET', one(managed.thumbprint, '?format=pfx'), 'admin');
    expect(pfx.status, pfx.text).toBe(200);
    expect(pfx.headers.get('content-type')).toBe('application/json');
    expect(pfx.headers.get('cache-control')).toBe('no-store');
    // No header carries the password (proxies and gateways log headers).
    const body = pfx.json as { thumbprint: string; pfx: { fileName: string; base64: string; password: string; encryption: string } };
    pfx.headers.forEach((value) => expect(value).not.toContain(body.pfx.password));
    expect(body).toMatchObject({
      thumbprint: managed.thumbprint,
      pfx: { fileName: `Billing-prod-EU-${managed.thumbprint.slice(0, 8)}.pfx`, encryption: 'aes-256-cbc' },
    });
    const password = body.pfx.password;
    expectPfxHolds(Buffer.from(body.pfx.base64, 'base64'), password, managed.thumbprint, /PBES2, PBKDF2, AES-256-CBC/);

    const legacy = (await call('GET', one(managed.thumbprint, '?format=pfx&legacy=true'), 'admin')).json as typeof body;
    expect(legacy.pfx.encryption).toBe('3des-legacy');
    expectPfxHolds(Buffer.from(legacy.pfx.base64, 'base64'), legacy.pfx.password, managed.thumbprint, /pbeWithSHA1And3-KeyTripleDES-CBC/);
    expect(legacy.pfx.password).not.toBe(password);

    const pem = await call('GET', one(managed.thumbprint, '?format=pem'), 'admin');
    expect(pem.headers.get('content-type')).toBe('application/x-pem-file');
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(pem.body.toString())![0];
    expect(new X509Certificate(pem.body).checkPrivateKey(createPrivateKey(keyPem))).toBe(true);

    const history = (await api.store.listHistory(appId)).items;
    expect(history.slice(0, 3)).toEqual([
      expect.objectContaining({ action: 'certificate.download.pem', trigger: 'api', thumbprint: managed.thumbprint, actor: people.admin }),
      expect.objectContaining({ action: 'certificate.download.pfx', actor: people.admin }),
      expect.objectContaining({ action: 'certificate.download.pfx', actor: people.admin }),
    ]);
    const everything = await everythingStoredOrEmitted();
    for (const probe of [...leakProbes({ password, keyPem }), ...leakProbes({ password: legacy.pfx.password })]) {
      expect(everything).not.toContain(probe);
    }
  });

  it('exports the raw PFX under the password an Admin sends in the body; refuses a weak password (400) and an Operator (403) without recording a download', async () => {
    const password = `Exp0rt-${randomUUID()}`;
    const exported = await call('POST', `${one(managed.thumbprint)}/export`, 'admin', { password });
    expect(exported.status, exported.text).toBe(200);
    expect(exported.headers.get('content-type')).toBe('application/x-pkcs12');
    expect(exported.headers.get('cache-control')).toBe('no-store');
    expect(exported.headers.get('content-disposition')).toBe(
      `attachment; filename="Billing-prod-EU-${managed.thumbprint.slice(0, 8)}.pfx"`,
    );
    exported.headers.forEach((value) => expect(value).not.toContain(password));
    expectPfxHolds(exported.body, password, managed.thumbprint, /PBES2, PBKDF2, AES-256-CBC/);
    const legacy = await call('POST', `${one(managed.keyId)}/export`, 'admin', { password, legacy: true });
    expectPfxHolds(legacy.body, password, managed.thumbprint, /pbeWithSHA1And3-KeyTripleDES-CBC/);
    expect((await api.store.listHistory(appId)).items[0]).toMatchObject({ action: 'certificate.export.pfx', actor: people.admin });

    const before = await snapshotTable(api.table);
    const weak = expectProblem(await call('POST', `${one(managed.thumbprint)}/export`, 'admin', { password: 'short' }), 400);
    expect(weak.errors!.map((e) => e.path)).toEqual(['password']);
    expect(
      expectProblem(await call('POST', `${one(managed.thumbprint)}/export`, 'admin', { password, extra: 1 }), 400).errors![0]!.path,
    ).toBe('extra');
    expectProblem(await call('POST', `${one(managed.thumbprint)}/export`, 'operator', { password }), 403);
    // Not through `call`: GET is no documented operation of this path, and 405 says so.
    const wrongMethod = expectProblem(
      await api.call({ method: 'GET', path: `${one(managed.thumbprint)}/export`, token: tokens.admin }),
      405,
    );
    expect(wrongMethod.status).toBe(405);
    expect(await snapshotTable(api.table)).toBe(before);
  });

  it('refuses key downloads to a Reader or an Operator (403), without a history row', async () => {
    const before = (await api.store.listHistory(appId)).items.length;
    for (const who of ['reader', 'operator'] as const) {
      for (const format of ['pem', 'pfx']) {
        const problem = expectProblem(await call('GET', one(managed.thumbprint, `?format=${format}`), who), 403);
        expect(problem.detail).toContain('CertRotator.Admin');
      }
    }
    expect((await api.store.listHistory(appId)).items.length).toBe(before);
  });

  it('answers 409 with an explanation when the key is not in Key Vault: a certificate the rotator did not make, or Key Vault disabled', async () => {
    const foreign = expectProblem(await call('GET', one(foreignThumbprint, '?format=pfx'), 'admin'), 409);
    expect(foreign.detail).toMatch(/not in Key Vault.*the rotator did not create this certificate.*format=cer/);

    const { app } = await api.createManagedApp({
      config: {
        keyVault: {
          enabled: false,
          vaultUrl: api.world.keyVault.vaultUrl,
          certificateName: `nokv-${randomUUID().slice(0, 8)}`,
          grantAppRead: true,
          readers: [],
        },
        notifications: {
          enabled: true,
          recipients: ['keys@contoso.example'],
          thresholdDays: 14,
          includeCertificate: true,
          attachmentFormat: 'pfx',
        },
      },
    });
    const generated = await generate(app.config.appId);
    const disabled = expectProblem(await call('GET', `${certs(app.config.appId)}/${generated.thumbprint}?format=pem`, 'admin'), 409);
    expect(disabled.detail).toMatch(/Key Vault is disabled for app .*keyVault\.enabled is false/);
    // The public certificate is still there.
    expect((await call('GET', `${certs(app.config.appId)}/${generated.thumbprint}`, 'reader')).status).toBe(200);
  });

  it('answers 404 for an unknown thumbprint or app, 400 for a malformed one or a wrong format, 503 when Graph throttles', async () => {
    expect(expectProblem(await call('GET', one('AB'.repeat(20)), 'reader'), 404).detail).toContain(`thumbprint ${'AB'.repeat(20)}`);
    expectProblem(await call('GET', `${certs(randomUUID())}/${managed.thumbprint}`, 'reader'), 404);
    expect(expectProblem(await call('GET', one('xyz'), 'reader'), 400).errors![0]!.path).toBe('certificateId');
    expect(expectProblem(await call('GET', one(managed.thumbprint, '?format=zip'), 'admin'), 400).errors).toEqual([
      { path: 'format', message: 'must be "cer", "pem" or "pfx"' },
    ]);
    expect(expectProblem(await call('GET', one(managed.thumbprint, '?format=pfx&encoding=pem'), 'admin'), 400).errors).toEqual([
      { path: 'encoding', message: 'applies to format=cer only' },
    ]);
    expect(expectProblem(await call('GET', one(managed.thumbprint, '?legacy=true'), 'admin'), 400).errors![0]!.path).toBe('legacy');
    const throttle = api.world.graph.throttle('get-application', { retryAfterSeconds: 90, times: 1 });
    const throttled = await call('GET', one(managed.thumbprint, '?format=pfx'), 'admin');
    expectProblem(throttled, 503);
    expect(throttle.served).toBe(1);
    expect(throttled.headers.get('retry-after')).toBe('90');
    expectProblem(await call('GET', one(managed.thumbprint), undefined), 401);
    void registrationId;
  });
});

describe('DELETE /api/apps/{appId}/certificates/{certificateId}', () => {
  it('removes a certificate (Admin), emits CertificateRemoved, records the caller, releases the lease', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    const kept = await generate(appId);
    const foreign = await generateCertificate({ displayName: 'Uploaded by hand', lifetimeDays: 30 });
    const seeded = api.world.graph.seedCertificate(registration.appId, foreign.der, { displayName: 'portal upload' });

    const result = await call('DELETE', `${certs(appId)}/${seeded.keyId}`, 'admin');
    expect(result.status, result.text).toBe(200);
    expect(result.json).toMatchObject({ removed: { keyId: seeded.keyId, thumbprint: foreign.thumbprints.sha1, managed: false } });
    expect(api.world.graph.application(registration.appId)!.keyCredentials.map((c) => c.keyId)).toEqual([kept.keyId]);

    const events = api.eventGrid
      .events()
      .map((e) => e.event)
      .filter((e) => e.source === `/entra-cert-rotator/apps/${appId}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'EntraCertRotator.CertificateRemoved', id: `removed:api:${seeded.keyId}` });
    expect(events[0]!.data).toMatchObject({ appId, thumbprint: foreign.thumbprints.sha1, keyId: seeded.keyId, trigger: 'api' });
    expect(api.world.email.messages().some((m) => m.message.content.subject.includes('Certificate removed from'))).toBe(true);

    const stored = (await api.store.getApp(appId))!;
    expect(stored.state.lease).toBeUndefined();
    expect((await api.store.listHistory(appId)).items[0]).toMatchObject({
      action: 'certificate.delete',
      trigger: 'api',
      thumbprint: foreign.thumbprints.sha1,
      actor: people.admin,
    });
    expectProblem(await call('DELETE', `${certs(appId)}/${seeded.keyId}`, 'admin'), 404);
  });

  it('refuses the last valid certificate with 409 unless force=true (by thumbprint)', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    const only = await generate(appId);
    const refused = expectProblem(await call('DELETE', `${certs(appId)}/${only.thumbprint}`, 'admin'), 409);
    expect(refused.detail).toContain('force=true');
    expect(api.world.graph.application(registration.appId)!.keyCredentials).toHaveLength(1);
    // A repeated force is not settled by its last value.
    const repeated = expectProblem(await call('DELETE', `${certs(appId)}/${only.thumbprint}?force=false&force=true`, 'admin'), 400);
    expect(repeated.errors).toEqual([{ path: 'force', message: 'is given more than once; give it once' }]);
    expect(api.world.graph.application(registration.appId)!.keyCredentials).toHaveLength(1);
    expect((await api.store.getApp(appId))!.state.lease).toBeUndefined();

    const forced = await call('DELETE', `${certs(appId)}/${only.thumbprint}?force=true`, 'admin');
    expect(forced.status, forced.text).toBe(200);
    expect(api.world.graph.application(registration.appId)!.keyCredentials).toEqual([]);
    expect((await api.store.listHistory(appId)).items[0]).toMatchObject({ action: 'certificate.delete.forced', actor: people.admin });
  });

  it('removes through removeKey signed in as the app itself in graphMode "self"', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    const older = await generate(appId);
    const current = await generate(appId);
    const stored = (await api.store.getApp(appId))!;
    await api.store.updateApp(stored, { config: { ...stored.config, graphMode: 'self' } });
    const patchesBefore = api.world.graph.server.count('update-application');
    const result = await call('DELETE', `${certs(appId)}/${older.keyId}`, 'admin');
    expect(result.status, result.text).toBe(200);
    expect(api.world.graph.application(registration.appId)!.keyCredentials.map((c) => c.keyId)).toEqual([current.keyId]);
    expect(api.world.graph.server.count('update-application')).toBe(patchesBefore);
    expect(api.world.graph.server.count('remove-key')).toBeGreaterThan(0);
  });

  it('keeps the removal when the event cannot be published: the event is left pending for the scheduler', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    await generate(appId);
    const second = await generate(appId);
    const outage = api.eventGrid.server.inject('publish', { status: 500, times: 10 });
    const result = await call('DELETE', `${certs(appId)}/${second.keyId}`, 'admin');
    expect(result.status, result.text).toBe(200);
    expect(outage.served).toBeGreaterThan(0);
    expect(api.world.graph.application(registration.appId)!.keyCredentials.map((c) => c.keyId)).not.toContain(second.keyId);
    const state = (await api.store.getApp(appId))!.state;
    expect(state.lease).toBeUndefined();
    expect(state.pendingNotifications).toEqual([
      expect.objectContaining({ channel: 'event', kind: 'removed', id: `removed:api:${second.keyId}`, keyId: second.keyId, attempts: 1 }),
    ]);
    expect(await api.store.listAppsWithPendingNotifications()).toContain(appId);
    api.eventGrid.server.clearFaults();
  });

  it('answers 409 with Retry-After while a renewal holds the lease, 503 when Graph throttles (lease released), 403 to an Operator, 404/400 for unknown or malformed ids', async () => {
    const { registration, app } = await api.createManagedApp();
    const appId = app.config.appId;
    await generate(appId);
    const second = await generate(appId);
    const leased = (await api.store.getApp(appId))!;
    const until = new Date(Date.now() + 60_000).toISOString();
    await api.store.updateApp(leased, { state: { ...leased.state, lease: { owner: 'worker', renewalId: 'r-1', until } } });
    const conflict = await call('DELETE', `${certs(appId)}/${second.keyId}`, 'admin');
    expectProblem(conflict, 409);
    expect(Number(conflict.headers.get('retry-after'))).toBeGreaterThan(0);
    const released = (await api.store.getApp(appId))!;
    await api.store.updateApp(released, { state: { ...released.state, lease: undefined } });

    const throttle = api.world.graph.throttle('get-application', { retryAfterSeconds: 60, times: 1 });
    const throttled = await call('DELETE', `${certs(appId)}/${second.keyId}`, 'admin');
    expectProblem(throttled, 503);
    expect(throttle.served).toBe(1);
    expect(throttled.headers.get('retry-after')).toBe('60');
    expect((await api.store.getApp(appId))!.state.lease).toBeUndefined();

    expectProblem(await call('DELETE', `${certs(appId)}/${second.keyId}`, 'operator'), 403);
    expectProblem(await call('DELETE', `${certs(appId)}/${randomUUID()}`, 'admin'), 404);
    expectProblem(await call('DELETE', `${certs(randomUUID())}/${second.keyId}`, 'admin'), 404);
    expect(expectProblem(await call('DELETE', `${certs(appId)}/${second.keyId}?force=yes`, 'admin'), 400).errors![0]!.path).toBe('force');
    expect(api.world.graph.application(registration.appId)!.keyCredentials.map((c) => c.keyId)).toContain(second.keyId);
  });
});

describe('every certificate operation, against the OpenAPI document', () => {
  it('answers each with its documented success status, media type, schema and headers', async () => {
    // Its own app and its own contract: it proves the success of each operation itself, whichever
    // tests ran before it.
    const own = new OpenApiContract();
    const check = async (method: string, path: string, who: keyof typeof tokens, body?: unknown): Promise<RawResult> => {
      const result = await api.call({ method, path, token: tokens[who], body });
      own.check(method, templateOf(path), result);
      return result;
    };
    const { app } = await api.createManagedApp();
    const appId = app.config.appId;
    const first = (await check('POST', certs(appId), 'operator')).json as Generated;
    await check('POST', certs(appId), 'operator');
    await check('GET', certs(appId), 'reader');
    await check('GET', `${certs(appId)}/${first.thumbprint}`, 'reader');
    await check('POST', `${certs(appId)}/${first.thumbprint}/export`, 'admin', { password: `Exp0rt-${randomUUID()}` });
    await check('DELETE', `${certs(appId)}/${first.keyId}`, 'admin');
    expect([...own.seen].sort()).toEqual(
      [
        'POST /apps/{appId}/certificates 201',
        'GET /apps/{appId}/certificates 200',
        'GET /apps/{appId}/certificates/{certificateId} 200',
        'POST /apps/{appId}/certificates/{certificateId}/export 200',
        'DELETE /apps/{appId}/certificates/{certificateId} 200',
      ].sort(),
    );
  });
});
