import { join } from 'node:path';
import { runChaosSoak } from '../test/support/chaosSoak.js';
import { benchRoot } from './compileApp.js';
import { machine, printResult, round } from './stats.js';

/**
 * The chaos soak (issue 20.1) at full size: BENCH_CHAOS_APPS (300) apps due at once, the local host
 * SIGKILLed at BENCH_CHAOS_KILLS (10) seeded points of the renewals' progress and started again, a
 * second host for part of the run, 5 % of every emulator's answers a 429, a 503 or a 5 s stall, one
 * Azurite restart; then the faults stop and the run settles (test/support/chaosSoak.ts, which the CI
 * test runs at 30 apps). Baseline in the same run: the warm-up, the same number of renewals (each
 * app's first certificate) by the same host with no chaos.
 */
const APPS = Number(process.env.BENCH_CHAOS_APPS ?? 300);
const KILLS = Number(process.env.BENCH_CHAOS_KILLS ?? 10);
const DOOMED = Number(process.env.BENCH_CHAOS_DOOMED ?? 5);
const SEED = Number(process.env.BENCH_CHAOS_SEED ?? Date.now() % 1_000_000);

export async function benchChaos(): Promise<void> {
  console.log(`chaos: ${APPS} apps, ${KILLS} kills, seed ${SEED} (BENCH_CHAOS_SEED replays it)`);
  const report = await runChaosSoak({
    apps: APPS,
    kills: KILLS,
    doomed: DOOMED,
    seed: SEED,
    chaosMaxMs: 10 * 60_000,
    faultRate: 0.05,
    stallMs: 5000,
    settleTimeoutMs: 15 * 60_000,
    dir: join(benchRoot, '.scratch', 'chaos'),
    log: (line) => console.log(`  ${line}`),
  });
  const broken = Object.values(report.violations).reduce((a, b) => a + b, 0) + report.poisonedWithoutFailure;
  console.log(`  renewed and verified: ${report.renewed}, failed for good (recorded, emailed, evented): ${report.failedForGood}`);
  console.log(`  certificates added during the chaos: ${report.certificatesAdded}; poison messages: ${report.poisoned}`);
  console.log(`  faults injected: ${report.faultsTotal} ${JSON.stringify(report.faults)}`);
  console.log(`  kills: ${report.kills}, host starts: ${report.hostStarts}, Azurite restarts: ${report.azuriteRestarts}`);
  console.log(
    `  baseline (warm-up, no chaos): ${round(report.warmUpMs / 1000, 1)} s; chaos: ${round(report.chaosMs / 1000, 1)} s, then settled in ${round(report.settleMs / 1000, 1)} s`,
  );
  console.log(
    `  invariants broken: ${broken} ${JSON.stringify(report.violations)}, poisoned without a failure: ${report.poisonedWithoutFailure}`,
  );
  for (const example of report.examples) console.log(`    ${example}`);
  printResult({
    benchmark: 'chaos',
    ...machine(),
    seed: report.seed,
    apps: report.apps,
    renewed: report.renewed,
    failedForGood: report.failedForGood,
    certificatesAdded: report.certificatesAdded,
    kills: report.kills,
    hostStarts: report.hostStarts,
    azuriteRestarts: report.azuriteRestarts,
    faultsTotal: report.faultsTotal,
    faults: report.faults,
    poisoned: report.poisoned,
    poisonedWithoutFailure: report.poisonedWithoutFailure,
    lostCredentials: report.lostCredentials,
    violations: report.violations,
    baselineWarmUpSeconds: round(report.warmUpMs / 1000, 1),
    chaosSeconds: round(report.chaosMs / 1000, 1),
    settleSeconds: round(report.settleMs / 1000, 1),
    toSettledOverBaseline: round((report.chaosMs + report.settleMs) / report.warmUpMs, 2),
    invariantsHeld: broken === 0,
  });
}
