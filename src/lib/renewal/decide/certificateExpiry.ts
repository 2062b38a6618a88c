const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertificateExpiryInput {
  readonly enabled: boolean;
  /** The current certificate's expiry (state.notAfter); absent before the first certificate. */
  readonly notAfter?: Date;
  readonly renewBeforeDays: number;
  readonly now: Date;
}

export interface CertificateExpiry {
  /** Days until the current certificate expires, to a tenth of a day (negative once expired). */
  readonly daysLeft: number;
  readonly renewBeforeDays: number;
  /**
   * daysLeft / renewBeforeDays, floored to a thousandth: 1 when the renewal window opens, 0 at
   * expiry. Floored so that rounding never lifts an app below one half up to it.
   */
  readonly windowRemainingFraction: number;
  /** `at-risk`: less than half the renewal window left on an enabled app; `disabled`: the admin's choice, never a risk. */
  readonly outcome: 'ok' | 'at-risk' | 'disabled';
}

/**
 * The safety-net figure of docs/operations.md for one app: how far into its renewal window its
 * current certificate is. Below one half its renewal fell due renewBeforeDays/2 ago and has not
 * replaced it, whatever the pipeline's own state says. Undefined before the first certificate.
 */
export function certificateExpiry(input: CertificateExpiryInput): CertificateExpiry | undefined {
  if (input.notAfter === undefined) return undefined;
  const exactDays = (input.notAfter.getTime() - input.now.getTime()) / DAY_MS;
  const fraction = exactDays / input.renewBeforeDays;
  return {
    daysLeft: Math.round(exactDays * 10) / 10,
    renewBeforeDays: input.renewBeforeDays,
    windowRemainingFraction: Math.floor(fraction * 1000) / 1000,
    outcome: !input.enabled ? 'disabled' : fraction < 0.5 ? 'at-risk' : 'ok',
  };
}
