import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { QueueClient } from '@azure/storage-queue';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from '../src/lib/domain/renewalQueueName.js';
import type { RotationView } from '../src/lib/domain/rotation.js';
import { ROTATION_COMPLETED_EVENT } from '../src/lib/rotations/rotationService.js';
import type { RecordedRequest } from '../test/emulators/emulatorServer.js';
import { credentialBaseline, renewalViolations, type RenewalInvariant } from '../test/support/renewalInvariants.js';
import { waitFor } from './hostProcess.js';
import { keygenPerMinute } from './renew.js';
import { startRenewWorld, type RenewWorld } from './renewWorld.js';
import { machine, printResult, round } from './stats.js';

/**
 * Bulk rotation under Graph's write limit (issue 19.4): how close the rotator's pacing runs to the rate
 * Graph allows, and that pacing costs nothing in correctness.
 *
 * The local host (a child process, as in the renew benchmark: bench/renewWorld.ts) serves APPS apps:
 *  1. warm-up with no write limit: every app's first managed certificate, so the rotation renews apps
 *     that have one; its rate is the host's unthrottled renewal rate on this machine;
 *  2. bare RSA-2048 key generation (cores in flight), the host idle: the machine's physical bound;
 *  3. the Graph emulator's per-application-and-tenant write limit scaled down (LIMIT_WRITES per
 *     LIMIT_WINDOW_SECONDS, test/emulators/graphThrottle.ts: a token bucket that starts full and refills
 *     continuously), chosen well below both rates above so that Graph's budget, not the machine, binds;
 *  4. POST /api/rotations {selector: {all: true}} with an Admin token, GET /api/rotations/{id} every
 *     POLL_INTERVAL_MS until completed, the Graph emulator's request log recording every write
 *     (PATCH, addKey, removeKey on applications) with its answer and time.
 *
 * The baseline is the theoretical line the issue names: the allowed rate. The minimum wall time for W
 * successful writes is (W - B) / r with a bucket of B writes full at the start and refilling at r a
 * second (the first B go at once), plus the confirm delay (0 here, as in the renew benchmark, so each
 * confirm stage runs inside the measured time). The issue's literal W / r is printed beside it.
 */
const APPS = Number(process.env.BENCH_ROTATE_APPS ?? 2000);
const LIMIT_WRITES = Number(process.env.BENCH_ROTATE_WRITES ?? 150);
const LIMIT_WINDOW_SECONDS = Number(process.env.BENCH_ROTATE_WINDOW_SECONDS ?? 15);
const KEYGEN_SAMPLES = Number(process.env.BENCH_KEYGEN_SAMPLES ?? 100);
const CONFIRM_DELAY_SECONDS = 0;
/** An admin's client polling the rotation; each GET reads the rotation's rows, so not much faster. */
const POLL_INTERVAL_MS = 2000;
const PROGRESS_EVERY_MS = 20_000;
const ROTATION_TIMEOUT_MS = 20 * 60_000;
const WRITE_ROUTES = new Set(['update-application', 'add-key', 'remove-key']);
/** The host's line for a renewal put back on the queue after a 429 or its own pacer's hold (renewalService.ts). */
const THROTTLED_LINE = 'renewal deferred: throttled';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchRotate(): Promise<void> {
  const world = await startRenewWorld(APPS, CONFIRM_DELAY_SECONDS, { scratch: 'rotate' });
  try {
    const { host, services } = world;
    const cores = availableParallelism();
    console.log(`rotate: ${APPS} apps, local host ${host.url} (pid ${host.child.pid}), node ${process.version}, ${cores} cores`);

    // 1. Warm-up, no write limit.
    services.graph.writeThrottle.configure({});
    const warmStart = performance.now();
    await world.push('bootstrap');
    await waitFor('the warm-up renewals', () => world.renewed() + world.failed() >= APPS, host, world.hostLog);
    const warmSeconds = (performance.now() - warmStart) / 1000;
    await quiet(world);
    const warmRate = APPS / warmSeconds;
    console.log(`  warm-up (no write limit): ${APPS} first certificates in ${round(warmSeconds, 1)} s, ${round(warmRate, 1)} renewals/s`);
    if (world.failed() > 0) throw new Error(`${world.failed()} warm-up renewals failed; see ${world.hostLog}`);

    // 2. The machine's bound.
    const keygenRate = (await keygenPerMinute(KEYGEN_SAMPLES, cores)) / 60;
    console.log(`  bare RSA-2048 key generation, ${cores} in flight: ${round(keygenRate, 1)} keys/s`);

    // 3. Graph's budget, scaled down.
    const allowedRate = LIMIT_WRITES / LIMIT_WINDOW_SECONDS;
    console.log(
      `  Graph write limit: ${LIMIT_WRITES} writes per ${LIMIT_WINDOW_SECONDS} s per application and tenant = ${round(allowedRate, 2)} writes/s ` +
        `(${round(allowedRate / warmRate, 2)}x the warm-up's renewals/s, both stages; ${round(allowedRate / keygenRate, 2)}x bare key generation)`,
    );
    const run = await rotateAll(world, allowedRate);

    // 5. What the rotation did to each app.
    const checks = await checkApps(world, run.baselines);
    await host.stop();
    report({ warmRate, keygenRate, allowedRate, run, checks });
  } finally {
    await world.cleanup();
  }
}

