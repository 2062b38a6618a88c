const DAY_MS = 24 * 3600 * 1000;

/** Whole days from `now` to `until`, negative once past. */
export function daysLeft(until: string | undefined, now: Date): number | undefined {
  if (until === undefined) return undefined;
  return Math.floor((Date.parse(until) - now.getTime()) / DAY_MS);
}

export type Tone = 'expired' | 'danger' | 'warn' | 'ok' | 'none';

/** The colour of days left: past expiry, below half the renewal window (the alert's line), inside it, or fine. */
export function toneOf(days: number | undefined, renewBeforeDays: number): Tone {
  if (days === undefined) return 'none';
  if (days < 0) return 'expired';
  if (days < renewBeforeDays / 2) return 'danger';
  if (days <= renewBeforeDays) return 'warn';
  return 'ok';
}

export const TONE_LABEL: Record<Tone, string> = {
  expired: 'expired',
  danger: 'below half its renewal window',
  warn: 'in its renewal window',
  ok: 'fine',
  none: 'no certificate',
};

export function shortDate(iso: string | undefined): string {
  return iso === undefined ? '—' : iso.slice(0, 10);
}

export function dateTime(iso: string | undefined): string {
  return iso === undefined ? '—' : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
