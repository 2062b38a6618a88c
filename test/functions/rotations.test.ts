import { randomUUID } from 'node:crypto';
import functions, { type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRotationsHandlers } from '../../src/functions/rotations.js';
import type { RenewalMessage, RenewalQueue } from '../../src/lib/domain/ports.js';
import { BearerAuthenticator } from '../../src/lib/http/bearerAuthenticator.js';
import { RotationService } from '../../src/lib/rotations/rotationService.js';
import { RotationStore } from '../../src/lib/tables/rotationStore.js';
import { API_AUDIENCE, ApiHarness } from '../support/apiHarness.js';
import { OpenApiContract } from '../support/openApiContract.js';
import { createTestTableClient, snapshotTable } from '../support/tables.js';
import { managedConfig } from '../support/storedAppFixture.js';

/**
 * The /api/rotations routes (issue 19.1) over Azurite and the emulated authority's tokens: status
 * codes, headers and bodies as the OpenAPI document promises, every bad input named and nothing
 * stored or queued for it. The renewals themselves are test/lib/rotations/rotationService.test.ts.
 */

const { HttpRequest, InvocationContext } = functions;
const contract = new OpenApiContract();
let api: ApiHarness;
let handlers: ReturnType<typeof createRotationsHandlers>;
let rotationsTable: ReturnType<typeof createTestTableClient>;
const queued: RenewalMessage[] = [];
const tokens: Record<'admin' | 'operator' | 'reader', string> = { admin: '', operator: '', reader: '' };
const appIds: string[] = [];

beforeAll(async () => {
  api = await ApiHarness.start();
  rotationsTable = createTestTableClient('rotations');
  await rotationsTable.createTable();
  // The queue port records what a start sends; the Storage queue adapter has its own tests.
  const queue: RenewalQueue = { enqueue: (message) => Promise.resolve(void queued.push(message)) };
  const rotations = new RotationService({ store: api.store, rotations: new RotationStore(rotationsTable), queue });
  const authenticator = new BearerAuthenticator({ authorityHost: api.authority.url, tenantId: api.tenantId, audiences: [API_AUDIENCE] });
  handlers = createRotationsHandlers({ rotations, authenticator });
  tokens.admin = await api.token('CertRotator.Admin', { name: 'Ada Admin' });
  tokens.operator = await api.token('CertRotator.Operator');
  tokens.reader = await api.token('CertRotator.Reader');
  for (let i = 0; i < 3; i++) {
    const appId = randomUUID();
    appIds.push(appId);
    await api.store.createApp({
      config: managedConfig(appId, `Rotated ${i}`, { vaultUrl: 'https://default-vault.vault.azure.net/', certificateName: `rotated-${i}` }),
      state: {
        currentThumbprint: `${i}`.repeat(40),
        keyId: randomUUID(),
        notBefore: '2026-01-01T00:00:00Z',
        notAfter: '2027-01-01T00:00:00Z',
        keySize: 2048,
      },
      history: { action: 'config.created', trigger: 'test', outcome: 'succeeded' },
    });
  }
});
afterAll(() => api?.close());

