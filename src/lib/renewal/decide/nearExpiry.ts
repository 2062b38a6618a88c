const DAY_MS = 24 * 60 * 60 * 1000;

export interface NearExpiryInput {
  readonly thresholdDays: number;
  readonly notificationsEnabled: boolean;
  readonly current?: { readonly thumbprint: string; readonly notAfter: Date };
  /** Whether a newer valid certificate exists (then there is nothing to warn about). */
  readonly newerCertificateExists: boolean;
  /** The "thumbprint:thresholdDays" keys already warned about, so a warning goes out once. */
  readonly warned: ReadonlySet<string>;
  readonly now: Date;
}

export function nearExpiryKey(thumbprint: string, thresholdDays: number): string {
  return `${thumbprint}:${thresholdDays}`;
}

/** The near-expiry warning (notifications.thresholdDays): once per certificate per threshold. */
export function nearExpiryWarningIsDue(input: NearExpiryInput): boolean {
  if (!input.notificationsEnabled || !input.current || input.newerCertificateExists) return false;
  if (input.warned.has(nearExpiryKey(input.current.thumbprint, input.thresholdDays))) return false;
  return input.current.notAfter.getTime() - input.thresholdDays * DAY_MS <= input.now.getTime();
}
