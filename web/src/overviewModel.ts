import type { AppView } from './api';
import { daysLeft, toneOf, type Tone } from './format';

/** One overview row: what the table shows and sorts on, computed once per list. */
export interface OverviewRow {
  readonly appId: string;
  readonly displayName: string;
  /** Lower-cased name and id, for the filter. */
  readonly search: string;
  readonly daysLeft: number | undefined;
  readonly tone: Tone;
  readonly nextRenewal: string | undefined;
  readonly lastOutcome: string | undefined;
  readonly verified: boolean;
  readonly enabled: boolean;
}

export type SortKey = 'displayName' | 'daysLeft' | 'nextRenewal' | 'lastOutcome' | 'verified';
export type StatusFilter = 'all' | 'attention' | 'failed' | 'unverified';

export function overviewRows(apps: readonly AppView[], now: Date): OverviewRow[] {
  return apps.map((app) => {
    const days = daysLeft(app.state.notAfter, now);
    return {
      appId: app.appId,
      displayName: app.displayName,
      search: `${app.displayName} ${app.appId}`.toLowerCase(),
      daysLeft: days,
      tone: toneOf(days, app.config.renewBeforeDays),
      nextRenewal: app.state.nextRenewalDueAt,
      lastOutcome: app.state.lastOutcome,
      // Verified: Entra accepted a sign-in with the current certificate (docs/renewal.md).
      verified: app.state.verifiedAt !== undefined && app.state.lastOutcome !== 'failed',
      enabled: app.config.enabled,
    };
  });
}

export function filterRows(rows: readonly OverviewRow[], text: string, status: StatusFilter): OverviewRow[] {
  const needle = text.trim().toLowerCase();
  return rows.filter(
    (row) =>
      (needle === '' || row.search.includes(needle)) &&
      (status === 'all' ||
        (status === 'attention' && (row.tone === 'expired' || row.tone === 'danger' || row.tone === 'warn')) ||
        (status === 'failed' && row.lastOutcome === 'failed') ||
        (status === 'unverified' && !row.verified)),
  );
}

/**
 * Sorted copy; apps without a value (no certificate yet) last in either direction. Each row's value
 * is read once rather than in every comparison (by name, some 20,000 lower-cased copies for 1,000 apps).
 */
export function sortRows(rows: readonly OverviewRow[], key: SortKey, ascending: boolean): OverviewRow[] {
  const value = (row: OverviewRow): string | number | undefined =>
    key === 'verified' ? Number(row.verified) : key === 'displayName' ? row.displayName.toLowerCase() : row[key];
  return rows
    .map((row) => ({ row, value: value(row) }))
    .sort(({ value: x }, { value: y }) => {
      if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    })
    .map(({ row }) => row);
}