type Baselines = ReturnType<typeof credentialBaseline>[];

interface RotationRun {
  readonly postMs: number;
  readonly wallMs: number;
  readonly view: RotationView;
  readonly writes: readonly RecordedRequest[];
  readonly t0: number;
  readonly completedEvents: number;
  readonly throttledPutBacks: number;
  readonly baselines: Baselines;
  /** Each poll's counts: how many apps were verified by a given time. */
  readonly progress: readonly { readonly at: number; readonly counts: RotationView['counts'] }[];
}

/** 4. One bulk rotation of every app, from the POST to the rotation's completedAt. */
async function rotateAll(world: RenewWorld, allowedRate: number): Promise<RotationRun> {
  const { host, services, api } = world;
  const { graph, authority } = services;
  const baselines = world.appIds.map((appId) => credentialBaseline({ graph }, appId));
  graph.writeThrottle.configure({ applicationTenant: { writes: LIMIT_WRITES, windowMs: LIMIT_WINDOW_SECONDS * 1000 } });
  graph.server.resetCounters();
  const completedBefore = completedEvents(world);
  const logOffset = statSync(world.hostLog).size;
  const token = await authority.issueAccessToken({
    tenantId: api.tenantId,
    audience: api.audience,
    roles: ['CertRotator.Admin'],
    name: 'Benchmark admin',
  });
  const headers = { authorization: `Bearer ${token}` };

  const t0 = Date.now();
  const posted = await fetch(`${host.url}/rotations`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ selector: { all: true }, reason: 'Benchmark: bulk rotation under a scaled-down Graph write limit' }),
  });
  const postMs = Date.now() - t0;
  if (posted.status !== 202) throw new Error(`POST /api/rotations answered ${posted.status}: ${await posted.text()}`);
  const started = (await posted.json()) as RotationView;
  console.log(`  POST /api/rotations: 202 in ${round(postMs / 1000, 1)} s, rotation ${started.id}, ${started.total} apps`);

  let view = started;
  const progress: { at: number; counts: RotationView['counts'] }[] = [];
  let nextProgress = t0 + PROGRESS_EVERY_MS;
  const deadline = t0 + ROTATION_TIMEOUT_MS;
  while (view.status !== 'completed') {
    if (host.child.exitCode !== null) throw new Error(`The local host exited during the rotation; see ${world.hostLog}`);
    if (Date.now() > deadline)
      throw new Error(`The rotation did not complete in time: ${JSON.stringify(view.counts)}; see ${world.hostLog}`);
    await sleep(POLL_INTERVAL_MS);
    const answer = await fetch(`${host.url}/rotations/${started.id}`, { headers });
    if (answer.status !== 200) throw new Error(`GET /api/rotations/${started.id} answered ${answer.status}: ${await answer.text()}`);
    view = (await answer.json()) as RotationView;
    progress.push({ at: Date.now(), counts: view.counts });
    if (Date.now() >= nextProgress) {
      nextProgress += PROGRESS_EVERY_MS;
      const writes = graphWrites(world);
      const ok = writes.filter((w) => w.status < 300).length;
      console.log(
        `    ${round((Date.now() - t0) / 1000, 0)} s: ${JSON.stringify(view.counts)}, Graph writes ${ok} ` +
          `(${round(ok / ((Date.now() - t0) / 1000) / allowedRate, 2)}x allowed so far), 429s ${writes.filter((w) => w.status === 429).length}`,
      );
    }
  }
  const wallMs = Date.parse(view.completedAt!) - t0;
  // The completion event follows the completed record; the last confirm's lease release follows its event.
  await waitFor('RotationCompleted', () => completedEvents(world) > completedBefore, host, world.hostLog);
  await quiet(world);
  const hostLogTail = readFileSync(world.hostLog, 'utf8').slice(logOffset);
  return {
    postMs,
    wallMs,
    view,
    writes: graphWrites(world),
    t0,
    completedEvents: completedEvents(world) - completedBefore,
    throttledPutBacks: hostLogTail.split(THROTTLED_LINE).length - 1,
    baselines,
    progress,
  };
}

