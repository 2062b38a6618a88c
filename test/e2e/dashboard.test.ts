import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPS_TABLE_NAME, createTableClient } from '../../src/lib/composition.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import {
  axeViolations,
  chromiumMissing,
  DASHBOARD_SCREENSHOTS as SHOTS,
  startDashboardBrowser,
  type DashboardBrowser,
} from '../support/dashboardBrowser.js';
import { importManagedFleet } from '../support/managedFleet.js';
import { skipAllWhen } from '../support/skipWithReason.js';
import { managedConfig } from '../support/storedAppFixture.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core, no browser download)
 * against `npm run sandbox` on free ports: sign-in through the emulated authority's pick-a-user page
 * for each role, what each is offered, a PFX generated and opened with openssl, a config field error,
 * an Entra display name shown as text, no request to any origin but the page's and the authority's,
 * no serious or critical axe-core violation per view. Screenshots of each view go to
 * DASHBOARD_SCREENSHOTS (default .scratch/dashboard-screenshots), taken before any test changes the
 * demo apps, with a few more managed apps imported beside them: README shows overview.png and
 * timeline.png (as docs/images/dashboard-*.png).
 */

let world: DashboardBrowser;
let sandbox: DashboardBrowser['sandbox'];
let work: string;
const signIn = (role: 'Reader' | 'Operator' | 'Admin') => world.signIn(role);

