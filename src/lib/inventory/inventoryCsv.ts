import type { InventoryItem } from '../domain/inventory.js';

/**
 * The inventory as CSV (RFC 4180: CRLF lines, every field quoted, quotes doubled). Display names
 * come from the tenant, so a field a spreadsheet would run as a formula (starting = + - @, tab or
 * CR) is prefixed with a single quote (OWASP, "CSV Injection").
 */

const COLUMNS = [
  'appId',
  'objectId',
  'displayName',
  'signInAudience',
  'managed',
  'runsOnClientSecret',
  'certificates',
  'certificatesExpired',
  'certificatesEarliestExpiry',
  'clientSecrets',
  'clientSecretsExpired',
  'clientSecretsEarliestExpiry',
  'owners',
] as const;

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

function field(value: string | number | boolean | undefined): string {
  let text = value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

/** A person to ask about the app: name and sign-in name for a user, the name (or id) otherwise. */
function ownerCell(owner: InventoryItem['owners'][number]): string {
  const name = owner.displayName ?? owner.id;
  return owner.userPrincipalName ? `${name} <${owner.userPrincipalName}>` : name;
}

export function inventoryCsv(items: readonly InventoryItem[]): string {
  const rows = items.map((i) =>
    [
      i.appId,
      i.objectId,
      i.displayName,
      i.signInAudience,
      i.managed,
      i.runsOnClientSecret,
      i.certificates.count,
      i.certificates.expired,
      i.certificates.earliestExpiry,
      i.clientSecrets.count,
      i.clientSecrets.expired,
      i.clientSecrets.earliestExpiry,
      i.owners.map(ownerCell).join('; '),
    ]
      .map(field)
      .join(','),
  );
  return [COLUMNS.map(field).join(','), ...rows].join('\r\n') + '\r\n';
}
