import type { CredentialSummary, InventoryFilter, InventoryItem, TenantApplication } from '../domain/inventory.js';

/** The pure half of the inventory: one app registration summarised, and whether a filter takes it. */

const DAY_MS = 86_400_000;

function summarise(credentials: readonly { endDateTime: string }[], now: Date): CredentialSummary {
  const ends = credentials.map((c) => Date.parse(c.endDateTime)).filter((t) => !Number.isNaN(t));
  const valid = ends.filter((t) => t > now.getTime());
  const earliest = valid.length > 0 ? new Date(Math.min(...valid)).toISOString() : undefined;
  return { count: credentials.length, expired: ends.length - valid.length, ...(earliest ? { earliestExpiry: earliest } : {}) };
}

export function inventoryItemOf(app: TenantApplication, managed: boolean, now: Date): InventoryItem {
  const clientSecrets = summarise(app.clientSecrets, now);
  return {
    appId: app.appId,
    objectId: app.objectId,
    displayName: app.displayName,
    signInAudience: app.signInAudience,
    managed,
    certificates: summarise(app.certificates, now),
    clientSecrets,
    runsOnClientSecret: clientSecrets.count > clientSecrets.expired,
    owners: app.owners.map((o) => ({
      id: o.id,
      type: o.type,
      displayName: o.displayName,
      ...(o.userPrincipalName !== undefined ? { userPrincipalName: o.userPrincipalName } : {}),
    })),
  };
}

/** Whether the filter takes the item (criteria combine). */
export function inventoryMatches(item: InventoryItem, filter: InventoryFilter, now: Date): boolean {
  if (filter.managed !== undefined && item.managed !== filter.managed) return false;
  if (filter.credential === 'secret' && item.clientSecrets.count === 0) return false;
  if (filter.credential === 'certificate' && item.certificates.count === 0) return false;
  if (filter.credential === 'none' && item.certificates.count + item.clientSecrets.count > 0) return false;
  if (filter.expiringWithinDays !== undefined) {
    const horizon = now.getTime() + filter.expiringWithinDays * DAY_MS;
    const soon = [item.certificates, item.clientSecrets].some(
      (s) => s.expired > 0 || (s.earliestExpiry !== undefined && Date.parse(s.earliestExpiry) <= horizon),
    );
    if (!soon) return false;
  }
  return true;
}
