import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  chromiumMissing,
  DASHBOARD_SCREENSHOTS as SHOTS,
  startDashboardBrowser,
  type DashboardBrowser,
} from '../support/dashboardBrowser.js';
import { dashboardApi } from '../support/dashboardApi.js';
import { importManagedFleet } from '../support/managedFleet.js';
import { skipAllWhen } from '../support/skipWithReason.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core, no browser download)
 * against `npm run sandbox` on free ports: sign-in through the emulated authority's pick-a-user page
 * for each role, what each is offered, an Operator's Generate, a PFX and a PEM generated and opened
 * with openssl, a config field error, an Entra display name shown as text, a client-secret app
 * flagged, no request to any origin but the page's and the authority's, no serious or critical
 * axe-core violation per view. The app page's own behaviour is in dashboardAppDetail.test.ts. Screenshots of each view go to
 * DASHBOARD_SCREENSHOTS (default .scratch/dashboard-screenshots), taken before any test changes the
 * demo apps, with a few more managed apps imported beside them: README shows overview.png and
 * timeline.png (as docs/images/dashboard-*.png).
 */

let world: DashboardBrowser;
let sandbox: DashboardBrowser['sandbox'];
let work: string;
const signIn = (role: 'Reader' | 'Operator' | 'Admin') => world.signIn(role);
let apiCall: ReturnType<typeof dashboardApi>['apiCall'];
let certificatesOf: ReturnType<typeof dashboardApi>['certificatesOf'];
let graphAsRotator: ReturnType<typeof dashboardApi>['graphAsRotator'];
let openApp: ReturnType<typeof dashboardApi>['openApp'];

