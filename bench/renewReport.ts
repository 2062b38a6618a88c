import { machine, printResult, round } from './stats.js';
import type { HostProcess } from './hostProcess.js';

/** One measured round (see measuredRound in renew.ts). */
export interface RoundFigures {
  readonly wallMs: number;
  readonly firstReadMs: number;
  readonly renewalsPerMinute: number;
  readonly deployPhaseMs: number;
  readonly cpuSecondsPerRenewal: { host: number; emulators: number; azurite: number | null };
  readonly storageMark: number;
  readonly failed: number;
}

/** Everything the renewal benchmark measured, as renewReport takes it. */
export interface RenewFigures {
  readonly renewals: number;
  readonly confirmDelaySeconds: number;
  readonly cores: number;
  /** Bare key generation on every core, before and after the shared round (keys/min). */
  readonly keygenBefore: number;
  readonly keygenAfter: number;
  readonly shared: RoundFigures;
  /** The round with the host on one core, and bare key generation on that core before and after it. */
  readonly isolated: { readonly round: RoundFigures; readonly keygenRates: readonly [number, number] } | undefined;
  readonly roundTrips: {
    readonly counts: Record<'graph' | 'keyVault' | 'email' | 'eventGrid' | 'authority' | 'storage', Record<string, number>>;
    readonly connectionsPerRenewal: Record<string, number>;
    readonly perService: Record<string, number>;
  };
  readonly trace: readonly string[];
  readonly failed: number;
  readonly hostMemory: HostProcess['memory'];
  readonly hostNodeOptions: string;
  readonly rssBeforeMiB: number;
  readonly rssAfterMiB: number;
}

const ROUND_TRIP_GOALS = { graph: 3, keyVault: 2, table: 6, email: 2, eventGrid: 1, token: 1 } as const;

/** Prints the figures, then the result as the last JSON line. */
export function renewReport(figures: RenewFigures): void {
  const result = renewResult(figures);
  printSummary(result);
  printResult(result);
}

function perRenewal(counts: Record<string, number>, renewals: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, round(v / renewals, 2)]),
  );
}

// About the highest ratio a round's own CPU costs allow, were its cores busy all the time: a bare
// key's core-seconds over a renewal's on the same cores (the host, and on shared cores the emulators
// and Azurite too). The ratio measured over this ceiling is how busy the round kept its cores. An
// estimate: the costs include the idle polling before the round's first read, and the key rate is
// measured beside the round, on a machine that drifts.
const ceilingOf = (bareKey: number, costs: readonly (number | null)[]) =>
  costs.some((c) => c === null) ? null : round(bareKey / costs.reduce<number>((a, c) => a + c!, 0), 3);

function isolatedResultOf({ isolated }: RenewFigures) {
  const isolatedKeygenRate = isolated ? (isolated.keygenRates[0] + isolated.keygenRates[1]) / 2 : undefined;
  if (!isolated || !isolatedKeygenRate) return null;
  const { round: measured } = isolated;
  return {
    hostCores: 1,
    keygenPerMinute: round(isolatedKeygenRate, 1),
    keygenPerMinuteBeforeAndAfter: isolated.keygenRates.map((r) => round(r, 1)),
    renewalsPerMinute: round(measured.renewalsPerMinute, 1),
    ratio: round(measured.renewalsPerMinute / isolatedKeygenRate, 3),
    ceiling: ceilingOf(round(60 / isolatedKeygenRate, 4), [measured.cpuSecondsPerRenewal.host]),
    firstReadSeconds: round(measured.firstReadMs / 1000, 1),
    wallSeconds: round(measured.wallMs / 1000, 1),
    deployPhaseSeconds: round(measured.deployPhaseMs / 1000, 1),
    failed: measured.failed,
    cpuSecondsPerRenewal: { ...measured.cpuSecondsPerRenewal, bareKeyGeneration: round(60 / isolatedKeygenRate, 4) },
  };
}

