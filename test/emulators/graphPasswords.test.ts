import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EntraAuthority } from './entraAuthority.js';
import { GRAPH_RESOURCE, GraphEmulator } from './graph.js';
import { loadOrCreateEmulatorTls } from './tls.js';

const tenantId = randomUUID();
const owner = { oid: randomUUID(), appId: randomUUID() };
const stranger = { oid: randomUUID(), appId: randomUUID() };
let authority: EntraAuthority;
let graph: GraphEmulator;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
});
afterAll(() => Promise.all([authority.close(), graph.close()]));

const token = (caller: { oid: string; appId: string }) =>
  authority.issueAccessToken({ tenantId, audience: GRAPH_RESOURCE, version: 1, roles: ['Application.ReadWrite.OwnedBy'], ...caller });

async function call(method: string, path: string, caller: { oid: string; appId: string }, body?: unknown) {
  const response = await fetch(`${graph.url}/v1.0${path}`, {
    method,
    headers: { authorization: `Bearer ${await token(caller)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('application: addPassword', () => {
  it('adds a secret to an owned app, answers its text once and lists it without, two years long when no end is given', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Legacy Batch', owners: [owner.oid] });
    const added = await call('POST', `/applications(appId='${app.appId}')/addPassword`, owner, {
      passwordCredential: { displayName: 'batch' },
    });
    expect(added.status).toBe(200);
    const secretText = added.body.secretText as string;
    expect(secretText.length).toBeGreaterThanOrEqual(32);
    expect(added.body).toMatchObject({ displayName: 'batch', hint: secretText.slice(0, 3), customKeyIdentifier: null });
    const years = (Date.parse(added.body.endDateTime as string) - Date.parse(added.body.startDateTime as string)) / (365 * 24 * 3600_000);
    expect(years).toBeCloseTo(2, 1);

    const read = await call('GET', `/applications/${app.id}`, owner);
    expect(read.body.passwordCredentials).toEqual([
      expect.objectContaining({ keyId: added.body.keyId, hint: secretText.slice(0, 3), secretText: null }),
    ]);
  });

  it('refuses a caller that does not own the app (403) and a body without passwordCredential (400), adding nothing', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Someone Else', owners: [owner.oid] });
    const denied = await call('POST', `/applications/${app.id}/addPassword`, stranger, { passwordCredential: {} });
    expect(denied.status).toBe(403);
    expect((denied.body.error as { code: string }).code).toBe('Authorization_RequestDenied');
    const bad = await call('POST', `/applications/${app.id}/addPassword`, owner, { displayName: 'x' });
    expect(bad.status).toBe(400);
    const ended = await call('POST', `/applications/${app.id}/addPassword`, owner, {
      passwordCredential: { endDateTime: '2001-01-01T00:00:00Z' },
    });
    expect(ended.status).toBe(400);
    expect((await call('GET', `/applications/${app.id}`, owner)).body.passwordCredentials).toEqual([]);
  });
});