/**
 * Graph's bucket replayed from the emulator's log (every write attempt, a 429 charged too, as
 * graphThrottle.ts does): the share of the write span it spent at least half used, and the most it
 * was used. The pacer holds it just under 0.8 (writes are spaced from there: writePacing.ts) while
 * Graph's budget is what holds writes back; a machine too slow to use the budget would let it
 * refill towards empty use.
 */
function bucketUse(writes: readonly RecordedRequest[], allowedRate: number): { halfUsedShare: number; peakUsage: number } {
  const times = writes.map((w) => w.at.getTime()).sort((a, b) => a - b);
  const half = LIMIT_WRITES / 2;
  let tokens = LIMIT_WRITES;
  let halfUsedMs = 0;
  let peakUsage = 0;
  for (let i = 0; i < times.length; i++) {
    if (i > 0) {
      const dt = times[i]! - times[i - 1]!;
      // From the previous write until the refill lifts the bucket past half its writes.
      if (tokens <= half) halfUsedMs += Math.min(dt, ((half - tokens) / allowedRate) * 1000);
      tokens = Math.min(LIMIT_WRITES, tokens + (dt * allowedRate) / 1000);
    }
    tokens = Math.max(tokens - 1, LIMIT_WRITES * (1 - 1.8));
    peakUsage = Math.max(peakUsage, (LIMIT_WRITES - tokens) / LIMIT_WRITES);
  }
  const spanMs = times.length > 1 ? times.at(-1)! - times[0]! : 0;
  return { halfUsedShare: spanMs > 0 ? halfUsedMs / spanMs : 0, peakUsage };
}

const graphWrites = ({ services }: RenewWorld) => services.graph.server.requests().filter((r) => WRITE_ROUTES.has(r.route));

const completedEvents = ({ services }: RenewWorld) =>
  services.eventGrid.events().filter((e) => e.event.type === ROTATION_COMPLETED_EVENT).length;

/** Until neither Graph nor Key Vault has been asked anything for two seconds (the last confirms done). */
async function quiet({ services }: RenewWorld): Promise<void> {
  const activity = () => services.graph.server.requests().length + services.keyVault.server.requests().length;
  for (let before = -1, now = activity(); now !== before; now = activity()) {
    before = now;
    await sleep(2000);
  }
}

interface AppChecks {
  readonly violations: Record<RenewalInvariant, number>;
  readonly examples: string[];
  readonly newCertificates: Record<string, number>;
  readonly lostInLedger: number;
  readonly poisoned: number;
}

/**
 * 5. Per app, docs/renewal.md's invariants against its credentials before the rotation: exactly one new
 * certificate (the rotation's renewal's, tagged in Key Vault), every earlier credential still there,
 * Entra, Key Vault and the stored state agreeing; and the ledger's removals since the rotation began.
 */
