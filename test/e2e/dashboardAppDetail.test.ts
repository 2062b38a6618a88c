import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPS_TABLE_NAME, createTableClient } from '../../src/lib/composition.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import { dashboardApi } from '../support/dashboardApi.js';
import { chromiumMissing, startDashboardBrowser, type DashboardBrowser } from '../support/dashboardBrowser.js';
import { skipAllWhen } from '../support/skipWithReason.js';
import { managedConfig } from '../support/storedAppFixture.js';

/**
 * The dashboard's app page in Chromium against `npm run sandbox` (see dashboard.test.ts): the config
 * form against another Admin's save (a conflict is explained, their change kept) and against the
 * row's own renewal state (no false conflict), an error the API names below a field shown at it, the
 * history page by page, the public certificate for every role, removal by typed thumbprint (the
 * last valid one only with force confirmed twice), and Stop managing for an app without a name.
 */

let world: DashboardBrowser;
let sandbox: DashboardBrowser['sandbox'];
let work: string;
let api: ReturnType<typeof dashboardApi>;
const signIn = (role: 'Reader' | 'Operator' | 'Admin') => world.signIn(role);

describe("the dashboard's app page in Chromium", () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    world = await startDashboardBrowser({ prefix: 'ecr-dashboard-app-' });
    sandbox = world.sandbox;
    work = world.work;
    api = dashboardApi(world);
    // The second demo app managed with one certificate: the last valid one of its app registration.
    const { appId } = sandbox.info.apps.unmanaged;
    const put = await api.apiCall('Admin', 'PUT', `/apps/${appId}`, { notifications: { enabled: false } });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const generated = await api.apiCall('Operator', 'POST', `/apps/${appId}/certificates`);
    expect(generated.status, JSON.stringify(generated.body)).toBe(201);
  }, 240_000);
  afterAll(async () => {
    await world?.close();
  });

  it('shows an error the API names below a field (notifications.recipients.0) beside that field', async () => {
    const { appId } = sandbox.info.apps.managed;
    const page = await signIn('Admin');
    await api.openApp(page, appId);
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
        (await api.apiCall('Reader', 'GET', `/apps/${appId}`)).body as { config: { notifications: { recipients: string[] } } }
      ).config.notifications.recipients.join(', '),
    ).toBe(before);
  }, 120_000);

  it("keeps another Admin's change on a conflict: the form takes it, names it, and saves only what this Admin changed", async () => {
    const { appId } = sandbox.info.apps.managed;
    const start = await api.configOf(appId);
    const theirs = start.renewBeforeDays === 20 ? 21 : 20;
    const mine = start.keySize === 3072 ? 4096 : 3072;
    const page = await signIn('Admin');
    await api.openApp(page, appId);
    await page.locator('#f-keySize').fill(String(mine));
    // Another Admin saves meanwhile.
    const other = await api.apiCall('Admin', 'PATCH', `/apps/${appId}`, { renewBeforeDays: theirs });
    expect(other.status, JSON.stringify(other.body)).toBe(200);

    await page.getByRole('button', { name: 'Save' }).click();
    const conflict = page.locator('.message-conflict');
    await conflict.waitFor();
    expect(await conflict.textContent()).toContain(`Renew before expiry (days): ${start.renewBeforeDays} → ${theirs}`);
    expect(await page.locator('#f-renewBeforeDays').inputValue()).toBe(String(theirs));
    expect(await page.locator('#f-keySize').inputValue()).toBe(String(mine));
    expect(await api.configOf(appId)).toMatchObject({ renewBeforeDays: theirs, keySize: start.keySize });

    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.message-ok', { hasText: 'Saved.' }).waitFor();
    expect(await api.configOf(appId)).toMatchObject({ renewBeforeDays: theirs, keySize: mine });
  }, 120_000);

  it('has no false conflict after a Generate or a renewal changed only the renewal state', async () => {
    const { appId } = sandbox.info.apps.managed;
    const page = await signIn('Admin');
    const patches: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH') patches.push(r.url());
    });
    await api.openApp(page, appId);
    // Another Admin's change, then this Admin's own Generate: the unedited form takes the newer version.
    const start = await api.configOf(appId);
    const theirs = start.renewBeforeDays === 14 ? 15 : 14;
    expect((await api.apiCall('Admin', 'PATCH', `/apps/${appId}`, { renewBeforeDays: theirs })).status).toBe(200);
    await page.getByRole('button', { name: 'Generate a new certificate now' }).click();
    await page.getByRole('status').filter({ hasText: 'Deployed certificate' }).waitFor();
    await expect.poll(() => page.locator('#f-renewBeforeDays').inputValue()).toBe(String(theirs));
    const lifetime = start.lifetimeDays === 60 ? 61 : 60;
    await page.locator('#f-lifetimeDays').fill(String(lifetime));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.message-ok', { hasText: 'Saved.' }).waitFor();
    expect(await api.configOf(appId)).toMatchObject({ renewBeforeDays: theirs, lifetimeDays: lifetime });

    // A renewal the page did not see (an Operator's, through the API) changes the row's ETag only: the save retries by itself.
    patches.length = 0;
    const generated = await api.apiCall('Operator', 'POST', `/apps/${appId}/certificates`);
    expect(generated.status, JSON.stringify(generated.body)).toBe(201);
    await page.locator('#f-lifetimeDays').fill(String(lifetime + 1));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.message-ok', { hasText: 'Saved.' }).waitFor();
    expect(patches).toHaveLength(2);
    expect(await page.locator('.message-conflict').count()).toBe(0);
    expect(await api.configOf(appId)).toMatchObject({ renewBeforeDays: theirs, lifetimeDays: lifetime + 1 });
  }, 120_000);

  it('reads the history page by page', async () => {
    const { appId } = sandbox.info.apps.managed;
    const start = await api.configOf(appId);
    // 30 config changes, each one history entry: more than the page's 25.
    for (let i = 1; i <= 30; i += 1) {
      const changed = await api.apiCall('Admin', 'PATCH', `/apps/${appId}`, { renewBeforeDays: start.renewBeforeDays + (i % 2) });
      expect(changed.status).toBe(200);
    }
    let total = 0;
    for (let token: string | undefined, first = true; first || token !== undefined; first = false) {
      const listed = await api.apiCall(
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
    await api.openApp(page, appId);
    const rows = page.locator('section table').last().locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(25);
    while ((await page.getByRole('button', { name: 'More history' }).count()) > 0) {
      const shown = await rows.count();
      await page.getByRole('button', { name: 'More history' }).click();
      await expect.poll(() => rows.count()).toBeGreaterThan(shown);
    }
    expect(await rows.count()).toBe(total);
  }, 120_000);

  it('downloads the public certificate for every role; an Admin removes one by typing its thumbprint, the last valid one only with force confirmed twice', async () => {
    const { appId } = sandbox.info.apps.managed;
    const reader = await signIn('Reader');
    await api.openApp(reader, appId);
    const current = (await api.certificatesOf(appId)).find((c: { status: string }) => c.status === 'current') as { thumbprint: string };
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
    await api.openApp(admin, appId);
    const older = (await api.certificatesOf(appId)).find((c: { status: string }) => c.status !== 'current') as {
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
    const left = (await api.certificatesOf(appId)) as { keyId: string }[];
    expect(left.map((c) => c.keyId)).not.toContain(older.keyId);

    // The second app has one certificate: the API refuses, says why, and force needs a second confirmation.
    const other = sandbox.info.apps.unmanaged.appId;
    const [only] = (await api.certificatesOf(other)) as { thumbprint: string }[];
    await api.openApp(admin, other);
    await admin.getByRole('button', { name: `Remove ${only!.thumbprint}` }).click();
    const last = admin.getByRole('form', { name: `Remove certificate ${only!.thumbprint}` });
    await last.getByRole('textbox').fill(only!.thumbprint);
    await last.getByRole('button', { name: 'Remove certificate' }).click();
    const refusal = last.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('last valid certificate');
    expect(await api.certificatesOf(other)).toHaveLength(1);
    const force = last.getByRole('button', { name: 'Remove the last valid certificate anyway' });
    expect(await force.isDisabled()).toBe(true);
    await last.getByLabel(/I understand/).check();
    await force.click();
    await last.waitFor({ state: 'detached' });
    expect(await api.certificatesOf(other)).toHaveLength(0);
  }, 120_000);

  it('confirms stopping the management of an app without a display name by its id, not by an empty name', async () => {
    const other = sandbox.info.apps.unmanaged.appId;
    expect((await api.apiCall('Admin', 'DELETE', `/apps/${other}`)).status).toBe(204);
    // A name of blanks passes the stored config's check (min 1); only the store's own import writes it as is.
    const emulators = sandbox.info.emulators as unknown as { azuriteConnectionString: string; keyVault: string };
    const store = new AppStore(
      createTableClient({ kind: 'connectionString', connectionString: emulators.azuriteConnectionString }, APPS_TABLE_NAME),
    );
    await store.importApps([{ config: managedConfig(other, ' ', { vaultUrl: emulators.keyVault, certificateName: 'blank-name' }) }]);
    const page = await signIn('Admin');
    await api.openApp(page, other);
    const stop = page.getByRole('button', { name: 'Stop managing' });
    await page.getByLabel(/to confirm/).fill(' ');
    expect(await stop.isDisabled()).toBe(true);
    await page.getByLabel(/to confirm/).fill(other);
    await stop.click();
    await page.getByRole('heading', { name: 'Managed apps' }).waitFor();
    expect((await api.apiCall('Reader', 'GET', `/apps/${other}`)).status).toBe(404);
  }, 120_000);
});
