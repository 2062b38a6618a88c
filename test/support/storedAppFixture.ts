import { appConfigSchema, renewalStateSchema, type AppConfig, type RenewalStateInput } from '../../src/lib/domain/appConfig.js';
import type { StoredApp } from '../../src/lib/domain/storedApp.js';

export const FIXTURE_APP_ID = '11111111-2222-4333-8444-555555555555';

/** A stored app as the store returns it (both halves parsed by their schemas), for the pure decisions. */
export function storedAppFixture(input: { config?: Record<string, unknown>; state?: RenewalStateInput } = {}): StoredApp {
  return {
    config: appConfigSchema.parse({
      appId: FIXTURE_APP_ID,
      displayName: 'Fixture app',
      keyVault: { enabled: true, vaultUrl: 'https://fixture-vault.vault.azure.net/', certificateName: 'fixture-app' },
      ...input.config,
    }),
    state: renewalStateSchema.parse(input.state ?? {}),
    etag: 'W/"fixture"',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    updatedBy: undefined,
  };
}

/**
 * A managed app's config as the API would store it (parsed: every other setting at its default):
 * Key Vault on without read grants, a 90-day lifetime unless `settings` says otherwise. The seed of
 * the table-backed tests and benchmarks; `settings` replaces any top-level setting.
 */
export function managedConfig(
  appId: string,
  displayName: string,
  keyVault: Pick<AppConfig['keyVault'], 'vaultUrl' | 'certificateName'> & Partial<AppConfig['keyVault']>,
  settings: Record<string, unknown> = {},
): AppConfig {
  return appConfigSchema.parse({
    appId,
    displayName,
    lifetimeDays: 90,
    ...settings,
    keyVault: { enabled: true, grantAppRead: false, ...keyVault },
  });
}
