import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, startDashboardBrowser, type DashboardBrowser } from '../support/dashboardBrowser.js';
import { skipAllWhen } from '../support/skipWithReason.js';

/**
 * The dashboard's session when MSAL can no longer renew a token from its cache, in Chromium against
 * the sandbox: a tab whose refresh token is gone or past its fixed 24 hours
 * (learn.microsoft.com/entra/msal/javascript/browser/token-lifetimes) is offered a new sign-in at
 * once, on load or at its next API call, without MSAL's hidden iframe, which the page's own policy
 * refuses and which used to leave the page waiting ~35 s on a bare heading. And a load asks for
 * nothing missing: the tab's icon is the build's own file (no /favicon.ico 404).
 */

/** Under MSAL's iframe timeout (system.iframeBridgeTimeout, 10 s by default): an answer this fast took no iframe. */
const PROMPTLY_MS = 8000;

let world: DashboardBrowser;

/** The page's Content Security Policy violations, as Chromium reports them on the console. */
function policyViolations(page: Page): string[] {
  const refused: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) refused.push(message.text());
  });
  return refused;
}

/**
 * What a day later looks like in MSAL's sessionStorage cache: its access and refresh tokens removed,
 * or kept with their expiry (seconds since the epoch) in the past. The account and ID token stay.
 */
async function ageTokens(page: Page, how: 'removed' | 'expired'): Promise<number> {
  // A string, not a function: this file is type-checked without the DOM library.
  return page.evaluate<number>(`(() => {
    let touched = 0;
    for (const key of Object.keys(sessionStorage)) {
      // MSAL's credential keys: msal.3|{home account}|{environment}|{credential type}|… (lower case).
      if (!/\\|(accesstoken|refreshtoken)\\|/.test(key)) continue;
      touched += 1;
      if (${JSON.stringify(how)} === 'removed') { sessionStorage.removeItem(key); continue; }
      const entry = JSON.parse(sessionStorage.getItem(key));
      const past = String(Math.floor(Date.now() / 1000) - 3600);
      entry.expiresOn = past;
      if ('extendedExpiresOn' in entry) entry.extendedExpiresOn = past;
      sessionStorage.setItem(key, JSON.stringify(entry));
    }
    return touched;
  })()`);
}

describe("the dashboard's session in Chromium", () => {
  skipAllWhen(chromiumMissing);
  beforeAll(async () => {
    if (chromiumMissing) return;
    world = await startDashboardBrowser({ prefix: 'ecr-dashboard-session-' });
  }, 240_000);
  afterAll(() => world?.close());

  it.each(['removed', 'expired'] as const)(
    'a reload with the access and refresh tokens %s offers Sign in at once, and signing in again works',
    async (how) => {
      const page = await world.signIn('Reader');
      const refused = policyViolations(page);
      // An access token and a refresh token at least.
      expect(await ageTokens(page, how)).toBeGreaterThanOrEqual(2);

      const started = Date.now();
      await page.reload();
      await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: PROMPTLY_MS });
      expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);
      await expect(page.getByRole('status').textContent()).resolves.toContain('Sign in again');
      expect(await page.locator('iframe').count()).toBe(0);

      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sandbox Reader' }).click();
      await page.getByRole('heading', { name: 'Managed apps' }).waitFor();
      expect(refused).toEqual([]);
    },
    60_000,
  );

  it("loads nothing that is missing: the tab's icon is the page's own file, allowed by its policy", async () => {
    const page = await world.signIn('Reader');
    const refused = policyViolations(page);
    const answers: { url: string; status: number; type: string }[] = [];
    page.on('response', (r) => answers.push({ url: r.url(), status: r.status(), type: r.request().resourceType() }));
    await page.reload();
    await page.getByRole('heading', { name: 'Managed apps' }).waitFor();
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toMatch(/^\/api\/ui\/assets\/icon-[\w-]+\.svg$/);
    // Chromium asks for the icon after the load, and /favicon.ico only when the page names none.
    await expect
      .poll(() => answers.filter((a) => new URL(a.url).pathname === icon).map((a) => a.status), { timeout: PROMPTLY_MS })
      .toEqual([200]);
    expect(answers.filter((a) => a.status >= 400)).toEqual([]);
    expect(refused).toEqual([]);
  }, 60_000);

  it('saves a download through its blob: link with no policy violation, though the policy names no blob:', async () => {
    const page = await world.signIn('Reader');
    const refused = policyViolations(page);
    await page.goto(`${world.sandbox.info.dashboardUrl}#/apps/${world.sandbox.info.apps.managed.appId}`);
    const button = page.getByRole('button', { name: /^Download .+\.cer$/ }).first();
    const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
    expect(download.suggestedFilename()).toMatch(/\.cer$/);
    expect(await download.failure()).toBeNull();
    expect(refused).toEqual([]);
  }, 60_000);

  it("an API call without a renewable token goes to the authority's sign-in page, not into an iframe", async () => {
    const page = await world.signIn('Reader');
    const refused = policyViolations(page);
    expect(await ageTokens(page, 'removed')).toBeGreaterThanOrEqual(2);

    // The next view asks the API, so for a token.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Inventory' }).click();
    await page.getByRole('heading', { name: 'Pick an account' }).waitFor({ timeout: PROMPTLY_MS });
    await page.getByRole('button', { name: 'Sandbox Reader' }).click();
    await page.getByRole('heading', { name: 'Managed apps' }).waitFor();
    expect(refused).toEqual([]);
  }, 60_000);
});
