import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EntraAuthority } from './entraAuthority.js';
import { loadOrCreateEmulatorTls } from './tls.js';

const tenantId = randomUUID();
const clientId = randomUUID();
const ORIGIN = 'http://localhost:7071';
const REDIRECT = `${ORIGIN}/api/ui/`;
const SCOPE = 'api://rotator-test/user_impersonation';
const admin = {
  tenantId,
  oid: randomUUID(),
  name: 'Ada <img src=x onerror=alert(1)>',
  username: 'ada@contoso.example',
  appRoles: ['CertRotator.Admin'],
};
let authority: EntraAuthority;

beforeAll(async () => {
  authority = new EntraAuthority({ tls: loadOrCreateEmulatorTls(inject('emulatorTlsDir')) });
  await authority.start();
  authority.signIn.registerSinglePageApp({
    tenantId,
    clientId,
    appIdUri: 'api://rotator-test',
    redirectUris: [REDIRECT],
    scopes: ['user_impersonation'],
  });
  authority.signIn.addUser(admin);
  authority.signIn.addUser({
    tenantId,
    oid: randomUUID(),
    name: 'Rita Reader',
    username: 'rita@contoso.example',
    appRoles: ['CertRotator.Reader'],
  });
});
afterAll(() => authority?.close());

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(params: Record<string, string | undefined>): string {
  const url = new URL(`${authority.url}/${tenantId}/oauth2/v2.0/authorize`);
  const defaults = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: `${SCOPE} openid profile offline_access`,
    state: 's1',
    nonce: 'n1',
    response_mode: 'fragment',
    code_challenge_method: 'S256',
  };
  for (const [key, value] of Object.entries({ ...defaults, ...params })) if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}

