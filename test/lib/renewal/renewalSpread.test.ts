import { describe, expect, it } from 'vitest';
import { appConfigSchema } from '../../../src/lib/domain/appConfig.js';
import { decideRenewal } from '../../../src/lib/renewal/decide/renewalPolicy.js';
import { policyStateOf } from '../../../src/lib/renewal/decide/policyStateOf.js';
import { renewalSpreadMs } from '../../../src/lib/renewal/decide/schedule.js';
import { AppStore } from '../../../src/lib/tables/appStore.js';
import { createTestTableClient } from '../../support/tables.js';

/**
 * Issue 19: apps whose certificates expire together fall due apart (decide/schedule.ts), and the
 * scheduler's due scan, a RowKey range of the due index, still reads exactly the apps due, which are
 * exactly those the renewal policy renews.
 */

const DAY = 24 * 3600_000;
const VAULT = 'https://unit-vault.vault.azure.net/';

describe('apps created together', () => {
  it('fall due at different times across the spread, and the scan reads only those due', async () => {
    const store = new AppStore(createTestTableClient('spread'));
    const notAfter = new Date(Date.now() + 60 * DAY);
    const appIds = Array.from({ length: 40 }, (_, i) => `5a4db0c5-0000-4000-8000-${String(i).padStart(12, '0')}`);
    // One import, as a fleet onboarded on one day: one expiry for all.
    await store.importApps(
      appIds.map((appId) => ({
        config: appConfigSchema.parse({
          appId,
          displayName: `Fleet ${appId.slice(-4)}`,
          keyVault: { enabled: true, vaultUrl: VAULT, certificateName: `cert-${appId}` },
        }),
        state: {
          currentThumbprint: 'AB'.repeat(20),
          notBefore: new Date(notAfter.getTime() - 365 * DAY).toISOString(),
          notAfter: notAfter.toISOString(),
        },
      })),
    );
    const apps = await Promise.all(appIds.map(async (appId) => (await store.getApp(appId))!));
    const latest = notAfter.getTime() - 30 * DAY;
    const spread = renewalSpreadMs({ renewBeforeDays: 30, lifetimeDays: 365 });
    const dues = apps.map((app) => Date.parse(app.state.nextRenewalDueAt!));
    expect(new Set(dues).size).toBe(apps.length);
    for (const due of dues) {
      expect(due).toBeLessThanOrEqual(latest);
      expect(due).toBeGreaterThan(latest - spread);
    }

    for (const now of [latest - spread - 1, latest - (spread * 3) / 4, latest - spread / 2, latest - spread / 4, latest].map(
      (t) => new Date(t),
    )) {
      const result = await store.listDueApps(now);
      const expected = apps.filter((app) => Date.parse(app.state.nextRenewalDueAt!) <= now.getTime()).map((app) => app.config.appId);
      expect(result.apps.map((a) => a.appId).sort()).toEqual(expected.sort());
      expect(result.entitiesRead).toBe(expected.length);
      // What the scan finds due is what the renewal policy renews, app by app.
      const renewed = apps.filter((app) => decideRenewal({ config: app.config, state: policyStateOf(app), now }).renew);
      expect(renewed.map((app) => app.config.appId).sort()).toEqual(expected.sort());
    }
    // Spread, not bunched: at the middle of the spread some apps are due and some are not.
    const midway = (await store.listDueApps(new Date(latest - spread / 2))).apps.length;
    expect(midway).toBeGreaterThan(5);
    expect(midway).toBeLessThan(35);
  });
});
