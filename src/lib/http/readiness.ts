/** One dependency the host needs to do its work, checked by `GET /api/health?ready=true`. */
export interface ReadinessProbe {
  readonly name: string;
  /** Resolves when the dependency answers; throws a ReadinessFailure (or anything) when it does not. */
  check(signal: AbortSignal): Promise<void>;
}

/** Why a probe failed, in words safe for an anonymous caller: names and status codes, never values. */
export class ReadinessFailure extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ReadinessFailure';
  }
}

export interface ReadinessCheck {
  readonly name: string;
  readonly status: 'up' | 'down';
  readonly reason?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: readonly ReadinessCheck[];
}

export const READINESS_TIMEOUT_MS = 5000;

/**
 * Runs every probe at once, each within `timeoutInMs` (a probe that hangs is down, not a hung
 * health check). An error that is not a ReadinessFailure is reported by its name only: an anonymous
 * endpoint never echoes a message that could carry a connection string or a setting's value.
 */
export async function checkReadiness(probes: readonly ReadinessProbe[], timeoutInMs = READINESS_TIMEOUT_MS): Promise<ReadinessReport> {
  const checks = await Promise.all(
    probes.map(async (probe): Promise<ReadinessCheck> => {
      const signal = AbortSignal.timeout(timeoutInMs);
      try {
        await new Promise<void>((resolve, reject) => {
          signal.addEventListener('abort', () => reject(new ReadinessFailure(`no answer within ${timeoutInMs} ms`)), { once: true });
          probe.check(signal).then(resolve, reject);
        });
        return { name: probe.name, status: 'up' };
      } catch (error) {
        const reason = error instanceof ReadinessFailure ? error.message : `failed (${error instanceof Error ? error.name : 'error'})`;
        return { name: probe.name, status: 'down', reason };
      }
    }),
  );
  return { ready: checks.every((c) => c.status === 'up'), checks };
}
