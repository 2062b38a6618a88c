import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, chromiumMissing, startDashboardBrowser, type DashboardBrowser } from '../support/dashboardBrowser.js';
import { importManagedFleet, type FleetApp } from '../support/managedFleet.js';
import { skipAllWhen } from '../support/skipWithReason.js';

/**
 * The overview with more apps than fit on a screen, in Chromium against the sandbox. It renders only
 * the rows near the viewport (so that 1,000 apps stay responsive: `npm run bench -- dashboard`), and
 * still: the page is as long as every row (the spacers' heights, which the page's policy must not
 * refuse), scrolling reaches the last app in the order chosen and back to the first, the filter
 * finds an app that was not rendered, assistive technology is told the whole count and each row's
 * place, and axe-core finds nothing serious.
 */

const FLEET = 400;
const VIEWPORT_HEIGHT = 900;

let world: DashboardBrowser;
let fleet: FleetApp[];
/** The fleet and the sandbox's demo app. */
let names: string[];

const dataRows = (page: Page) => page.locator('table.apps tbody tr:not(.spacer)');

async function inViewport(page: Page, rowIndex: number): Promise<string> {
  const row = page.locator(`table.apps tbody tr[aria-rowindex="${rowIndex}"]`);
  await row.waitFor();
  const box = await row.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.y).toBeGreaterThanOrEqual(0);
  expect(box!.y + box!.height).toBeLessThanOrEqual(VIEWPORT_HEIGHT + 1);
  return (await row.getByRole('link').textContent()) ?? '';
}

describe('the overview of many apps in Chromium', () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    // Yearly: nothing renews while the page is read.
    world = await startDashboardBrowser({ prefix: 'ecr-dashboard-overview-', env: { SANDBOX_RENEWAL_SCHEDULE: '0 0 0 1 1 *' } });
    fleet = await importManagedFleet(world.sandbox, 0, FLEET);
    names = [...fleet.map((app) => app.config.displayName), world.sandbox.info.apps.managed.displayName];
  }, 240_000);
  afterAll(() => world?.close());

  it('renders the rows near the viewport only, in a page as long as all of them, and tells how many there are', async () => {
    const page = await world.signIn('Reader');
    const refused: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && message.text().includes('Content Security Policy')) refused.push(message.text());
    });
    await page.reload();
    await page
      .getByRole('status')
      .filter({ hasText: `${names.length} of ${names.length} apps` })
      .waitFor();

    expect(await page.locator('table.apps').getAttribute('aria-rowcount')).toBe(String(names.length + 1));
    const rendered = await dataRows(page).count();
    expect(rendered).toBeGreaterThan(VIEWPORT_HEIGHT / 40);
    expect(rendered).toBeLessThan(100);
    // Every row is at least a line of text high: without the spacers the page would end after the rendered ones.
    expect(await page.evaluate<number>('document.documentElement.scrollHeight')).toBeGreaterThan(names.length * 25);
    expect(refused).toEqual([]);
  }, 120_000);

  it('scrolls to the last app in the order chosen and back to the first', async () => {
    const page = await world.signIn('Reader');
    await page.locator('table.apps thead').getByRole('button', { name: 'App', exact: true }).click();
    const sorted = [...names].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));

    await page.evaluate('window.scrollTo(0, document.documentElement.scrollHeight)');
    expect(await inViewport(page, names.length + 1)).toBe(sorted.at(-1));
    await page.evaluate('window.scrollTo(0, 0)');
    expect(await inViewport(page, 2)).toBe(sorted[0]);
    expect(await dataRows(page).count()).toBeLessThan(100);
  }, 120_000);

  it('finds an app that was not rendered by its name', async () => {
    const page = await world.signIn('Reader');
    const wanted = fleet[FLEET / 2]!.config;
    expect(await page.getByRole('link', { name: wanted.displayName, exact: true }).count()).toBe(0);
    await page.getByRole('searchbox').fill(wanted.displayName);
    await page
      .getByRole('status')
      .filter({ hasText: `1 of ${names.length} apps` })
      .waitFor();
    await page.getByRole('link', { name: wanted.displayName, exact: true }).click();
    await page.waitForURL(`**#/apps/${wanted.appId}`);
  }, 120_000);

  it('has no serious or critical axe-core violation with rows left out above and below', async () => {
    const page = await world.signIn('Reader');
    await page.evaluate('window.scrollTo(0, document.documentElement.scrollHeight / 2)');
    await page.locator(`table.apps tbody tr.spacer`).nth(1).waitFor({ state: 'attached' });
    expect(await page.locator('table.apps tbody tr.spacer').count()).toBe(2);
    expect(await axeViolations(page)).toEqual([]);
  }, 120_000);
});
