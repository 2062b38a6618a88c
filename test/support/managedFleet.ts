import { randomUUID } from 'node:crypto';
import type { AppConfig, RenewalStateInput } from '../../src/lib/domain/appConfig.js';
import { APPS_TABLE_NAME, createTableClient } from '../../src/lib/composition.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import type { SandboxProcess } from './sandboxProcess.js';

/**
 * Many managed apps in a running sandbox's table, as renewals would have left them, for the
 * dashboard's tests and benchmark: imported with AppStore.importApps (the store's own bulk write),
 * since making each through the API would mean a real certificate per app. They are not app
 * registrations in the sandbox's Graph: the overview and the timeline read the table only.
 */

const DAY_MS = 24 * 3600_000;
const ORGS = ['Contoso', 'Fabrikam', 'Northwind', 'Tailspin', 'Woodgrove', 'Litware', 'Adatum'];
const AREAS = [
  'Payments',
  'Billing',
  'Reporting',
  'Identity',
  'Orders',
  'Inventory',
  'Shipping',
  'Search',
  'Telemetry',
  'Support',
  'Pricing',
];
const KINDS = ['API', 'Worker', 'Portal', 'Sync', 'Gateway'];

export interface FleetApp {
  readonly config: AppConfig;
  readonly state: RenewalStateInput;
}

/**
 * App number `index`: days left spread from expired to a fresh year, every 17th's last renewal
 * failed, every 11th deployed but not verified, every 29th with renewal off.
 */
export function fleetApp(index: number, now: number, vaultUrl: string): FleetApp {
  const appId = randomUUID();
  const lifetimeDays = [90, 180, 365][index % 3]!;
  const daysLeft = ((index * 37) % (lifetimeDays + 10)) - 10;
  const notAfter = now + daysLeft * DAY_MS + (index % 24) * 3600_000;
  const outcome = index % 17 === 0 ? 'failed' : index % 11 === 0 ? 'deployed' : 'verified';
  const outcomeAt = new Date(now - (index % 30) * DAY_MS).toISOString();
  return {
    config: {
      appId,
      displayName: `${ORGS[index % ORGS.length]} ${AREAS[index % AREAS.length]} ${KINDS[index % KINDS.length]} ${index}`,
      enabled: index % 29 !== 0,
      lifetimeDays,
      renewBeforeDays: 30,
      notifications: { enabled: false, recipients: [], thresholdDays: 14, includeCertificate: false, attachmentFormat: 'cer' },
      keySize: 2048,
      graphMode: 'owner',
      bootstrap: false,
      keyVault: { enabled: true, vaultUrl, certificateName: `fleet-app-${index}`, grantAppRead: false, readers: [] },
    },
    state: {
      currentThumbprint: appId.replaceAll('-', '').padEnd(40, '0').toUpperCase(),
      keyId: appId,
      notBefore: new Date(notAfter - lifetimeDays * DAY_MS).toISOString(),
      notAfter: new Date(notAfter).toISOString(),
      // A failed renewal leaves the previous certificate, verified when it was deployed.
      ...(outcome === 'deployed' ? {} : { verifiedAt: outcomeAt }),
      lastOutcome: outcome,
      lastOutcomeAt: outcomeAt,
      ...(outcome === 'failed'
        ? {
            lastError: 'Graph answered 403 Authorization_RequestDenied: the rotator no longer owns the app',
            consecutiveFailures: 1 + (index % 3),
          }
        : {}),
      keySize: 2048,
      keyVaultVersion: `v${index}`,
    },
  };
}

/** Imports apps number `from` to `from + count - 1` into the sandbox's table; returns them. */
export async function importManagedFleet(sandbox: SandboxProcess, from: number, count: number): Promise<FleetApp[]> {
  const emulators = sandbox.info.emulators as unknown as { azuriteConnectionString: string; keyVault: string };
  const store = new AppStore(
    createTableClient({ kind: 'connectionString', connectionString: emulators.azuriteConnectionString }, APPS_TABLE_NAME),
  );
  const now = Date.now();
  const apps = Array.from({ length: count }, (_, i) => fleetApp(from + i, now, emulators.keyVault));
  // 33 apps (3 rows each) fill one 100-row transaction.
  for (let i = 0; i < apps.length; i += 33) await store.importApps(apps.slice(i, i + 33));
  return apps;
}
