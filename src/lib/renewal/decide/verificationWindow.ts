/**
 * How long one confirm delivery keeps signing in. The window runs from the deployment; one delivery
 * waits no longer than its lease allows (with a tenth to spare for the writes after it), nor than
 * its invocation may run (with a minute to spare before the function timeout); what is left of the
 * window is the next delivery's.
 */
export function verificationStopsAt(input: {
  readonly deployedAt: Date;
  readonly verifyWindowMinutes: number;
  /** The lease's expiry, when the delivery holds one. */
  readonly leaseUntil: Date | undefined;
  readonly leaseSeconds: number;
  /** When this delivery took the lease. */
  readonly startedAt: Date;
  readonly functionTimeoutSeconds: number;
}): { readonly deadline: number; readonly stopAt: number } {
  const deadline = input.deployedAt.getTime() + input.verifyWindowMinutes * 60_000;
  const leaseUntil = input.leaseUntil ? input.leaseUntil.getTime() - input.leaseSeconds * 100 : Number.POSITIVE_INFINITY;
  const invocationUntil = input.startedAt.getTime() + (input.functionTimeoutSeconds - 60) * 1000;
  return { deadline, stopAt: Math.min(deadline, leaseUntil, invocationUntil) };
}

/** The pause before the next sign-in attempt: doubling from a second, capped, never past the stop. */
export function verificationRetryDelayMs(attempt: number, remainingMs: number, maxDelayMs: number): number {
  return Math.min(remainingMs, Math.min(maxDelayMs, 1000 * 2 ** attempt));
}
