import { generateKeyPair, randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { RENEWAL_QUEUE_NAME } from '../src/lib/domain/renewalQueueName.js';
import type { AzuriteRequestLog } from './azuriteRequestLog.js';
import { cpuSecondsOf, hostNodeOptions, pin, readStatus, waitFor, type HostProcess } from './hostProcess.js';
import { renewReport, type RenewFigures, type RoundFigures } from './renewReport.js';
import { startRenewWorld, type Emulators, type RenewWorld } from './renewWorld.js';
import { round } from './stats.js';

/**
 * Renewal throughput, round trips and the local host's memory.
 *
 * The local host (the compiled tools/local-host/main.ts, a child process, as `npm run host` runs it) serves
 * the app's own registrations against Azurite and every emulator, signed in with the managed
 * identity of the authority emulator (IDENTITY_ENDPOINT / IDENTITY_HEADER), with nothing but the
 * environment a Function App would have. RENEWALS apps are imported into its table, and:
 *  1. warm-up: one renewal of every app (its first managed certificate: the steady state below
 *     renews apps that have one), through the queue;
 *  2. the bare key-generation rate of this machine (crypto.generateKeyPair, RSA-2048, concurrency =
 *     cores) in this process while the host is idle, before and after the round: the physical bound;
 *  3. a measured round: every app made due (see makeDue), RENEWALS deploy messages sent with a short
 *     visibility delay (the load is generated before the round), then the round runs until the last
 *     CertificateRenewed event. Renewals per minute and the ratio to the bound (goal >= 0.7);
 *  4. round trips per renewal by service, in step 3 (steady state, no faults, nothing expired):
 *     the emulators' counters, and the host's storage requests from Azurite's request log;
 *     goals 3 Graph, 2 Key Vault, 6 Table, 2 email, 1 Event Grid, 1 token request;
 *  3b. the same round with the host (every thread) on one core and the emulators and Azurite on the
 *     other(s), against bare key generation on that one core: the host's own rate, as in Azure where
 *     the services are not on its cores (needs taskset and two cores; skipped otherwise);
 *  5. one renewal alone, traced call by call (what each round trip is for);
 *  6. peak resident memory of the host process (VmHWM, /proc) over the whole run; goal <= 256 MiB.
 *
 * Throughput counts from the host's first read of an app to the last renewal: before it, the
 * messages are still invisible (their delay) and the idle host polls at its backed-off interval
 * (host.json maxPollingInterval). The host runs with CONFIRM_DELAY_SECONDS=0 (see below), so both
 * stages of every renewal fall inside that window.
 */
const RENEWALS = Number(process.env.BENCH_RENEWALS ?? 500);
const KEYGEN_SAMPLES = Number(process.env.BENCH_KEYGEN_SAMPLES ?? 100);
/**
 * The host's CONFIRM_DELAY_SECONDS: 0, so that every confirm stage runs inside the measured window
 * (in a burst they queue behind the deploys still waiting). With the default 30 s, the round would
 * include a 30 s wait that costs nothing, and taking it off the clock also takes off the time the
 * confirms ran in.
 */
const HOST_CONFIRM_DELAY_SECONDS = 0;
/** A measured round's deploy messages are sent this long before they become visible. */
const PUSH_VISIBILITY_DELAY_SECONDS = 5;
const generateKeyPairAsync = promisify(generateKeyPair);

/** Keys per minute of bare RSA-2048 generation with `concurrency` generations in flight. */
export async function keygenPerMinute(samples: number, concurrency: number): Promise<number> {
  await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < samples) {
        started += 1;
        await generateKeyPairAsync('rsa', { modulusLength: 2048 });
      }
    }),
  );
  return (samples / (performance.now() - t0)) * 60_000;
}

/**
 * Waits until the host has sent nothing but queue polls for a while: the last renewal's event is
 * published before its lease release and message delete, which belong to it too.
 */