async function checkApps(world: RenewWorld, baselines: Baselines): Promise<AppChecks> {
  const { graph, keyVault } = world.services;
  const parts = { graph, keyVault, store: world.store };
  const violations: Record<RenewalInvariant, number> = { 'one-certificate-per-renewal': 0, 'no-lost-credential': 0, agreement: 0 };
  const examples: string[] = [];
  const newCertificates: Record<string, number> = {};
  for (const before of baselines) {
    const found = await renewalViolations(parts, before, { newCertificates: 1 });
    for (const invariant of new Set(found.map((v) => v.invariant))) violations[invariant] += 1;
    for (const v of found.slice(0, Math.max(0, 5 - examples.length))) examples.push(`${v.appId} ${v.invariant}: ${v.message}`);
    const ids = new Set(before.credentials.map((c) => c.keyId));
    const added = graph.application(before.appId)!.keyCredentials.filter((c) => !ids.has(c.keyId)).length;
    newCertificates[added] = (newCertificates[added] ?? 0) + 1;
  }
  let poisoned = 0;
  for (const name of [RENEWAL_QUEUE_NAME, RENEWAL_CONFIRM_QUEUE_NAME]) {
    const poison = new QueueClient(world.storageConnectionString, `${name}-poison`);
    if (await poison.exists()) poisoned += (await poison.getProperties()).approximateMessagesCount ?? 0;
  }
  return { violations, examples, newCertificates, lostInLedger: graph.ledger.lost().length, poisoned };
}

