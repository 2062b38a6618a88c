import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/lib/http/bearerAuthenticator.js';
import { API_AUDIENCE, API_CLIENT_ID, ApiHarness } from '../support/apiHarness.js';
import { snapshotTable } from '../support/tables.js';

const MINUTE = 60_000;
const ROLE_RANK: Record<Role, number> = { 'CertRotator.Reader': 0, 'CertRotator.Operator': 1, 'CertRotator.Admin': 2 };

let api: ApiHarness;
beforeAll(async () => {
  api = await ApiHarness.start();
});
afterAll(() => api?.close());

interface RouteCase {
  readonly name: string;
  readonly method: string;
  readonly role: Role;
  readonly success: number;
  /** Builds the request against a freshly prepared app. */
  readonly prepare: () => Promise<{ path: string; body?: unknown }>;
}

async function existingApp(): Promise<string> {
  const appId = randomUUID();
  api.directory.add(appId, `Existing ${appId.slice(0, 4)}`);
  await api.service.putApp(appId, { lifetimeDays: 200 }, { caller: { oid: randomUUID(), name: 'seed' } });
  return appId;
}

const routes: RouteCase[] = [
  { name: 'GET /api/apps', method: 'GET', role: 'CertRotator.Reader', success: 200, prepare: () => Promise.resolve({ path: '/api/apps' }) },
  {
    name: 'GET /api/apps/{appId}',
    method: 'GET',
    role: 'CertRotator.Reader',
    success: 200,
    prepare: async () => ({ path: `/api/apps/${await existingApp()}` }),
  },
  {
    name: 'PUT /api/apps/{appId}',
    method: 'PUT',
    role: 'CertRotator.Admin',
    success: 201,
    prepare: () => {
      const appId = randomUUID();
      api.directory.add(appId, 'Brand New');
      return Promise.resolve({ path: `/api/apps/${appId}`, body: { lifetimeDays: 90 } });
    },
  },
  {
    name: 'PATCH /api/apps/{appId}',
    method: 'PATCH',
    role: 'CertRotator.Admin',
    success: 200,
    prepare: async () => ({ path: `/api/apps/${await existingApp()}`, body: { lifetimeDays: 400 } }),
  },
  {
    name: 'DELETE /api/apps/{appId}',
    method: 'DELETE',
    role: 'CertRotator.Admin',
    success: 204,
    prepare: async () => ({ path: `/api/apps/${await existingApp()}` }),
  },
  {
    name: 'GET /api/apps/{appId}/history',
    method: 'GET',
    role: 'CertRotator.Reader',
    success: 200,
    prepare: async () => ({ path: `/api/apps/${await existingApp()}/history` }),
  },
];

interface TokenCase {
  readonly name: string;
  readonly token: () => Promise<string | undefined>;
  /** The role granted, for the role cases; undefined for the bad-token cases (always 401). */
  readonly role?: Role;
  /** What the 401 says, in plain words (problem detail and the challenge's error_description). */
  readonly says?: RegExp;
}