/** The picker page, then the pick: the redirect back with the code. */
/** `method` null sends no code_challenge_method at all. */
async function signIn(challenge: string, pick = admin.oid, method: string | null = 'S256'): Promise<URL> {
  const picker = await fetch(authorizeUrl({ code_challenge: challenge, code_challenge_method: method ?? undefined }));
  expect(picker.status).toBe(200);
  const html = await picker.text();
  const request = /name="request" value="([^"]+)"/.exec(html)![1]!;
  const back = await fetch(`${authority.url}/${tenantId}/oauth2/v2.0/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request, user: pick }),
    redirect: 'manual',
  });
  expect(back.status).toBe(302);
  return new URL(back.headers.get('location')!);
}

function redeem(form: Record<string, string>, origin: string | null = ORIGIN): Promise<Response> {
  return fetch(authority.tokenEndpointFor(tenantId), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
    body: new URLSearchParams({ client_id: clientId, scope: `${SCOPE} openid profile offline_access`, ...form }),
  });
}

describe('the authority signs a person in to a single-page app (authorization code with PKCE)', () => {
  it('shows a page to pick a user, names as text, and sends the code back in the fragment', async () => {
    const picker = await fetch(authorizeUrl({ code_challenge: pkce().challenge }));
    const html = await picker.text();
    expect(html).toContain('Ada &#60;img src=x onerror=alert(1)&#62;');
    expect(html).not.toContain('<img');
    expect(html).toContain('Rita Reader');
    const { challenge } = pkce();
    const back = await signIn(challenge);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    const fragment = new URLSearchParams(back.hash.slice(1));
    expect(fragment.get('state')).toBe('s1');
    expect(fragment.get('code')).toMatch(/^[\w-]{40,}$/);
    expect(JSON.parse(Buffer.from(fragment.get('client_info')!, 'base64url').toString('utf8'))).toEqual({ uid: admin.oid, utid: tenantId });
  });

  it('redeems the code once, cross-origin, for an access token with the roles and scope the API checks', async () => {
    const { verifier, challenge } = pkce();
    const code = new URLSearchParams((await signIn(challenge)).hash.slice(1)).get('code')!;
    const response = await redeem({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const body = (await response.json()) as Record<string, string>;
    const claims = await authority.verifyAccessToken(body.access_token!, [clientId]);
    expect(claims).toMatchObject({
      aud: clientId,
      oid: admin.oid,
      roles: ['CertRotator.Admin'],
      scp: 'user_impersonation',
      ver: '2.0',
      tid: tenantId,
    });
    const idToken = JSON.parse(Buffer.from(body.id_token!.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(idToken).toMatchObject({ aud: clientId, nonce: 'n1', preferred_username: admin.username });

    const again = await redeem({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error_codes: number[] }).error_codes).toEqual([54005]);

    // The refresh token works once, from the same origin, and is replaced.
    const refreshed = await redeem({ grant_type: 'refresh_token', refresh_token: body.refresh_token! });
    expect(refreshed.status).toBe(200);
    expect((await redeem({ grant_type: 'refresh_token', refresh_token: body.refresh_token! })).status).toBe(400);
  });

  it('refuses what Entra refuses: no PKCE, an unregistered redirect URI, a wrong verifier, no Origin', async () => {
    const noPkce = await fetch(authorizeUrl({}), { redirect: 'manual' });
    expect(noPkce.status).toBe(302);
    expect(new URLSearchParams(new URL(noPkce.headers.get('location')!).hash.slice(1)).get('error_description')).toMatch(/^AADSTS9002325:/);

    const elsewhere = await fetch(authorizeUrl({ redirect_uri: 'https://evil.example/', code_challenge: pkce().challenge }), {
      redirect: 'manual',
    });
    expect(elsewhere.status).toBe(200);
    expect(await elsewhere.text()).toContain('AADSTS50011');

    const silent = await fetch(authorizeUrl({ prompt: 'none', code_challenge: pkce().challenge }), { redirect: 'manual' });
    expect(new URLSearchParams(new URL(silent.headers.get('location')!).hash.slice(1)).get('error')).toBe('login_required');

    const { verifier, challenge } = pkce();
    const code = new URLSearchParams((await signIn(challenge)).hash.slice(1)).get('code')!;
    const wrong = await redeem({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: pkce().verifier });
    expect(((await wrong.json()) as { error_codes: number[] }).error_codes).toEqual([501481]);
    const noOrigin = await redeem({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, null);
    expect(((await noOrigin.json()) as { error_codes: number[] }).error_codes).toEqual([9002327]);
    const otherOrigin = await redeem(
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
      'https://evil.example',
    );
    expect(((await otherOrigin.json()) as { error_codes: number[] }).error_codes).toEqual([9002326]);
  });

  // Entra supports plain and S256 (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow); no method is plain (RFC 7636 §4.3).
  it.each([
    { method: 'S256', challengeOf: (v: string) => createHash('sha256').update(v).digest('base64url') },
    { method: 'plain', challengeOf: (v: string) => v },
    { method: null, challengeOf: (v: string) => v },
  ])('redeems a code whose challenge method is $method with its verifier only', async ({ method, challengeOf }) => {
    const verifier = pkce().verifier;
    const codeFor = async () => new URLSearchParams((await signIn(challengeOf(verifier), admin.oid, method)).hash.slice(1)).get('code')!;
    const form = (code: string, codeVerifier: string) => ({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: codeVerifier,
    });

    const code = await codeFor();
    // Under S256 the challenge itself (what a plain client would send) is a wrong verifier too.
    const wrongs = challengeOf(verifier) === verifier ? [pkce().verifier] : [pkce().verifier, challengeOf(verifier)];
    for (const wrong of wrongs) {
      const refused = await redeem(form(code, wrong));
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error_codes: number[] }).error_codes).toEqual([501481]);
    }
    const redeemed = await redeem(form(await codeFor(), verifier));
    expect(redeemed.status).toBe(200);
    expect(((await redeemed.json()) as { access_token?: string }).access_token).toBeTruthy();
  });

  it('refuses a challenge method it does not know, back at the redirect URI', async () => {
    const response = await fetch(authorizeUrl({ code_challenge: pkce().challenge, code_challenge_method: 'S512' }), { redirect: 'manual' });
    expect(response.status).toBe(302);
    const back = new URLSearchParams(new URL(response.headers.get('location')!).hash.slice(1));
    expect(back.get('error')).toBe('invalid_request');
    expect(back.get('error_description')).toContain("code_challenge_method 'S512'");
    expect(back.get('state')).toBe('s1');
    expect(back.get('code')).toBeNull();
  });

  it('lets a browser read its metadata and keys, and answers the token endpoint preflight for the origin', async () => {
    const metadata = await fetch(`${authority.url}/${tenantId}/v2.0/.well-known/openid-configuration`);
    expect(metadata.headers.get('access-control-allow-origin')).toBe('*');
    const preflight = await fetch(authority.tokenEndpointFor(tenantId), {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-anchormailbox',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type,x-anchormailbox');
  });

  it('sends a sign-out back to a registered address only', async () => {
    const out = await fetch(`${authority.url}/${tenantId}/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent(REDIRECT)}`, {
      redirect: 'manual',
    });
    expect(out.headers.get('location')).toBe(REDIRECT);
    const elsewhere = await fetch(`${authority.url}/${tenantId}/oauth2/v2.0/logout?post_logout_redirect_uri=https://evil.example/`, {
      redirect: 'manual',
    });
    expect(elsewhere.status).toBe(200);
  });
});