async function settle(storage: AzuriteRequestLog, emulators: Emulators): Promise<void> {
  const activity = () =>
    storage.log.filter((r) => !(r.service === 'queue' && r.operation.startsWith('receive '))).length +
    Object.values(emulators).reduce((total, server) => total + server.requests().length, 0);
  let before = -1;
  for (let now = activity(); now !== before; now = activity()) {
    before = now;
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}

const sum = (counts: Record<string, number>, filter: (key: string) => boolean = () => true) =>
  Object.entries(counts)
    .filter(([k]) => filter(k))
    .reduce((total, [, v]) => total + v, 0);

const residentMiB = (host: HostProcess) => round((readStatus(host.child.pid!)?.rssKiB ?? 0) / 1024, 1);

export async function benchRenew(): Promise<void> {
  const world = await startRenewWorld(RENEWALS, HOST_CONFIRM_DELAY_SECONDS);
  try {
    const { host } = world;
    console.log(
      `renew: ${RENEWALS} apps, local host ${host.url} (pid ${host.child.pid}), node ${process.version}, ${availableParallelism()} cores`,
    );
    await warmUp(world);

    // 2. The bound, measured while the host is idle, before and after the round: this machine's
    // key-generation rate drifts by a fifth between minutes (shared vCPUs), so the round is judged
    // against the mean of the two.
    const cores = availableParallelism();
    const keygenBefore = await keygenPerMinute(KEYGEN_SAMPLES, cores);
    console.log(`  bare RSA-2048 key generation, ${cores} in flight: ${round(keygenBefore, 0)} keys/min`);

    const rssBeforeMiB = residentMiB(host);
    const shared = await measuredRound(world, 'every process on every core');
    const keygenAfter = await keygenPerMinute(KEYGEN_SAMPLES, cores);
    console.log(`  bare RSA-2048 key generation after the round: ${round(keygenAfter, 0)} keys/min`);
    const rssAfterMiB = residentMiB(host);
    const roundTrips = countRoundTrips(world, shared.storageMark);
    const isolated = await isolatedRound(world, cores);
    const trace = await traceOneRenewal(world);

    await host.stop();
    renewReport({
      renewals: RENEWALS,
      confirmDelaySeconds: HOST_CONFIRM_DELAY_SECONDS,
      cores,
      keygenBefore,
      keygenAfter,
      shared,
      isolated,
      roundTrips,
      trace,
      failed: world.failed(),
      hostMemory: host.memory,
      hostNodeOptions: hostNodeOptions(),
      rssBeforeMiB,
      rssAfterMiB,
    });
  } finally {
    await world.cleanup();
  }
}

/** 1. Warm-up: every app gets its first managed certificate. */
async function warmUp({ host, hostLog, storage, emulators, push, renewed, failed }: RenewWorld): Promise<void> {
  const warmStart = performance.now();
  await push('bootstrap');
  await waitFor('the warm-up renewals', () => renewed() + failed() >= RENEWALS, host, hostLog);
  await settle(storage, emulators);
  console.log(`  warm-up: ${RENEWALS} first certificates in ${round((performance.now() - warmStart) / 1000, 1)} s`);
}

/** 3 and 4. A measured round: every app made due, counters from zero, RENEWALS deploy messages. */
async function measuredRound(world: RenewWorld, label: string): Promise<RoundFigures> {
  const { host, hostLog, storage, emulators, azuritePid, renewed, failed } = world;
  await world.makeDue(world.appIds);
  // The load is generated before the measurement: the deploy messages become visible together
  // once all are sent, so neither the pushes nor their storage requests fall into the round.
  const pushStarted = performance.now();
  await world.push('scheduled', PUSH_VISIBILITY_DELAY_SECONDS);
  const pushMs = performance.now() - pushStarted;
  if (pushMs > (PUSH_VISIBILITY_DELAY_SECONDS - 1) * 1000) {
    throw new Error(`Pushing ${RENEWALS} messages took ${round(pushMs / 1000, 1)} s, longer than their visibility delay allows`);
  }
  for (const server of Object.values(emulators)) server.resetCounters();
  const mark = await world.mark();
  const renewedBefore = renewed();
  const failedBefore = failed();
  const cpuBefore = {
    host: cpuSecondsOf(host.child.pid!),
    emulators: process.cpuUsage(),
    azurite: azuritePid === undefined ? Number.NaN : cpuSecondsOf(azuritePid),
  };
  const t0 = performance.now();
  const t0Epoch = Date.now();
  await waitFor(`${RENEWALS} renewals (${label})`, () => renewed() - renewedBefore + failed() - failedBefore >= RENEWALS, host, hostLog);
  const wallMs = performance.now() - t0;
  await settle(storage, emulators);
  const emulatorCpu = process.cpuUsage(cpuBefore.emulators);
  const cpuSecondsPerRenewal = {
    host: round((cpuSecondsOf(host.child.pid!) - cpuBefore.host) / RENEWALS, 4),
    // The bench process: the emulators, the pushes and the polling.
    emulators: round((emulatorCpu.user + emulatorCpu.system) / 1e6 / RENEWALS, 4),
    azurite: azuritePid === undefined ? null : round((cpuSecondsOf(azuritePid) - cpuBefore.azurite) / RENEWALS, 4),
  };
  const deployedLastAt = Math.max(...emulators.keyVault.requests('importCertificate').map((r) => r.at.getTime()));
  // The host, idle before the round, polls the queue at its backed-off interval (host.json
  // maxPollingInterval) and the messages become visible only after their delay: the round's
  // work starts at the host's first read of an app.
  const firstRead = storage.log.slice(mark).find((r) => r.service === 'table' && r.operation === 'get entity');
  const firstReadMs = firstRead === undefined ? 0 : Math.max(0, firstRead.at - t0Epoch);
  return {
    wallMs,
    firstReadMs,
    renewalsPerMinute: (RENEWALS / (wallMs - firstReadMs)) * 60_000,
    deployPhaseMs: deployedLastAt - t0Epoch,
    cpuSecondsPerRenewal,
    storageMark: mark,
    failed: failed() - failedBefore,
  };
}

/** Round trips per renewal by service, from the emulators' counters and Azurite's log since `storageMark`. */
function countRoundTrips({ emulators, storage }: RenewWorld, storageMark: number): RenewFigures['roundTrips'] {
  const counts = {
    graph: emulators.graph.counters(),
    keyVault: emulators.keyVault.counters(),
    email: emulators.email.counters(),
    eventGrid: emulators.eventGrid.counters(),
    authority: emulators.authority.counters(),
    storage: storage.counts(storageMark),
  };
  const connectionsPerRenewal = Object.fromEntries(
    Object.entries(emulators).map(([service, server]) => [service, round(server.connections() / RENEWALS, 2)]),
  );
  const isAppTable = (k: string) => k.startsWith('table ');
  const isHostPolling = (k: string) => /^queue (receive|delete message|update message) renewal-(requests|confirmations)$/.test(k);
  const perService = {
    graph: round(sum(counts.graph) / RENEWALS, 2),
    keyVault: round(sum(counts.keyVault) / RENEWALS, 2),
    table: round(sum(counts.storage, isAppTable) / RENEWALS, 2),
    email: round(sum(counts.email) / RENEWALS, 2),
    eventGrid: round(sum(counts.eventGrid) / RENEWALS, 2),
    token: round(sum(counts.authority) / RENEWALS, 2),
    queueSends: round(sum(counts.storage, (k) => k.startsWith('queue send')) / RENEWALS, 2),
    queueHostPolling: round(sum(counts.storage, isHostPolling) / RENEWALS, 2),
  };
  return { counts, connectionsPerRenewal, perService };
}

/**
 * 3b. The same round with the services off the host's cores, as in Azure: on this machine the
 * emulators and Azurite take their CPU from the cores the host would use. The host (every
 * thread) on the first core, this process (the emulators) and Azurite on the others; the bound
 * is bare key generation on that first core, one in flight, with the host idle.
 */
async function isolatedRound(world: RenewWorld, cores: number): Promise<RenewFigures['isolated']> {
  const { azuritePid, host } = world;
  const canPin = cores >= 2 && azuritePid !== undefined && pin(process.pid, '0');
  if (!canPin) return undefined;
  try {
    const oneCoreBefore = await keygenPerMinute(Math.ceil(KEYGEN_SAMPLES / 2), 1);
    const others = `1-${cores - 1}`;
    pin(process.pid, others);
    pin(azuritePid, others);
    pin(host.child.pid!, '0');
    const measured = await measuredRound(world, 'the host on one core, the services on the others');
    pin(process.pid, '0');
    const oneCoreAfter = await keygenPerMinute(Math.ceil(KEYGEN_SAMPLES / 2), 1);
    console.log(`  bare RSA-2048 key generation on one core: ${round(oneCoreBefore, 0)} and ${round(oneCoreAfter, 0)} keys/min`);
    return { round: measured, keygenRates: [oneCoreBefore, oneCoreAfter] };
  } finally {
    const all = `0-${cores - 1}`;
    for (const pid of [process.pid, azuritePid, host.child.pid!]) pin(pid, all);
  }
}

/** 5. One renewal alone, call by call. */
async function traceOneRenewal(world: RenewWorld): Promise<string[]> {
  const { host, hostLog, storage, emulators, appIds } = world;
  for (const server of Object.values(emulators)) server.resetCounters();
  const traceBefore = world.renewed();
  await world.makeDue(appIds.slice(0, 1));
  const traceMark = await world.mark();
  await world.queue.enqueue({ appId: appIds[0]!, renewalId: randomUUID(), stage: 'deploy', trigger: 'scheduled' });
  await waitFor('the traced renewal', () => world.renewed() > traceBefore, host, hostLog);
  await settle(storage, emulators);
  const benchSend = `send ${RENEWAL_QUEUE_NAME}`;
  return [
    ...Object.entries(emulators).flatMap(([service, server]) =>
      server.requests().map((r) => ({ at: r.at.getTime(), call: `${service} ${r.method} ${r.route} ${r.status}` })),
    ),
    ...storage.log
      .slice(traceMark)
      // The first send is the benchmark's own deploy message.
      .filter((r, i, all) => !(r.service === 'queue' && r.operation === benchSend && all.findIndex((o) => o.operation === benchSend) === i))
      .filter((r) => !(r.service === 'queue' && /^(receive|peek) /.test(r.operation)))
      .map((r) => ({ at: r.at, call: `${r.service} ${r.operation}` })),
  ]
    .sort((a, b) => a.at - b.at)
    .map((t) => t.call);
}
