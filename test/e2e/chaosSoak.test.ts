import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChaosSoak } from '../support/chaosSoak.js';

/**
 * The chaos soak at CI size (issue 20.2): 30 apps due at once (2 of them doomed to fail for good),
 * the local host SIGKILLed 3 times,
 * a second host for a while, 5 % of every emulator's answers a 429, a 503 or a stall, one Azurite
 * restart; then every invariant over every app (test/support/chaosSoak.ts). CHAOS_SEED replays a
 * run's plan (where the kills, the second host and the restart fall, and the fault draws; the
 * interleaving of concurrent requests is the machine's), CHAOS_VERBOSE prints its figures.
 */
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
const DIR = join(fileURLToPath(new URL('../../', import.meta.url)), '.scratch', `chaos-soak-${process.pid}`);

describe('chaos soak', () => {
  it(`converges with every invariant after kills, faults and an Azurite restart (CHAOS_SEED=${SEED})`, { timeout: 175_000 }, async () => {
    const lines: string[] = [];
    const report = await runChaosSoak({
      apps: 30,
      kills: 3,
      doomed: 2,
      seed: SEED,
      chaosMaxMs: 25_000,
      faultRate: 0.05,
      stallMs: 3000,
      settleTimeoutMs: 125_000,
      dir: DIR,
      log: (line) => lines.push(line),
    });
    // The hosts' logs stay in DIR when the test fails.
    const summary = `CHAOS_SEED=${SEED} (logs in ${DIR})\n${lines.join('\n')}\n${JSON.stringify(report, null, 1)}`;
    if (process.env.CHAOS_VERBOSE) console.log(summary);
    // The chaos happened: every kill, the restart.
    expect(report.kills, summary).toBe(3);
    expect(report.azuriteRestarts, summary).toBe(1);
    // Faults were served (each kind's share of a dozen or so is left to chance: emulatorServer.test.ts
    // proves every kind is served).
    expect(report.faultsTotal, summary).toBeGreaterThan(0);
    // And every app came through it: renewed, or (the two doomed ones at least) failed for good.
    expect(report.renewed + report.failedForGood, summary).toBe(30);
    expect(report.doomedNotFailed, summary).toBe(0);
    expect(report.failedForGood, summary).toBeGreaterThanOrEqual(2);
    expect(report.violations, summary).toEqual({
      'one-certificate-per-renewal': 0,
      'no-lost-credential': 0,
      agreement: 0,
      'not-converged': 0,
      unverified: 0,
      'failure-without-email': 0,
      'failure-without-event': 0,
    });
    expect(report.lostCredentials, summary).toBe(0);
    expect(report.poisonedWithoutFailure, summary).toBe(0);
    rmSync(DIR, { recursive: true, force: true });
  });
});