function renewResult(figures: RenewFigures) {
  const { renewals, shared, keygenBefore, keygenAfter, roundTrips, hostMemory } = figures;
  const keygenRate = (keygenBefore + keygenAfter) / 2;
  const cpuSecondsPerRenewal = { ...shared.cpuSecondsPerRenewal, bareKeyGeneration: round((60 / keygenRate) * figures.cores, 4) };
  const ratio = shared.renewalsPerMinute / keygenRate;
  const isolatedResult = isolatedResultOf(figures);
  const peakMiB = round(hostMemory.hwmKiB / 1024, 1);
  const { perService, counts } = roundTrips;
  const goalsMet = Object.fromEntries(
    Object.entries(ROUND_TRIP_GOALS).map(([k, v]) => [k, perService[k as keyof typeof ROUND_TRIP_GOALS]! <= v]),
  );
  return {
    benchmark: 'renew',
    renewals,
    failed: figures.failed,
    confirmDelaySeconds: figures.confirmDelaySeconds,
    wallSeconds: round(shared.wallMs / 1000, 1),
    firstReadSeconds: round(shared.firstReadMs / 1000, 1),
    deployPhaseSeconds: round(shared.deployPhaseMs / 1000, 1),
    renewalsPerMinute: round(shared.renewalsPerMinute, 1),
    keygenPerMinute: round(keygenRate, 1),
    keygenPerMinuteBeforeAndAfter: [round(keygenBefore, 1), round(keygenAfter, 1)],
    ratio: round(ratio, 3),
    ceiling: ceilingOf(cpuSecondsPerRenewal.bareKeyGeneration, [
      cpuSecondsPerRenewal.host,
      cpuSecondsPerRenewal.emulators,
      cpuSecondsPerRenewal.azurite,
    ]),
    servicesOnOtherCores: isolatedResult,
    roundTripsPerRenewal: perService,
    connectionsPerRenewal: roundTrips.connectionsPerRenewal,
    goalsMet: {
      throughput: ratio >= 0.7,
      throughputServicesOnOtherCores: isolatedResult === null ? null : isolatedResult.ratio >= 0.7,
      ...goalsMet,
      memory: peakMiB <= 256,
    },
    hostPeakRssMiB: peakMiB,
    hostNodeOptions: figures.hostNodeOptions,
    hostRssMiB: { started: hostMemory.startedRssMiB, afterWarmUp: figures.rssBeforeMiB, afterMeasuredRound: figures.rssAfterMiB },
    cpuSecondsPerRenewal,
    hostMemorySamples: hostMemory.samples,
    callsPerRenewalByRoute: {
      graph: perRenewal(counts.graph, renewals),
      keyVault: perRenewal(counts.keyVault, renewals),
      email: perRenewal(counts.email, renewals),
      eventGrid: perRenewal(counts.eventGrid, renewals),
      authority: perRenewal(counts.authority, renewals),
      storage: perRenewal(counts.storage, renewals),
    },
    trace: [...figures.trace],
    ...machine(),
  };
}

function printSummary(result: ReturnType<typeof renewResult>): void {
  const { ceiling, servicesOnOtherCores: isolated, cpuSecondsPerRenewal, hostRssMiB } = result;
  console.log(
    `  ${result.renewals} renewals in ${result.wallSeconds} s, the first read of an app ${result.firstReadSeconds} s in, ` +
      `deploys done at ${result.deployPhaseSeconds} s, ${result.failed} failed: ${result.renewalsPerMinute} renewals/min ` +
      `from the first read; ratio to the key-generation bound (goal >= 0.7): ${result.ratio}` +
      (ceiling === null ? '' : `; at most ${ceiling} at full use of the cores, for what a renewal cost them`),
  );
  if (isolated) {
    console.log(
      `  the host on one core, the services on the other: ${isolated.renewalsPerMinute} renewals/min ` +
        `(same measure) against ${isolated.keygenPerMinute} keys/min on that core: ratio ${isolated.ratio}` +
        (isolated.ceiling === null ? '' : `; at most ${isolated.ceiling} at full use of that core`),
    );
  }
  console.log('  round trips per renewal (goal):');
  for (const [service, value] of Object.entries(result.roundTripsPerRenewal)) {
    const goal = ROUND_TRIP_GOALS[service as keyof typeof ROUND_TRIP_GOALS];
    console.log(`    ${service.padEnd(18)} ${String(value).padStart(6)}${goal === undefined ? '' : `  (<= ${goal})`}`);
  }
  console.log('  by route, per renewal:');
  for (const [service, routes] of Object.entries(result.callsPerRenewalByRoute))
    for (const [route, value] of Object.entries(routes)) console.log(`    ${service.padEnd(10)} ${route.padEnd(48)} ${value}`);
  console.log('  one renewal alone, call by call:');
  result.trace.forEach((call, i) => console.log(`    ${String(i + 1).padStart(2)}. ${call}`));
  console.log(
    `  CPU seconds per renewal: host ${cpuSecondsPerRenewal.host}, emulators ${cpuSecondsPerRenewal.emulators}, Azurite ${cpuSecondsPerRenewal.azurite}` +
      ` (a bare key costs ${cpuSecondsPerRenewal.bareKeyGeneration} core-seconds here)`,
  );
  console.log(
    `  local host peak resident memory (VmHWM, goal <= 256 MiB): ${result.hostPeakRssMiB} MiB; resident at start ${hostRssMiB.started}, ` +
      `after warm-up ${hostRssMiB.afterWarmUp}, after the measured round ${hostRssMiB.afterMeasuredRound} MiB`,
  );
}
