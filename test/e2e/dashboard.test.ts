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
import { skipAllWhen } from '../support/skipWithReason.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core, no browser download)
 * against `npm run sandbox` on free ports: sign-in through the emulated authority's pick-a-user page
 * for each role, what each is offered, a PFX generated and opened with openssl, a config field error,
 * an Entra display name shown as text, no request to any origin but the page's and the authority's,
 * no serious or critical axe-core violation per view. Screenshots of each view go to
 * DASHBOARD_SCREENSHOTS (default .scratch/dashboard-screenshots).
 */

let world: DashboardBrowser;
let sandbox: DashboardBrowser['sandbox'];
let work: string;
const signIn = (role: 'Reader' | 'Operator' | 'Admin') => world.signIn(role);

describe('the dashboard in Chromium', () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    world = await startDashboardBrowser({ prefix: 'ecr-dashboard-e2e-' });
    sandbox = world.sandbox;
    work = world.work;
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
      };
      expect(offered).toEqual(
        role === 'Reader'
          ? { generate: 0, pfx: 0, save: 0, stop: 0 }
          : role === 'Operator'
            ? { generate: 1, pfx: 0, save: 0, stop: 0 }
            : { generate: 1, pfx: 1, save: 1, stop: 1 },
      );
      expect(await page.locator('#f-lifetimeDays').isDisabled()).toBe(role !== 'Admin');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      expect(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes('accesstoken')).length)).toBe(0);
    }
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
    const tenant = JSON.parse(readFileSync(join(work, 'state', 'tenant.json'), 'utf8')) as { identityHeader: string };
    const graph = sandbox.info.emulators.graph;
    const token = await world.emulatorCall(
      `${sandbox.info.emulators.authority}/msi/token?resource=${encodeURIComponent(graph)}&api-version=2019-08-01`,
      {
        method: 'GET',
        headers: { 'x-identity-header': tenant.identityHeader },
      },
    );
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token;
    const renamed = await world.emulatorCall(`${graph}/v1.0/applications(appId='${appId}')`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: hostile }),
    });
    expect(renamed.status, renamed.body).toBe(204);
    const put = await fetch(`${sandbox.info.apiBaseUrl}/apps/${appId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${sandbox.info.tokens.Admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ notifications: { enabled: false } }),
    });
    expect(put.status, await put.clone().text()).toBe(201);

    const page = await signIn('Reader');
    const link = page.getByRole('link', { name: hostile });
    expect(await link.textContent()).toBe(hostile);
    expect(await page.locator('table.apps img').count()).toBe(0);
    await page.goto(`${sandbox.info.dashboardUrl}#/timeline`);
    await page.getByRole('heading', { name: 'Expiry timeline' }).waitFor();
    expect(await page.evaluate('window.__xss')).toBeUndefined();
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

  it('sent no request to any origin but the page and the authority', () => {
    expect(world.requested.size).toBeGreaterThan(0);
    expect([...world.requested].sort()).toEqual([new URL(sandbox.info.dashboardUrl).origin, sandbox.info.emulators.authority].sort());
  });
});
