import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import functions, { type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardHandler } from '../../src/functions/dashboard.js';
import { problemSchema } from '../../src/lib/http/problem.js';
import { DashboardSite, dashboardSignIn, type DashboardSignIn } from '../../src/lib/ui/dashboardSite.js';
import { installFunctionsCore, registeredFunctions } from '../../tools/local-host/functionsCore.js';
import { startHttpTriggers, type HttpTriggerHost } from '../../tools/local-host/httpTrigger.js';
import { ensureWebBuild } from '../support/webBuild.js';

const { HttpRequest, InvocationContext } = functions;

const SIGN_IN: DashboardSignIn = {
  clientId: '5a4db0c5-0000-4000-8000-0000000000a1',
  authority: 'https://login.example.test/5a4db0c5-0000-4000-8000-000000000000',
  knownAuthorities: ['login.example.test'],
  scopes: ['api://rotator/user_impersonation'],
};

let work: string;
let root: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ecr-dashboard-'));
  root = join(work, 'web');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><script type="module" src="/api/ui/assets/index-AbCd1234.js"></script>');
  writeFileSync(join(root, 'assets', 'index-AbCd1234.js'), 'console.log(1)');
  writeFileSync(join(root, 'assets', 'index-AbCd1234.js.map'), '{}');
  writeFileSync(join(work, 'secret.txt'), 'outside the build');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function get(
  site: DashboardSite,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<HttpResponseInit & { headers: Headers }> {
  const handler = createDashboardHandler(() => site);
  const request = new HttpRequest({ method, url: `https://rotator.example/api/ui/${path}`, headers, params: { path } });
  const response = (await handler(
    request,
    new InvocationContext({ invocationId: randomUUID(), functionName: 'dashboard' }),
  )) as HttpResponseInit;
  return { ...response, headers: new Headers(response.headers) };
}

describe('the dashboard site (src/lib/ui/dashboardSite.ts)', () => {
  it('serves the entry page revalidated on every load, with a strict policy: no inline script or style, never framed', async () => {
    const site = DashboardSite.load(root, SIGN_IN);
    for (const path of ['', 'index.html']) {
      const response = await get(site, path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const csp = response.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      // API calls to the page's own origin, token requests to the authority, nothing else.
      expect(csp).toContain("connect-src 'self' https://login.example.test;");
      // No frames at all: MSAL renews with the refresh token only (web/src/auth.ts), so default-src 'none' governs them.
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('frame-src');
      expect(csp).toContain("img-src 'self';");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('caches hashed assets for a year and answers a matching If-None-Match with 304', async () => {
    const site = DashboardSite.load(root, SIGN_IN);
    const asset = await get(site, 'assets/index-AbCd1234.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const again = await get(site, 'assets/index-AbCd1234.js', { 'if-none-match': asset.headers.get('etag')! });
    expect(again.status).toBe(304);
    expect(again.body).toBeUndefined();
    expect((await get(site, 'index.html', { 'if-none-match': asset.headers.get('etag')! })).status).toBe(200);
  });

  it('serves only what the build holds: no source map, nothing outside it, 404 otherwise', async () => {
    const site = DashboardSite.load(root, SIGN_IN);
    for (const path of ['assets/index-AbCd1234.js.map', '../secret.txt', 'assets/../../secret.txt', '/etc/passwd', 'nope.js']) {
      const response = await get(site, path);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(problemSchema.parse(JSON.parse(response.body as string))).toMatchObject({
        type: 'urn:entra-cert-rotator:problem:not-found',
        status: 404,
        instance: new URL(`https://rotator.example/api/ui/${path}`).pathname,
      });
    }
  });

  it('sends /api/ui to /api/ui/ (the redirect URI) and refuses methods but GET', async () => {
    const site = DashboardSite.load(root, SIGN_IN);
    const response = await get(site, '');
    expect(response.status).toBe(200);
    const handler = createDashboardHandler(() => site);
    const bare = (await handler(
      new HttpRequest({ method: 'GET', url: 'https://rotator.example/api/ui', params: {} }),
      new InvocationContext({ invocationId: randomUUID(), functionName: 'dashboard' }),
    )) as HttpResponseInit;
    expect(bare.status).toBe(308);
    expect(new Headers(bare.headers).get('location')).toBe('/api/ui/');
    expect((await get(site, 'index.html', {}, 'POST')).status).toBe(405);
  });

  it('serves the sign-in settings as config.json, and says so when it cannot (503) or is not built', async () => {
    const configured = await get(DashboardSite.load(root, SIGN_IN), 'config.json');
    expect(configured.status).toBe(200);
    expect(configured.headers.get('cache-control')).toBe('no-cache');
    expect(JSON.parse((configured.body as Buffer).toString('utf8'))).toEqual(SIGN_IN);
    const unconfigured = await get(DashboardSite.load(root, undefined), 'config.json');
    expect(unconfigured.status).toBe(503);
    expect(unconfigured.body as string).toContain('API_AUDIENCE');
    const unbuilt = await get(DashboardSite.load(join(root, 'absent'), SIGN_IN), '');
    expect(unbuilt.status).toBe(503);
    expect(unbuilt.body as string).toContain('npm run build');
    // In the API's problem shape (its problemSchema), the request's path and invocation id included.
    for (const [response, instance] of [
      [unconfigured, '/api/ui/config.json'],
      [unbuilt, '/api/ui/'],
    ] as const) {
      const problem = problemSchema.parse(JSON.parse(response.body as string));
      expect(problem).toMatchObject({ type: 'urn:entra-cert-rotator:problem:dashboard-unavailable', status: 503, instance });
      expect(problem.invocationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });

  it.each([
    [['api://rotator', '5a4db0c5-0000-4000-8000-0000000000a1'], '5a4db0c5-0000-4000-8000-0000000000a1', 'api://rotator/user_impersonation'],
    [
      ['api://5a4db0c5-0000-4000-8000-0000000000a1'],
      '5a4db0c5-0000-4000-8000-0000000000a1',
      'api://5a4db0c5-0000-4000-8000-0000000000a1/user_impersonation',
    ],
    [
      ['5a4db0c5-0000-4000-8000-0000000000a1'],
      '5a4db0c5-0000-4000-8000-0000000000a1',
      'api://5a4db0c5-0000-4000-8000-0000000000a1/user_impersonation',
    ],
    [['api://rotator'], undefined, undefined],
  ])('takes the client id and scope from API_AUDIENCE %j', (apiAudiences, clientId, scope) => {
    const signIn = dashboardSignIn({ authorityHost: 'https://login.microsoftonline.com/', apiTenantId: 't', apiAudiences });
    expect(signIn?.clientId).toBe(clientId);
    expect(signIn?.scopes[0]).toBe(scope);
    if (signIn) expect(signIn.authority).toBe('https://login.microsoftonline.com/t');
  });
});

describe('the dashboard as src/index.ts registers it, on the local host, with the real build', () => {
  let host: HttpTriggerHost;
  const saved = { ...process.env };
  beforeAll(async () => {
    await ensureWebBuild();
    Object.assign(process.env, {
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      MANAGED_TENANT_ID: randomUUID(),
      DEFAULT_KEYVAULT_URL: 'https://contract-test.vault.azure.net/',
      API_AUDIENCE: `api://dashboard-test,${SIGN_IN.clientId}`,
      API_TENANT_ID: randomUUID(),
    });
    installFunctionsCore({ log: () => {} });
    await import('../../src/index.js');
    const http = registeredFunctions().filter((f) => f.trigger.type.toLowerCase() === 'httptrigger');
    host = await startHttpTriggers({ functions: http, routePrefix: 'api', port: 0, logHandler: () => () => {} });
  }, 120_000);
  afterAll(async () => {
    await host?.close();
    process.env = saved;
  });

  it('serves the built page at /api/ui/ with nothing inline, and each asset it names', async () => {
    const base = new URL(host.url);
    const page = await fetch(new URL('/api/ui/', base));
    expect(page.status).toBe(200);
    const html = await page.text();
    // No inline script, no <style>, no style attribute, no event-handler attribute: the policy would refuse each.
    expect([...html.matchAll(/<script\b[^>]*>/g)].every(([tag]) => / src="\/api\/ui\/assets\//.test(tag))).toBe(true);
    expect(html).not.toMatch(/<style\b| style=| on[a-z]+=/i);
    const assets = [...html.matchAll(/(?:src|href)="(\/api\/ui\/assets\/[^"]+)"/g)].map(([, path]) => path!);
    expect(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css'))).toBe(true);
    // The tab's icon is a file of the build, so the browser asks for no /favicon.ico (a 404 on every load).
    expect(html).toMatch(/<link rel="icon" type="image\/svg\+xml" href="\/api\/ui\/assets\/icon-[\w-]+\.svg"/);
    expect(assets.some((a) => a.endsWith('.svg'))).toBe(true);
    for (const asset of assets) {
      const response = await fetch(new URL(asset, base));
      expect(response.status, asset).toBe(200);
      expect(response.headers.get('cache-control')).toContain('immutable');
      expect(readFileSync(join('dist', 'web', asset.replace('/api/ui/', '')), 'utf8')).toBe(await response.text());
    }
    const config = (await (await fetch(new URL('/api/ui/config.json', base))).json()) as DashboardSignIn;
    expect(config).toMatchObject({ clientId: SIGN_IN.clientId, scopes: ['api://dashboard-test/user_impersonation'] });
    expect((await fetch(new URL('/api/ui', base), { redirect: 'manual' })).headers.get('location')).toBe('/api/ui/');
  });
});
