const DAY_MS = 24 * 60 * 60 * 1000;

export interface ExpiryRiskInput {
  readonly enabled: boolean;
  /** The current certificate's expiry (state.notAfter); absent before the first certificate. */
  readonly notAfter?: Date;
  readonly renewBeforeDays: number;
  readonly now: Date;
}

export interface ExpiryRisk {
  readonly daysLeft: number;
  readonly renewBeforeDays: number;
}

/**
 * docs/operations.md's safety net: a managed app whose current certificate is closer to expiry than half
 * its renewal window. Its renewal fell due renewBeforeDays/2 ago and has not replaced it, whatever
 * the pipeline's own state says. A disabled app is the admin's choice, not a risk to report.
 */
export function expiryRisk(input: ExpiryRiskInput): ExpiryRisk | undefined {
  if (!input.enabled || input.notAfter === undefined) return undefined;
  const daysLeft = (input.notAfter.getTime() - input.now.getTime()) / DAY_MS;
  return daysLeft < input.renewBeforeDays / 2
    ? { daysLeft: Math.round(daysLeft * 10) / 10, renewBeforeDays: input.renewBeforeDays }
    : undefined;
}