const now = () => Date.now();
const tokens: TokenCase[] = [
  { name: 'no token', token: () => Promise.resolve(undefined) },
  {
    name: 'expired (beyond the 5 minutes of skew)',
    says: /^The token expired at \d{4}-\d\d-\d\dT[\d:.]+Z \(it is now \d{4}-[\d:.T-]+Z\): get a new one$/,
    token: () =>
      api.authority.issueAccessToken({
        tenantId: api.tenantId,
        audience: API_AUDIENCE,
        roles: ['CertRotator.Admin'],
        notBefore: new Date(now() - 70 * MINUTE),
        expiresAt: new Date(now() - 6 * MINUTE),
      }),
  },
  {
    name: 'not yet valid (beyond the 5 minutes of skew)',
    says: /^The token is not valid before \d{4}-[\d:.T-]+Z \(it is now /,
    token: () =>
      api.authority.issueAccessToken({
        tenantId: api.tenantId,
        audience: API_AUDIENCE,
        roles: ['CertRotator.Admin'],
        notBefore: new Date(now() + 6 * MINUTE),
        expiresAt: new Date(now() + 66 * MINUTE),
      }),
  },
  {
    name: 'wrong audience',
    says: /^The token is for audience api:\/\/someone-else; this API accepts api:\/\/entra-cert-rotator-test or /,
    token: () => api.authority.issueAccessToken({ tenantId: api.tenantId, audience: 'api://someone-else', roles: ['CertRotator.Admin'] }),
  },
  {
    name: 'wrong issuer',
    says: /^The token was issued by https:\/\/login\.evil\.example\/.*; this API accepts tokens of tenant /,
    token: () =>
      api.authority.issueAccessToken({
        tenantId: api.tenantId,
        audience: API_AUDIENCE,
        roles: ['CertRotator.Admin'],
        issuer: `https://login.evil.example/${api.tenantId}/v2.0`,
      }),
  },
  {
    name: 'wrong tenant',
    says: /^The token (was issued by https:\/\/.*; this API accepts tokens of tenant |is signed with a key the issuer does not publish)/,
    token: () => api.authority.issueAccessToken({ tenantId: randomUUID(), audience: API_AUDIENCE, roles: ['CertRotator.Admin'] }),
  },
  {
    name: 'bad signature',
    says: /^The token('s signature does not verify| is signed with a key the issuer does not publish)/,
    token: () =>
      api.authority.issueAccessToken({
        tenantId: api.tenantId,
        audience: API_AUDIENCE,
        roles: ['CertRotator.Admin'],
        signWith: 'foreign-key',
      }),
  },
  {
    name: 'alg none',
    says: /^The token (is not a well-formed JWT|is signed with an algorithm this API does not accept)/,
    token: () =>
      api.authority.issueAccessToken({ tenantId: api.tenantId, audience: API_AUDIENCE, roles: ['CertRotator.Admin'], signWith: 'none' }),
  },
  { name: 'Reader', role: 'CertRotator.Reader', token: () => api.token('CertRotator.Reader') },
  { name: 'Operator', role: 'CertRotator.Operator', token: () => api.token('CertRotator.Operator') },
  { name: 'Admin', role: 'CertRotator.Admin', token: () => api.token('CertRotator.Admin') },
];

const cases = routes.flatMap((route) =>
  tokens.map((token) => {
    const expected = token.role === undefined ? 401 : ROLE_RANK[token.role] >= ROLE_RANK[route.role] ? route.success : 403;
    return { route, token, expected, title: `${route.name} with ${token.name} → ${expected}` };
  }),
);

describe('authentication and authorization of every /api/apps route', () => {
  it.each(cases)('$title', async ({ route, token, expected }) => {
    const request = await route.prepare();
    const before = await snapshotTable(api.table);
    const response = await api.call({ method: route.method, path: request.path, body: request.body, token: await token.token() });
    expect(response.status, response.text).toBe(expected);

    if (expected === 401) {
      const challenge = response.headers.get('www-authenticate') ?? '';
      expect(challenge).toMatch(/^Bearer realm="entra-cert-rotator"/);
      if (token.name === 'no token') expect(challenge).not.toContain('error=');
      else expect(challenge).toContain('error="invalid_token"');
      if (token.says) {
        const detail = (response.json as { detail: string }).detail;
        expect(detail).toMatch(token.says);
        // The same words in the challenge, its quoted-string intact (RFC 6750: no " inside).
        const description = /error_description="([^"]*)"/.exec(challenge)?.[1];
        expect(description).toBe(detail.replace(/"/g, "'"));
      }
    }
    if (expected >= 400) {
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json).toMatchObject({ status: expected, instance: request.path.split('?')[0] });
      expect(await snapshotTable(api.table)).toBe(before);
    }
    if (expected === 403) expect((response.json as { detail: string }).detail).toContain(route.role);
  });
});

describe('accepted token shapes', () => {
  it('accepts a v1 token (issuer https://sts.windows.net/{tenant}/) for the client-id audience', async () => {
    const token = await api.authority.issueAccessToken({
      tenantId: api.tenantId,
      audience: API_CLIENT_ID,
      roles: ['CertRotator.Reader'],
      version: 1,
    });
    expect((await api.call({ method: 'GET', path: '/api/apps', token })).status).toBe(200);
  });

  it('accepts a token within the 5 minutes of clock skew on either side', async () => {
    const expiredJustNow = await api.authority.issueAccessToken({
      tenantId: api.tenantId,
      audience: API_AUDIENCE,
      roles: ['CertRotator.Reader'],
      notBefore: new Date(now() - 60 * MINUTE),
      expiresAt: new Date(now() - 4 * MINUTE),
    });
    const validSoon = await api.authority.issueAccessToken({
      tenantId: api.tenantId,
      audience: API_AUDIENCE,
      roles: ['CertRotator.Reader'],
      notBefore: new Date(now() + 4 * MINUTE),
      expiresAt: new Date(now() + 60 * MINUTE),
    });
    expect((await api.call({ method: 'GET', path: '/api/apps', token: expiredJustNow })).status).toBe(200);
    expect((await api.call({ method: 'GET', path: '/api/apps', token: validSoon })).status).toBe(200);
  });

  it('rejects a token without roles with 403, and a malformed Authorization header with 401', async () => {
    expect((await api.call({ method: 'GET', path: '/api/apps', token: await api.token(undefined) })).status).toBe(403);
    const basic = await api.call({ method: 'GET', path: '/api/apps', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('fetches the OpenID metadata once and reuses it', async () => {
    for (let i = 0; i < 3; i += 1) await api.call({ method: 'GET', path: '/api/apps', token: await api.token('CertRotator.Reader') });
    // Every test in this file used the same authenticator: one discovery, one JWKS fetch.
    expect(api.authority.server.count('openid-configuration')).toBe(1);
    expect(api.authority.server.count('keys')).toBe(1);
  });
});