/** The API as another user would call it, with the sandbox's token for that role. */
async function apiCall(
  role: 'Reader' | 'Operator' | 'Admin',
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${sandbox.info.apiBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${sandbox.info.tokens[role]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: response.status,
    etag: response.headers.get('etag'),
    body: (await response.json().catch(() => undefined)) as Record<string, unknown>,
  };
}
type ListedCertificate = { keyId: string; thumbprint: string; status: string };
const certificatesOf = async (appId: string) =>
  ((await apiCall('Reader', 'GET', `/apps/${appId}/certificates`)).body as { items: ListedCertificate[] }).items;
type StoredConfig = { lifetimeDays: number; renewBeforeDays: number; keySize: number; enabled: boolean };
const configOf = async (appId: string) => ((await apiCall('Reader', 'GET', `/apps/${appId}`)).body as { config: StoredConfig }).config;

/** Opens an app's page and waits for its config form. */
async function openApp(page: Page, appId: string): Promise<void> {
  await page.goto(`${sandbox.info.dashboardUrl}#/apps/${appId}`);
  await page.locator('#f-lifetimeDays').waitFor();
}

describe('the dashboard in Chromium', () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    world = await startDashboardBrowser({ prefix: 'ecr-dashboard-e2e-' });
    sandbox = world.sandbox;
    work = world.work;
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

  it('shows an error the API names below a field (notifications.recipients.0) beside that field', async () => {
    const { appId } = sandbox.info.apps.managed;
    const page = await signIn('Admin');
    await openApp(page, appId);
    const recipients = page.locator('[id="f-notifications.recipients"]');
    const before = await recipients.inputValue();
    await recipients.fill('not-an-address');
    await page.getByRole('button', { name: 'Save' }).click();
    const error = page.locator('[id="e-notifications.recipients"]');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/\S/);
    expect(await recipients.getAttribute('aria-invalid')).toBe('true');
    expect(
      (
        (await apiCall('Reader', 'GET', `/apps/${appId}`)).body as { config: { notifications: { recipients: string[] } } }
      ).config.notifications.recipients.join(', '),
    ).toBe(before);
  }, 120_000);

  it("keeps another Admin's change on a conflict: the form takes it, names it, and saves only what this Admin changed", async () => {
    const { appId } = sandbox.info.apps.managed;
    const start = await configOf(appId);
    const theirs = start.renewBeforeDays === 20 ? 21 : 20;
    const mine = start.keySize === 3072 ? 4096 : 3072;
    const page = await signIn('Admin');
    await openApp(page, appId);
    await page.locator('#f-keySize').fill(String(mine));
    // Another Admin saves meanwhile.
    const other = await apiCall('Admin', 'PATCH', `/apps/${appId}`, { renewBeforeDays: theirs });
    expect(other.status, JSON.stringify(other.body)).toBe(200);

    await page.getByRole('button', { name: 'Save' }).click();
    const conflict = page.locator('.message-conflict');
    await conflict.waitFor();
    expect(await conflict.textContent()).toContain(`Renew before expiry (days): ${start.renewBeforeDays} → ${theirs}`);
    expect(await page.locator('#f-renewBeforeDays').inputValue()).toBe(String(theirs));
    expect(await page.locator('#f-keySize').inputValue()).toBe(String(mine));
    expect(await configOf(appId)).toMatchObject({ renewBeforeDays: theirs, keySize: start.keySize });

    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.message-ok', { hasText: 'Saved.' }).waitFor();
    expect(await configOf(appId)).toMatchObject({ renewBeforeDays: theirs, keySize: mine });
  }, 120_000);

  it('has no false conflict after a Generate or a renewal changed only the renewal state', async () => {
    const { appId } = sandbox.info.apps.managed;
    const page = await signIn('Admin');
    const patches: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH') patches.push(r.url());
    });
    await openApp(page, appId);
    // Another Admin's change, then this Admin's own Generate: the unedited form takes the newer version.
    const start = await configOf(appId);
    const theirs = start.renewBeforeDays === 14 ? 15 : 14;
    expect((await apiCall('Admin', 'PATCH', `/apps/${appId}`, { renewBeforeDays: theirs })).status).toBe(200);
    await page.getByRole('button', { name: 'Generate a new certificate now' }).click();
    await page.getByRole('status').filter({ hasText: 'Deployed certificate' }).waitFor();
    await expect.poll(() => page.locator('#f-renewBeforeDays').inputValue()).toBe(String(theirs));
    const lifetime = start.lifetimeDays === 60 ? 61 : 60;
    await page.locator('#f-lifetimeDays').fill(String(lifetime));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.message-ok', { hasText: 'Saved.' }).waitFor();
    expect(await configOf(appId)).toMatchObject({ renewBeforeDays: theirs, lifetimeDays: lifetime });

    // A renewal the page did not see (an Operator's, through the API) changes the row's ETag only: the save retries by itself.
    patches.length = 0;
    const generated = await apiCall('Operator', 'POST', `/apps/${appId}/certificates`);
    expect(generated.status, JSON.stringify(generated.body)).toBe(201);
    await page.locator('#f-lifetimeDays').fill(String(lifetime + 1));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.message-ok', { hasText: 'Saved.' }).waitFor();
    expect(patches).toHaveLength(2);
    expect(await page.locator('.message-conflict').count()).toBe(0);
    expect(await configOf(appId)).toMatchObject({ renewBeforeDays: theirs, lifetimeDays: lifetime + 1 });
  }, 120_000);

  it('reads the history page by page', async () => {
    const { appId } = sandbox.info.apps.managed;
    const start = await configOf(appId);
    // 30 config changes, each one history entry: more than the page's 25.
    for (let i = 1; i <= 30; i += 1) {
      const changed = await apiCall('Admin', 'PATCH', `/apps/${appId}`, { renewBeforeDays: start.renewBeforeDays + (i % 2) });
      expect(changed.status).toBe(200);
    }
    let total = 0;
    for (let token: string | undefined, first = true; first || token !== undefined; first = false) {
      const listed = await apiCall(
        'Reader',
        'GET',
        `/apps/${appId}/history?pageSize=100${token ? `&continuationToken=${encodeURIComponent(token)}` : ''}`,
      );
      const history = listed.body as { items: unknown[]; continuationToken?: string };
      total += history.items.length;
      token = history.continuationToken;
    }
    expect(total).toBeGreaterThan(30);
    const page = await signIn('Reader');
    await openApp(page, appId);
    const rows = page.locator('section table').last().locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(25);
    while ((await page.getByRole('button', { name: 'More history' }).count()) > 0) {
      const shown = await rows.count();
      await page.getByRole('button', { name: 'More history' }).click();
      await expect.poll(() => rows.count()).toBeGreaterThan(shown);
    }
    expect(await rows.count()).toBe(total);
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

  it('downloads the public certificate for every role; an Admin removes one by typing its thumbprint, the last valid one only with force confirmed twice', async () => {
    const { appId } = sandbox.info.apps.managed;
    const reader = await signIn('Reader');
    await openApp(reader, appId);
    const current = (await certificatesOf(appId)).find((c: { status: string }) => c.status === 'current') as { thumbprint: string };
    const [cer] = await Promise.all([
      reader.waitForEvent('download'),
      reader.getByRole('button', { name: `Download ${current.thumbprint}.cer` }).click(),
    ]);
    const cerFile = join(work, 'public.cer');
    await cer.saveAs(cerFile);
    expect(createHash('sha1').update(readFileSync(cerFile)).digest('hex').toUpperCase()).toBe(
      current.thumbprint.replaceAll(':', '').toUpperCase(),
    );
    const [pem] = await Promise.all([
      reader.waitForEvent('download'),
      reader.getByRole('button', { name: `Download ${current.thumbprint} as PEM` }).click(),
    ]);
    const pemText = readFileSync(await pem.path(), 'utf8');
    expect(pemText).toContain('BEGIN CERTIFICATE');
    expect(pemText).not.toContain('PRIVATE KEY');

    // An Admin removes an older one: nothing happens until its thumbprint is typed.
    const admin = await signIn('Admin');
    await openApp(admin, appId);
    const older = (await certificatesOf(appId)).find((c: { status: string }) => c.status !== 'current') as {
      thumbprint: string;
      keyId: string;
    };
    await admin.getByRole('button', { name: `Remove ${older.thumbprint}` }).click();
    const confirm = admin.getByRole('form', { name: `Remove certificate ${older.thumbprint}` });
    await confirm.getByRole('textbox').fill(older.thumbprint.slice(0, 39));
    expect(await confirm.getByRole('button', { name: 'Remove certificate' }).isDisabled()).toBe(true);
    await confirm.getByRole('textbox').fill(older.thumbprint);
    await confirm.getByRole('button', { name: 'Remove certificate' }).click();
    await confirm.waitFor({ state: 'detached' });
    await admin.locator('table tbody code', { hasText: older.thumbprint }).waitFor({ state: 'detached' });
    const left = (await certificatesOf(appId)) as { keyId: string }[];
    expect(left.map((c) => c.keyId)).not.toContain(older.keyId);

    // The renamed app has one certificate: the API refuses, says why, and force needs a second confirmation.
    const other = sandbox.info.apps.unmanaged.appId;
    const [only] = (await certificatesOf(other)) as { thumbprint: string }[];
    await openApp(admin, other);
    await admin.getByRole('button', { name: `Remove ${only!.thumbprint}` }).click();
    const last = admin.getByRole('form', { name: `Remove certificate ${only!.thumbprint}` });
    await last.getByRole('textbox').fill(only!.thumbprint);
    await last.getByRole('button', { name: 'Remove certificate' }).click();
    const refusal = last.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('last valid certificate');
    expect(await certificatesOf(other)).toHaveLength(1);
    const force = last.getByRole('button', { name: 'Remove the last valid certificate anyway' });
    expect(await force.isDisabled()).toBe(true);
    await last.getByLabel(/I understand/).check();
    await force.click();
    await last.waitFor({ state: 'detached' });
    expect(await certificatesOf(other)).toHaveLength(0);
  }, 120_000);

  it('confirms stopping the management of an app without a display name by its id, not by an empty name', async () => {
    const other = sandbox.info.apps.unmanaged.appId;
    expect((await apiCall('Admin', 'DELETE', `/apps/${other}`)).status).toBe(204);
    // A name of blanks passes the stored config's check (min 1); only the store's own import writes it as is.
    const emulators = sandbox.info.emulators as unknown as { azuriteConnectionString: string; keyVault: string };
    const store = new AppStore(
      createTableClient({ kind: 'connectionString', connectionString: emulators.azuriteConnectionString }, APPS_TABLE_NAME),
    );
    await store.importApps([{ config: managedConfig(other, ' ', { vaultUrl: emulators.keyVault, certificateName: 'blank-name' }) }]);
    const page = await signIn('Admin');
    await openApp(page, other);
    const stop = page.getByRole('button', { name: 'Stop managing' });
    await page.getByLabel(/to confirm/).fill(' ');
    expect(await stop.isDisabled()).toBe(true);
    await page.getByLabel(/to confirm/).fill(other);
    await stop.click();
    await page.getByRole('heading', { name: 'Managed apps' }).waitFor();
    expect((await apiCall('Reader', 'GET', `/apps/${other}`)).status).toBe(404);
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