interface Call {
  readonly method: string;
  readonly path: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

async function call(template: string, options: Call) {
  const segments = options.path.split('?')[0]!.split('/').filter(Boolean);
  const handler: HttpHandler = segments.length === 2 ? handlers.rotationsCollection : handlers.rotationItem;
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const request = new HttpRequest({
    method: options.method,
    url: `https://rotator.example${options.path}`,
    headers,
    body: options.body === undefined ? undefined : { string: JSON.stringify(options.body) },
    params: segments.length === 3 ? { rotationId: decodeURIComponent(segments[2]!) } : {},
  });
  const response: HttpResponseInit = await handler(
    request,
    new InvocationContext({ invocationId: randomUUID(), functionName: 'rotations' }),
  );
  const responseHeaders = new Headers(response.headers);
  const text = response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : typeof response.body === 'string' ? response.body : '';
  if (response.jsonBody !== undefined && !responseHeaders.has('content-type')) responseHeaders.set('content-type', 'application/json');
  const result = {
    status: response.status ?? 200,
    headers: responseHeaders,
    text,
    json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
  contract.check(options.method, template, result);
  return result;
}

const post = (body: unknown, headers: Record<string, string> = {}, token = tokens.admin) =>
  call('/rotations', { method: 'POST', path: '/api/rotations', token, headers, body });

describe('POST /api/rotations', () => {
  it('names every bad field at once, and stores and queues nothing', async () => {
    const before = await snapshotTable(rotationsTable);
    const cases: [unknown, Record<string, string>, string[]][] = [
      [{ selector: { all: true }, reason: 'x' }, {}, ['Idempotency-Key']],
      [{ selector: {}, reason: '' }, { 'Idempotency-Key': 'k' }, ['reason', 'selector']],
      [
        { selector: { appIds: ['nope'] }, reason: 'x', extra: 1 },
        { 'Idempotency-Key': 'has space' },
        ['Idempotency-Key', 'extra', 'selector.appIds.0'],
      ],
      [
        { selector: { appIds: [appIds[0], '00000000-0000-4000-8000-000000000000'] }, reason: 'x' },
        { 'Idempotency-Key': 'k2' },
        ['selector.appIds.1'],
      ],
    ];
    for (const [body, headers, paths] of cases) {
      const result = await post(body, headers);
      expect(result.status).toBe(400);
      expect(result.headers.get('content-type')).toBe('application/problem+json');
      expect((result.json!.errors as { path: string }[]).map((e) => e.path).sort()).toEqual(paths);
    }
    expect(await snapshotTable(rotationsTable)).toBe(before);
    expect(queued).toEqual([]);
  });

  it('is for Admins: an Operator gets 403 and no token 401, and nothing starts', async () => {
    const body = { selector: { all: true }, reason: 'not allowed' };
    expect((await post(body, { 'Idempotency-Key': 'op' }, tokens.operator)).status).toBe(403);
    expect(
      (await call('/rotations', { method: 'POST', path: '/api/rotations', headers: { 'Idempotency-Key': 'anon' }, body })).status,
    ).toBe(401);
    expect(queued).toEqual([]);
  });

  it('answers 202 with Location; a retry answers the same rotation; the key with another body is 422', async () => {
    const key = randomUUID();
    const body = { selector: { appIds: appIds.slice(0, 2) }, reason: 'suspected key leak' };
    const started = await post(body, { 'Idempotency-Key': key });
    expect(started.status).toBe(202);
    const id = started.json!.id as string;
    expect(started.headers.get('location')).toBe(`/api/rotations/${id}`);
    expect(started.json).toMatchObject({
      status: 'running',
      total: 2,
      counts: { queued: 2 },
      reason: body.reason,
      requestedBy: { name: 'Ada Admin' },
    });
    expect(queued.map((m) => m.appId).sort()).toEqual(appIds.slice(0, 2).sort());

    const retried = await post(body, { 'Idempotency-Key': key });
    expect(retried.status).toBe(202);
    expect(retried.json!.id).toBe(id);
    expect(queued).toHaveLength(2);

    const reused = await post({ ...body, reason: 'another reason' }, { 'Idempotency-Key': key });
    expect(reused.status).toBe(422);
    expect(reused.json!.detail).toContain('use a new key');
    expect(queued).toHaveLength(2);

    const read = await call('/rotations/{rotationId}', { method: 'GET', path: `/api/rotations/${id}`, token: tokens.reader });
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({
      id,
      total: 2,
      counts: { queued: 2 },
      openApps: [expect.objectContaining({ stage: 'queued' }), expect.anything()],
    });
    const listed = await call('/rotations', { method: 'GET', path: '/api/rotations', token: tokens.reader });
    expect(listed.status).toBe(200);
    expect((listed.json!.items as { id: string }[]).map((r) => r.id)).toContain(id);
  });
});

describe('GET /api/rotations/{rotationId}', () => {
  it('is 400 for a malformed id, 404 for an unknown one, 400 for a query parameter, 401 without a token', async () => {
    const get = (path: string, token: string | undefined = tokens.reader) =>
      call('/rotations/{rotationId}', { method: 'GET', path, token });
    const bad = await get('/api/rotations/not-a-guid');
    expect(bad.status).toBe(400);
    expect(bad.json!.errors).toEqual([expect.objectContaining({ path: 'rotationId' })]);
    expect((await get(`/api/rotations/${randomUUID()}`)).status).toBe(404);
    expect((await get(`/api/rotations/${randomUUID()}?verbose=1`)).status).toBe(400);
    expect((await get(`/api/rotations/${randomUUID()}`, '')).status).toBe(401);
  });
});
