import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  chromiumMissing,
  DASHBOARD_SCREENSHOTS,
  startDashboardBrowser,
  type DashboardBrowser,
  type DashboardRole,
} from '../support/dashboardBrowser.js';
import { skipAllWhen } from '../support/skipWithReason.js';

/**
 * The dashboard's bulk-rotation view in Chromium against the sandbox (its host runs the renewals):
 * an Admin starts a rotation of chosen apps and follows it to completed, a retry of the start is the
 * same rotation, a missing reason is the API's field error beside the field, Reader and Operator see
 * the list but are offered no start, skipped apps show why, and the page stops polling once the
 * rotation completes or its page closes. Screenshots go beside the other views'.
 */

/** The page's poll period (web/src/views/Rotations.tsx); quiet for longer than two of them means stopped. */
const QUIET_MS = 4500;
const REASON = 'key rotation drill (INC-4242)';

let world: DashboardBrowser;

async function api<T>(
  method: string,
  path: string,
  role: DashboardRole,
  options: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${world.sandbox.info.apiBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${world.sandbox.info.tokens[role]}`,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  expect(response.ok, `${method} ${path}: ${response.status} ${text}`).toBe(true);
  return JSON.parse(text) as T;
}

interface RotationItem {
  id: string;
  reason: string;
  status: string;
}
const rotations = async () => (await api<{ items: RotationItem[] }>('GET', '/rotations', 'Reader')).items;

/** The page's GETs of one rotation from now on. */
function rotationReads(page: Page, id: string): { count: () => number } {
  let count = 0;
  page.on('request', (r) => {
    if (r.method() === 'GET' && r.url().endsWith(`/api/rotations/${id}`)) count += 1;
  });
  return { count: () => count };
}

async function openRotations(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Rotations' }).click();
  await page.getByRole('heading', { name: 'Bulk rotations' }).waitFor();
}

describe("the dashboard's bulk rotations in Chromium", () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    world = await startDashboardBrowser({
      prefix: 'ecr-dashboard-rotations-',
      // Confirmation a few seconds after each deploy, so the rotation is seen running before it completes;
      // the demo app's own scheduled renewal kept out of the way.
      env: { CONFIRM_DELAY_SECONDS: '5', SANDBOX_DEMO_DUE_IN_SECONDS: '86400' },
    });
  }, 240_000);
  afterAll(async () => {
    await world?.close();
  });

  it('lets an Admin start a rotation of chosen apps once, however often it is sent, and follow it to completed', async () => {
    const { managed, unmanaged } = world.sandbox.info.apps;
    // The second app gets managed and its first certificate through the API, so both can be rotated.
    await api('PUT', `/apps/${unmanaged.appId}`, 'Admin', { body: { notifications: { enabled: false } } });
    await api('POST', `/apps/${unmanaged.appId}/certificates`, 'Admin');

    const page = await world.signIn('Admin');
    await openRotations(page);
    await page.getByText('No rotation yet.').waitFor();
    await page.getByRole('button', { name: 'Start a rotation' }).click();
    const dialog = page.getByRole('dialog', { name: 'Start a bulk rotation' });
    const startButton = dialog.getByRole('button', { name: 'Start rotation' });
    // Nothing chosen, no reason: the API names both, each shown at its own field.
    await startButton.click();
    await dialog.locator('[id="e-selector.appIds"]').waitFor();
    expect(await dialog.locator('[id="e-selector.appIds"]').textContent()).toMatch(/\S/);
    await dialog.locator('#e-reason').waitFor();
    await dialog.getByRole('checkbox', { name: managed.displayName }).check();
    await dialog.getByRole('checkbox', { name: unmanaged.displayName }).check();
    await expect(dialog.locator('#start-summary').textContent()).resolves.toContain(
      `2 chosen apps (${managed.displayName}, ${unmanaged.displayName})`,
    );

    // Apps chosen, still no reason: the reason's error alone, and nothing started.
    await startButton.click();
    // The click cleared the last answer's message; this is the new answer's.
    expect(await dialog.locator('p.message-error').textContent()).toMatch(/reason/);
    expect(await dialog.locator('p.message-error').textContent()).not.toMatch(/selector/);
    expect(await dialog.locator('[id="e-selector.appIds"]').count()).toBe(0);
    expect(await dialog.locator('#e-reason').textContent()).toMatch(/say why/);
    expect(await dialog.locator('#f-reason').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: join(DASHBOARD_SCREENSHOTS, 'rotation-start.png') });
    const dialogViolations = await axeViolations(page);
    expect(await rotations()).toEqual([]);

    // The first answer is lost on the way back (the API started the rotation), after a double click;
    // starting again from the same dialog sends the same Idempotency-Key.
    const keys: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/rotations')) keys.push(r.headers()['idempotency-key'] ?? '');
    });
    let dropped = 0;
    await page.route('**/api/rotations', async (route) => {
      if (route.request().method() !== 'POST' || dropped > 0) return route.fallback();
      dropped += 1;
      const answer = await route.fetch();
      expect(answer.status()).toBe(202);
      await route.abort('connectionreset');
    });
    await dialog.locator('#f-reason').fill(REASON);
    await startButton.dblclick();
    await dialog.getByText(/No answer from the API/).waitFor();
    expect(await rotations()).toHaveLength(1);
    await startButton.click();

    await page.getByRole('heading', { name: `Rotation: ${REASON}` }).waitFor();
    expect(dropped).toBe(1);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(new Set(keys).size).toBe(1);
    const started = await rotations();
    expect(started.map((r) => r.reason)).toEqual([REASON]);
    const { id } = started[0]!;
    expect(page.url()).toContain(`#/rotations/${id}`);

    // Running: the apps still open by name. Leaving the page stops its polling.
    const status = page.getByRole('status');
    expect(await status.textContent()).toMatch(/^(Starting|Running): \d of 2 apps settled/);
    const open = page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'Stage' }) });
    for (const app of [managed, unmanaged]) await open.getByRole('link', { name: app.displayName }).waitFor();
    const reads = rotationReads(page, id);
    await page.getByRole('link', { name: '← All rotations' }).click();
    await page.getByRole('link', { name: REASON }).waitFor();
    await page.waitForTimeout(QUIET_MS);
    expect(reads.count()).toBe(0);

    // Back on it, it is followed to completed, and then read no more.
    await page.getByRole('link', { name: REASON }).click();
    await page.getByText(/^Completed at .*: 2 verified, 0 failed, 0 skipped\.$/).waitFor({ timeout: 45_000 });
    expect(await page.locator('td[data-stage="verified"]').textContent()).toBe('2');
    expect(await page.getByRole('columnheader', { name: 'Stage' }).count()).toBe(0);
    const afterCompleted = reads.count();
    expect(afterCompleted).toBeGreaterThan(0);
    await page.screenshot({ path: join(DASHBOARD_SCREENSHOTS, 'rotation.png'), fullPage: true });
    const detailViolations = await axeViolations(page);
    await page.waitForTimeout(QUIET_MS);
    expect(reads.count()).toBe(afterCompleted);
    expect(await rotations()).toEqual([expect.objectContaining({ id, status: 'completed' })]);

    // An app with management off is skipped, and the page says why; the list is newest first.
    await api('PATCH', `/apps/${unmanaged.appId}`, 'Admin', { body: { enabled: false } });
    const skippedReason = 'policy change: RSA-2048 retired';
    await api('POST', '/rotations', 'Admin', {
      body: { selector: { appIds: [unmanaged.appId] }, reason: skippedReason },
      headers: { 'idempotency-key': randomUUID() },
    });
    await page.getByRole('link', { name: '← All rotations' }).click();
    await page.getByRole('link', { name: skippedReason }).waitFor();
    expect(await page.locator('table.rotations tbody td:first-child').allTextContents()).toEqual([skippedReason, REASON]);
    await page.screenshot({ path: join(DASHBOARD_SCREENSHOTS, 'rotations.png'), fullPage: true });
    const listViolations = await axeViolations(page);
    await page.getByRole('link', { name: skippedReason }).click();
    await page.getByRole('heading', { name: 'Skipped' }).waitFor();
    const skipped = page.getByRole('row', { name: new RegExp(unmanaged.displayName) });
    expect(await skipped.textContent()).toMatch(/enabled: false/);

    expect({ dialog: dialogViolations, detail: detailViolations, list: listViolations }).toEqual({ dialog: [], detail: [], list: [] });
  }, 120_000);

  it('shows a Reader and an Operator the rotations but offers neither a start', async () => {
    for (const role of ['Reader', 'Operator'] as const) {
      const page = await world.signIn(role);
      await openRotations(page);
      await page.getByRole('link', { name: REASON }).waitFor();
      expect(await page.getByRole('button', { name: 'Start a rotation' }).count()).toBe(0);
      await page.getByRole('link', { name: REASON }).click();
      await page.getByText(/^Completed at /).waitFor();
      expect(await page.getByRole('button', { name: /Start/ }).count()).toBe(0);
    }
  }, 60_000);
});