describe('the dashboard in Chromium', () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    world = await startDashboardBrowser({ prefix: 'ecr-dashboard-e2e-' });
    sandbox = world.sandbox;
    work = world.work;
    ({ apiCall, certificatesOf, graphAsRotator, openApp } = dashboardApi(world));
    // Managed apps beside the demo one for the README's overview and timeline, none due for renewal
    // (days left: 64, 138, 175, 59, 286, 91), so the scheduler leaves them alone.
    for (const index of [2, 4, 5, 7, 8, 13]) await importManagedFleet(sandbox, index, 1);
  }, 240_000);
  afterAll(async () => {
    await world?.close();
  });

  it('signs in each role through the authority and offers each only what it may do', async () => {
    const managed = sandbox.info.apps.managed;
    for (const role of ['Reader', 'Operator', 'Admin'] as const) {
      const page = await signIn(role);
      await expect(page.getByRole('link', { name: managed.displayName }).textContent()).resolves.toBe(managed.displayName);
      expect(await page.locator('header .user').textContent()).toContain(`Sandbox ${role} (${role})`);
      // Tokens in sessionStorage (MSAL's cache), never localStorage.
      expect(await page.evaluate(() => localStorage.length)).toBe(0);
      await page.getByRole('link', { name: managed.displayName }).click();
      await page.getByRole('heading', { name: 'Certificates on the app registration' }).waitFor();
      const offered = {
        generate: await page.getByRole('button', { name: 'Generate a new certificate now' }).count(),
        pfx: await page.getByRole('button', { name: 'Generate and download PFX' }).count(),
        save: await page.getByRole('button', { name: 'Save' }).count(),
        stop: await page.getByRole('button', { name: 'Stop managing' }).count(),
        cer: await page.getByRole('button', { name: /^Download .*\.cer$/ }).count(),
        remove: await page.getByRole('button', { name: /^Remove / }).count(),
      };
      const certificates = await page.locator('table tbody tr:has(code)').count();
      expect(certificates).toBeGreaterThan(0);
      expect(offered).toEqual(
        role === 'Reader'
          ? { generate: 0, pfx: 0, save: 0, stop: 0, cer: certificates, remove: 0 }
          : role === 'Operator'
            ? { generate: 1, pfx: 0, save: 0, stop: 0, cer: certificates, remove: 0 }
            : { generate: 1, pfx: 1, save: 1, stop: 1, cer: certificates, remove: certificates },
      );
      expect(await page.locator('#f-lifetimeDays').isDisabled()).toBe(role !== 'Admin');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      expect(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes('accesstoken')).length)).toBe(0);
    }
  }, 120_000);

  it('has no serious or critical axe-core violation on any view, and screenshots each', async () => {
    const page = await signIn('Admin');
    const views: [string, string, string][] = [
      ['overview', '#/', 'Managed apps'],
      ['timeline', '#/timeline', 'Expiry timeline'],
      ['inventory', '#/inventory', 'Tenant inventory'],
      ['app', `#/apps/${sandbox.info.apps.managed.appId}`, sandbox.info.apps.managed.displayName],
    ];
    const found: Record<string, string[]> = {};
    for (const [name, hash, heading] of views) {
      await page.goto(`${sandbox.info.dashboardUrl}${hash}`);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      if (name === 'inventory') await page.getByRole('cell', { name: /Contoso Payments API/ }).waitFor();
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
      found[name] = await axeViolations(page);
    }
    expect(found).toEqual({ overview: [], timeline: [], inventory: [], app: [] });
  }, 120_000);

  it('lets an Admin generate a PFX that openssl opens with the password shown once, then keeps nothing', async () => {
    const page = await signIn('Admin');
    await page.getByRole('link', { name: sandbox.info.apps.managed.displayName }).click();
    await page.getByRole('button', { name: 'Generate and download PFX' }).click();
    const dialog = page.getByRole('dialog', { name: 'New private key: shown once' });
    await dialog.waitFor();
    const password = await dialog.getByLabel('PFX password').inputValue();
    expect(password.length).toBeGreaterThanOrEqual(16);
    await page.screenshot({ path: join(SHOTS, 'key-dialog.png') });
    const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: /^Download / }).click()]);
    const file = join(work, download.suggestedFilename());
    await download.saveAs(file);
    expect(download.suggestedFilename()).toMatch(/\.pfx$/);
    const subject = execFileSync('openssl', ['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nokeys', '-clcerts'], {
      encoding: 'utf8',
    });
    expect(subject).toContain('BEGIN CERTIFICATE');
    const key = execFileSync('openssl', ['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nocerts', '-nodes'], { encoding: 'utf8' });
    expect(key).toMatch(/BEGIN (RSA )?PRIVATE KEY/);

    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    const pfxBase64 = readFileSync(file).toString('base64').slice(0, 40);
    const kept = await page.evaluate<{ stores: string[]; databases: string[]; html: string }>(`(async () => ({
      stores: [JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })],
      databases: (await indexedDB.databases()).map((d) => d.name ?? ''),
      html: document.documentElement.outerHTML,
    }))()`);
    for (const text of [...kept.stores, kept.html]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(pfxBase64);
    }
    expect(kept.databases).toEqual([]);
  }, 120_000);

  it('lets an Operator generate a certificate, with no key offered', async () => {
    const { appId } = sandbox.info.apps.managed;
    const before = (await certificatesOf(appId)).length;
    const page = await signIn('Operator');
    await openApp(page, appId);
    await page.getByRole('button', { name: 'Generate a new certificate now' }).click();
    const notice = page.getByRole('status').filter({ hasText: 'Deployed certificate' });
    await notice.waitFor();
    const thumbprint = /Deployed certificate ([0-9A-F]{40})/i.exec((await notice.textContent()) ?? '')?.[1];
    expect(thumbprint).toBeDefined();
    // Said where the key lives, and the new certificate is in the table without a reload.
    expect(await notice.textContent()).toContain('Key Vault');
    await page.locator('table tbody code', { hasText: thumbprint! }).waitFor();
    expect(await page.getByRole('dialog').count()).toBe(0);
    expect((await certificatesOf(appId)).length).toBe(before + 1);
  }, 120_000);

  it('lets an Admin generate a PEM with what the API said about it, scheduled renewal off included', async () => {
    const { appId } = sandbox.info.apps.managed;
    const off = await apiCall('Admin', 'PATCH', `/apps/${appId}`, { enabled: false });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    try {
      const page = await signIn('Admin');
      await openApp(page, appId);
      await page.getByRole('button', { name: 'Generate and download PEM' }).click();
      const dialog = page.getByRole('dialog', { name: 'New private key: shown once' });
      await dialog.waitFor();
      const notices = await dialog.getByRole('list', { name: 'Notices' }).textContent();
      expect(notices).toContain('Key Vault');
      expect(notices).toMatch(/renew/i);
      expect(await dialog.getByLabel('PFX password').count()).toBe(0);
      const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: /^Download / }).click()]);
      const file = join(work, download.suggestedFilename());
      await download.saveAs(file);
      expect(download.suggestedFilename()).toMatch(/\.pem$/);
      const bundle = readFileSync(file, 'utf8');
      expect(bundle).toContain('BEGIN CERTIFICATE');
      expect(bundle).toContain('BEGIN PRIVATE KEY');
      // The key and the certificate in it are a pair: same public key.
      const fromCert = execFileSync('openssl', ['x509', '-noout', '-pubkey'], { input: bundle, encoding: 'utf8' });
      const fromKey = execFileSync('openssl', ['pkey', '-pubout'], { input: bundle, encoding: 'utf8' });
      expect(fromKey).toBe(fromCert);
    } finally {
      await apiCall('Admin', 'PATCH', `/apps/${appId}`, { enabled: true });
    }
  }, 120_000);

  it('shows the API field error beside the field when a config value is bad, and saves nothing', async () => {
    const page = await signIn('Admin');
    await page.getByRole('link', { name: sandbox.info.apps.managed.displayName }).click();
    await page.locator('#f-lifetimeDays').fill('5');
    await page.getByRole('button', { name: 'Save' }).click();
    const error = page.locator('#e-lifetimeDays');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/\S/);
    expect(await page.locator('#f-lifetimeDays').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: join(SHOTS, 'config-error.png'), fullPage: true });
    const stored = (await (
      await fetch(`${sandbox.info.apiBaseUrl}/apps/${sandbox.info.apps.managed.appId}`, {
        headers: { authorization: `Bearer ${sandbox.info.tokens.Reader}` },
      })
    ).json()) as { config: { lifetimeDays: number } };
    expect(stored.config.lifetimeDays).not.toBe(5);
  }, 120_000);

  it('shows a display name from Entra that holds markup as text', async () => {
    const { appId } = sandbox.info.apps.unmanaged;
    const hostile = '<img src=x onerror="window.__xss=1">Contoso Reporting';
    // As someone with rights on the app registration would rename it in Entra: through Graph, with the rotator's identity.
    const renamed = await graphAsRotator('PATCH', `/applications(appId='${appId}')`, { displayName: hostile });
    expect(renamed.status, renamed.body).toBe(204);
    const put = await fetch(`${sandbox.info.apiBaseUrl}/apps/${appId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${sandbox.info.tokens.Admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ notifications: { enabled: false } }),
    });
    expect(put.status, await put.clone().text()).toBe(201);
    // A certificate, so that the timeline draws the app.
    const generated = await apiCall('Operator', 'POST', `/apps/${appId}/certificates`);
    expect(generated.status, JSON.stringify(generated.body)).toBe(201);

    const page = await signIn('Reader');
    const link = page.getByRole('link', { name: hostile });
    expect(await link.textContent()).toBe(hostile);
    await page.goto(`${sandbox.info.dashboardUrl}#/timeline`);
    await page.getByRole('heading', { name: 'Expiry timeline' }).waitFor();
    const bar = page.locator('svg.timeline title', { hasText: 'Contoso Reporting' });
    expect(await bar.textContent()).toContain(`${hostile}: valid `);
    await page.goto(`${sandbox.info.dashboardUrl}#/apps/${appId}`);
    expect(await page.locator('#app-title').textContent()).toBe(hostile);
    await page.goto(`${sandbox.info.dashboardUrl}#/inventory`);
    await page.getByRole('heading', { name: 'Tenant inventory' }).waitFor();
    expect(await page.getByRole('link', { name: hostile }).textContent()).toBe(hostile);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  }, 120_000);

  it('flags an app that runs on a client secret in the inventory', async () => {
    const { appId, displayName } = sandbox.info.apps.managed;
    const page = await signIn('Reader');
    const flagOf = async () => {
      await page.goto(`${sandbox.info.dashboardUrl}#/inventory`);
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: displayName, exact: true }) });
      await row.waitFor();
      return row.locator('.tag', { hasText: 'runs on a client secret' }).count();
    };
    expect(await flagOf()).toBe(0);
    // A secret added in Entra, as an owner would (Graph's addPassword).
    const added = await graphAsRotator('POST', `/applications(appId='${appId}')/addPassword`, {
      passwordCredential: { displayName: 'legacy' },
    });
    expect(added.status, added.body).toBe(200);
    await page.reload();
    expect(await flagOf()).toBe(1);
  }, 120_000);

  it('sends no request to any origin but the page and the authority', async () => {
    // Signed in and through every view here, so that this holds on its own too.
    const page = await signIn('Admin');
    for (const hash of ['#/', '#/timeline', '#/inventory', `#/apps/${sandbox.info.apps.managed.appId}`]) {
      await page.goto(`${sandbox.info.dashboardUrl}${hash}`);
      await page.locator('main h2').first().waitFor();
    }
    await page.locator('#f-lifetimeDays').waitFor();
    expect(world.requested.size).toBeGreaterThan(0);
    expect([...world.requested].sort()).toEqual([new URL(sandbox.info.dashboardUrl).origin, sandbox.info.emulators.authority].sort());
  }, 120_000);
});