function report({
  warmRate,
  keygenRate,
  allowedRate,
  run,
  checks,
}: {
  warmRate: number;
  keygenRate: number;
  allowedRate: number;
  run: RotationRun;
  checks: AppChecks;
}): void {
  const ok = run.writes.filter((w) => w.status < 300);
  const throttled = run.writes.filter((w) => w.status === 429).length;
  const otherRefusals = run.writes.length - ok.length - throttled;
  const times = ok.map((w) => w.at.getTime());
  const firstWrite = Math.min(...times);
  const lastWrite = Math.max(...times);
  const writeSpanSeconds = (lastWrite - firstWrite) / 1000;
  const achievedRate = ok.length / writeSpanSeconds;
  // What Graph would have let through over that span: the full bucket, then its refill.
  const admissible = LIMIT_WRITES + allowedRate * writeSpanSeconds;
  const minimumSeconds = Math.max(0, ok.length - LIMIT_WRITES) / allowedRate + CONFIRM_DELAY_SECONDS;
  const literalMinimumSeconds = ok.length / allowedRate + CONFIRM_DELAY_SECONDS;
  const wallSeconds = run.wallMs / 1000;
  // Successful writes per 15 s from the POST: the pace over the run, the first bin holding the bucket's burst.
  const bins: number[] = [];
  for (const t of times) {
    const bin = Math.floor((t - run.t0) / 15_000);
    while (bins.length <= bin) bins.push(0);
    bins[bin]! += 1;
  }
  const { counts } = run.view;
  const failedApps = counts.failed;
  const bucket = bucketUse(run.writes, allowedRate);
  const verifiedAtLastWrite = run.progress.filter((p) => p.at <= lastWrite).at(-1)?.counts.verified ?? 0;
  const tailSeconds = (run.t0 + run.wallMs - lastWrite) / 1000;
  console.log(
    `  rotation completed: ${JSON.stringify(counts)} in ${round(wallSeconds, 1)} s from the POST ` +
      `(first write ${round((firstWrite - run.t0) / 1000, 1)} s, last ${round((lastWrite - run.t0) / 1000, 1)} s)`,
  );
  console.log(
    `  Graph writes: ${ok.length} succeeded (${JSON.stringify(countBy(ok, (w) => w.route))}), ${throttled} answered 429, ` +
      `${otherRefusals} other refusals; renewals put back on the queue as throttled: ${run.throttledPutBacks}`,
  );
  console.log(
    `  achieved write rate: ${round(achievedRate, 2)} writes/s over ${round(writeSpanSeconds, 1)} s from first to last write = ` +
      `${round(achievedRate / allowedRate, 3)}x the allowed ${round(allowedRate, 2)} writes/s (goal >= 0.9); ` +
      `${round(ok.length / admissible, 3)} of what Graph admits in that span (${LIMIT_WRITES} at once, then ${round(allowedRate, 2)}/s)`,
  );
  console.log(
    `  wall time: ${round(wallSeconds, 1)} s against a theoretical minimum of ${round(minimumSeconds, 1)} s ` +
      `((${ok.length} - ${LIMIT_WRITES} burst) / ${round(allowedRate, 2)}/s + ${CONFIRM_DELAY_SECONDS} s confirm delay) = ` +
      `${round(wallSeconds / minimumSeconds, 3)}x (goal <= 1.2); against ${ok.length} / ${round(allowedRate, 2)}/s = ` +
      `${round(literalMinimumSeconds, 1)} s: ${round(wallSeconds / literalMinimumSeconds, 3)}x`,
  );
  console.log(`  successful writes per 15 s from the POST: ${bins.join(', ')}`);
  console.log(
    `  Graph's bucket (replayed from the log): at least half used for ${round(bucket.halfUsedShare * 100, 1)} % of the write span, ` +
      `peak use ${round(bucket.peakUsage, 2)}: ${bucket.halfUsedShare >= 0.9 ? "Graph's budget bound the writes" : 'the machine, not Graph, held writes back part of the time'}`,
  );
  console.log(
    `  phases: POST to first write ${round((firstWrite - run.t0) / 1000, 1)} s, writes ${round(writeSpanSeconds, 1)} s ` +
      `(${verifiedAtLastWrite} apps verified by the last write), last write to completed ${round(tailSeconds, 1)} s`,
  );
  console.log(
    `  failed apps ${failedApps}; new certificates per app ${JSON.stringify(checks.newCertificates)}; invariants broken (apps) ` +
      `${JSON.stringify(checks.violations)}; ledger removals not allowed ${checks.lostInLedger}; poison messages ${checks.poisoned}; ` +
      `RotationCompleted events ${run.completedEvents}`,
  );
  for (const example of checks.examples) console.log(`    ${example}`);
  printResult({
    benchmark: 'rotate',
    ...machine(),
    apps: APPS,
    limit: { writes: LIMIT_WRITES, windowSeconds: LIMIT_WINDOW_SECONDS },
    allowedWritesPerSecond: round(allowedRate, 3),
    warmUpRenewalsPerSecond: round(warmRate, 2),
    bareKeygenPerSecond: round(keygenRate, 1),
    postSeconds: round(run.postMs / 1000, 2),
    writesNeeded: ok.length,
    writesByRoute: countBy(ok, (w) => w.route),
    answered429: throttled,
    otherRefusals,
    throttledPutBacks: run.throttledPutBacks,
    achievedWritesPerSecond: round(achievedRate, 3),
    achievedOverAllowed: round(achievedRate / allowedRate, 3),
    shareOfAdmissible: round(ok.length / admissible, 3),
    wallSeconds: round(wallSeconds, 1),
    minimumSeconds: round(minimumSeconds, 1),
    wallOverMinimum: round(wallSeconds / minimumSeconds, 3),
    wallOverWritesOverRate: round(wallSeconds / literalMinimumSeconds, 3),
    writesPer15s: bins,
    bucketHalfUsedShare: round(bucket.halfUsedShare, 3),
    bucketPeakUsage: round(bucket.peakUsage, 3),
    firstWriteSeconds: round((firstWrite - run.t0) / 1000, 1),
    verifiedAtLastWrite,
    lastWriteToCompletedSeconds: round(tailSeconds, 1),
    counts,
    failedApps,
    duplicateCertificates: checks.violations['one-certificate-per-renewal'],
    lostCredentials: checks.violations['no-lost-credential'] + checks.lostInLedger,
    disagreements: checks.violations.agreement,
    newCertificatesPerApp: checks.newCertificates,
    poisoned: checks.poisoned,
    rotationCompletedEvents: run.completedEvents,
    goalsMet: achievedRate / allowedRate >= 0.9 && wallSeconds / minimumSeconds <= 1.2,
  });
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
