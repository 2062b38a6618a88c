import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from './sandboxProcess.js';
import { ensureWebBuild } from './webBuild.js';

/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (no browser download)
 * against `npm run sandbox` on free ports, signed in through the emulated authority's pick-a-user
 * page. Shared by the dashboard's Chromium tests and benchmarks.
 */

export const CHROMIUM = '/usr/bin/chromium';
/** Where the views' screenshots go (README's Dashboard section shows some). */
export const DASHBOARD_SCREENSHOTS = resolve(process.env.DASHBOARD_SCREENSHOTS ?? '.scratch/dashboard-screenshots');
/** Why the browser tests skip, if they must; CI installs chromium (.ci/run), so there a missing browser fails instead. */
export const chromiumMissing =
  !existsSync(CHROMIUM) && process.env.CI !== 'true' ? 'chromium is not installed (Debian: apt-get install chromium)' : undefined;

export type DashboardRole = 'Reader' | 'Operator' | 'Admin';

export interface DashboardBrowser {
  /** The sandbox's folder (SANDBOX_DIR), removed by close(). */
  readonly work: string;
  readonly sandbox: SandboxProcess;
  readonly browser: Browser;
  /** Every origin any signed-in page requested. */
  readonly requested: Set<string>;
  /** A new browser context signed in as the sandbox's user of that role, on the overview. */
  signIn(role: DashboardRole): Promise<Page>;
  /** An HTTPS call to one of the sandbox's emulators, trusting the sandbox's own CA. */
  emulatorCall(
    url: string,
    options: { method: string; headers?: Record<string, string>; body?: string },
  ): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/** Builds the page if needed, starts the sandbox (extra env for its host) and chromium. */
export async function startDashboardBrowser(options: { prefix: string; env?: NodeJS.ProcessEnv }): Promise<DashboardBrowser> {
  mkdirSync(DASHBOARD_SCREENSHOTS, { recursive: true });
  await ensureWebBuild();
  const work = mkdtempSync(join(tmpdir(), options.prefix));
  const sandbox = await startSandboxProcess(work, await sandboxEnvironment(work, options.env));
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  } catch (error) {
    sandbox.kill();
    throw error;
  }
  const requested = new Set<string>();
  const contexts: BrowserContext[] = [];

  const signIn = async (role: DashboardRole): Promise<Page> => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    context.on('request', (r) => {
      if (/^https?:/.test(r.url())) requested.add(new URL(r.url()).origin);
    });
    const page = await context.newPage();
    await page.goto(sandbox.info.dashboardUrl);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: `Sandbox ${role}` }).click();
    await page.getByRole('heading', { name: 'Managed apps' }).waitFor();
    return page;
  };

  const emulatorCall: DashboardBrowser['emulatorCall'] = (url, call) =>
    new Promise((done, fail) => {
      const req = httpsRequest(url, { method: call.method, headers: call.headers, ca: readFileSync(sandbox.info.caCertificate) }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', fail);
      req.end(call.body);
    });

  const close = async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser.close().catch(() => undefined);
    sandbox.kill();
    rmSync(work, { recursive: true, force: true });
  };

  return { work, sandbox, browser, requested, signIn, emulatorCall, close };
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<string[]> {
  // evaluate runs through the DevTools protocol, which the page's policy does not govern; the page's own scripts stay policed.
  await page.evaluate(axe.source);
  // Strings, not functions: this file is type-checked without the DOM library.
  const result = await page.evaluate<axe.AxeResults>('axe.run(document)');
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
}
