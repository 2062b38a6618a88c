import { randomUUID } from 'node:crypto';
import functions from '@azure/functions';
import { describe, expect, inject, it } from 'vitest';
import { AppStore } from '../../../src/lib/tables/appStore.js';
import { createTableClient } from '../../../src/lib/composition.js';
import { ConflictError } from '../../../src/lib/errors.js';
import { problemResponse } from '../../../src/lib/http/problem.js';
import { ApiHarness } from '../../support/apiHarness.js';

// The classes come from the default export: @azure/functions has no such named exports under Node's ESM loader.
const { HttpRequest, InvocationContext } = functions;

describe('outages and internals', () => {
  it('answers 503 with Retry-After when the token issuer cannot be reached, then recovers', async () => {
    // A fresh harness: its authenticator has not discovered the metadata yet.
    const fresh = await ApiHarness.start();
    try {
      const token = await fresh.token('CertRotator.Reader');
      const outage = fresh.authority.server.inject('openid-configuration', { status: 503, times: 1 });
      const down = await fresh.call({ method: 'GET', path: '/api/apps', token });
      expect(down.status).toBe(503);
      expect(outage.served).toBe(1);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(down.headers.get('content-type')).toBe('application/problem+json');
      // Logged for the operator (through the invocation's logger, captured by the harness).
      expect(fresh.logs.map((l) => l.level)).toEqual(['error']);
      expect(fresh.logs[0]!.text).toMatch(/^GET \/api\/apps failed: RetriableError: Cannot read the token issuer's metadata/);
      // The failed discovery is not cached: the next request discovers again and succeeds.
      expect((await fresh.call({ method: 'GET', path: '/api/apps', token })).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  it.each([
    ['answers 503', { status: 503 }],
    ['is throttled', { status: 429 }],
    ['answers something other than JSON', { status: 200, body: '<html>maintenance</html>' }],
  ])("answers 503 with Retry-After, not 401, when the issuer's signing-key endpoint %s", async (_what, failure) => {
    const fresh = await ApiHarness.start();
    try {
      const token = await fresh.token('CertRotator.Reader');
      const outage = fresh.authority.server.inject('keys', { ...failure, times: 1 });
      const down = await fresh.call({ method: 'GET', path: '/api/apps', token });
      expect(down.status, down.text).toBe(503);
      expect(outage.served).toBe(1);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(down.headers.get('www-authenticate')).toBeNull();
      expect(fresh.logs.map((l) => l.level)).toEqual(['error']);
      expect(fresh.logs[0]!.text).toContain("GET /api/apps failed: RetriableError: Cannot read the token issuer's signing keys");
      expect((await fresh.call({ method: 'GET', path: '/api/apps', token })).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  it('answers an unexpected error with 500 and no internals', () => {
    const request = new HttpRequest({ method: 'GET', url: 'https://rotator.example/api/apps' });
    const logged: unknown[][] = [];
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: 'apps',
      logHandler: (...entry) => void logged.push(entry),
    });
    const response = problemResponse(new Error('connection string AccountKey=secret leaked'), request, context);
    // The cause goes to the operator's log, whole; the caller gets none of it.
    expect(logged).toEqual([
      ['error', 'GET /api/apps failed:', expect.objectContaining({ message: 'connection string AccountKey=secret leaked' })],
    ]);
    expect(response.status).toBe(500);
    const body = response.body as string;
    expect(body).not.toContain('secret');
    expect(JSON.parse(body)).toMatchObject({
      status: 500,
      type: 'urn:entra-cert-rotator:problem:internal',
      instance: '/api/apps',
    });
  });

  it('maps a ConflictError with a known retry time to 409 with Retry-After', () => {
    const request = new HttpRequest({ method: 'POST', url: 'https://rotator.example/api/apps/x/certificates' });
    const context = new InvocationContext({ invocationId: randomUUID(), functionName: 'x' });
    const response = problemResponse(new ConflictError('a renewal holds the lease', { retryAfterSeconds: 42.2 }), request, context);
    expect(response.status).toBe(409);
    expect((response.headers as Record<string, string>)['Retry-After']).toBe('43');
  });

  it('builds the store from a CONFIG_STORAGE connection string through the composition root', async () => {
    const name = `t${randomUUID().replace(/-/g, '').slice(0, 12)}comp`;
    const store = new AppStore(createTableClient({ kind: 'connectionString', connectionString: inject('storageConnectionString') }, name));
    expect((await store.listApps()).items).toEqual([]);
    expect(store.tableName).toBe(name);
  });
});
