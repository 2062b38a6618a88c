import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { DashboardBrowser, DashboardRole } from './dashboardBrowser.js';

/**
 * What the dashboard's Chromium tests do beside the page: the sandbox's API as another user of a role
 * would call it, Graph as someone with rights on the demo apps (the rotator's identity, their owner)
 * would, and an app's page opened and ready.
 */

export type ListedCertificate = { keyId: string; thumbprint: string; status: string };
export type StoredConfig = { lifetimeDays: number; renewBeforeDays: number; keySize: number; enabled: boolean };

export function dashboardApi(world: DashboardBrowser) {
  const { sandbox } = world;

  const apiCall = async (role: DashboardRole, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sandbox.info.apiBaseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${sandbox.info.tokens[role]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as Record<string, unknown> };
  };

  const certificatesOf = async (appId: string) =>
    ((await apiCall('Reader', 'GET', `/apps/${appId}/certificates`)).body as { items: ListedCertificate[] }).items;

  const configOf = async (appId: string) => ((await apiCall('Reader', 'GET', `/apps/${appId}`)).body as { config: StoredConfig }).config;

  const graphAsRotator = async (method: string, path: string, body: unknown) => {
    const tenant = JSON.parse(readFileSync(join(world.work, 'state', 'tenant.json'), 'utf8')) as { identityHeader: string };
    const graph = sandbox.info.emulators.graph;
    const token = await world.emulatorCall(
      `${sandbox.info.emulators.authority}/msi/token?resource=${encodeURIComponent(graph)}&api-version=2019-08-01`,
      { method: 'GET', headers: { 'x-identity-header': tenant.identityHeader } },
    );
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token;
    return world.emulatorCall(`${graph}/v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  };

  /** Opens an app's page and waits for its config form. */
  const openApp = async (page: Page, appId: string): Promise<void> => {
    await page.goto(`${sandbox.info.dashboardUrl}#/apps/${appId}`);
    await page.locator('#f-lifetimeDays').waitFor();
  };

  return { apiCall, certificatesOf, configOf, graphAsRotator, openApp };
}
