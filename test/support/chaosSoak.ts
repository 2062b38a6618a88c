import { randomUUID } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { createSelfSignedCertificate, generateRsaKeyPair } from '../../src/lib/certificates/generateCertificate.js';
import type { StoredApp } from '../../src/lib/domain/storedApp.js';
import type { ChaosFault, EmulatorServer } from '../emulators/emulatorServer.js';
import { credentialBaseline, renewalViolations, type CredentialBaseline, type RenewalInvariant } from './renewalInvariants.js';
import { startChaosWorld, type ChaosHost, type ChaosWorld } from './chaosWorld.js';

/**
 * The chaos soak (issue 20, docs/renewal.md): every app due at once, processed by a local host that
 * is SIGKILLed at random moments and started again, a second host beside it for part of the run,
 * every emulator answering a share of requests with a 429, a 503 or a stall, and Azurite restarted
 * once. Then the faults stop, one host runs the scheduler every few seconds until nothing is left
 * to do, and every app is checked: converged (renewed and verified, or its failure recorded with
 * its email and event), one certificate per renewal, no credential lost, Entra, Key Vault and the
 * state agreeing, nothing in the poison queue without a recorded failure.
 *
 * The hosts run with short holds so that a kill is recovered from in seconds, not the production
 * defaults' minutes: RENEWAL_LEASE_SECONDS 60 (the least the product allows) and the local host's
 * processing visibility LOCAL_HOST_PROCESSING_VISIBILITY_SECONDS 10 (the Functions host's 10 minutes,
 * renewed while a function runs: only a killed host's messages wait it out), and host.json's queue
 * visibilityTimeout 5 s instead of 30 s (a failed delivery's retry; a renewal failing for good takes
 * five deliveries to reach the poison queue).
 */
export interface SoakOptions {
  readonly apps: number;
  readonly kills: number;
  /**
   * Apps whose renewal must fail for good: after the warm-up their registrations are filled to
   * Graph's credential limit with certificates the rotator did not make, so adding one more is
   * Directory_ResourceSizeExceeded (a failure no retry changes), and the failure path is soaked too.
   */
  readonly doomed: number;
  readonly seed: number;
  /** The latest the kills, the second host and the Azurite restart happen (they follow the renewals' progress). */
  readonly chaosMaxMs: number;
  /** Share of requests every emulator answers with a fault. */
  readonly faultRate: number;
  /** A stalled answer's delay: below every deadline the product sets (30 s and more), so it is survived, and counted. */
  readonly stallMs: number;
  readonly settleTimeoutMs: number;
  readonly dir: string;
  readonly log?: (line: string) => void;
}

export type SoakInvariant = RenewalInvariant | 'not-converged' | 'unverified' | 'failure-without-email' | 'failure-without-event';

export interface SoakReport {
  readonly seed: number;
  readonly apps: number;
  readonly renewed: number;
  readonly failedForGood: number;
  /** Doomed apps (options.doomed) whose renewal did not end failed. */
  readonly doomedNotFailed: number;
  readonly kills: number;
  readonly hostStarts: number;
  readonly azuriteRestarts: number;
  readonly faults: Record<string, Record<string, number>>;
  readonly faultsTotal: number;
  readonly poisoned: number;
  readonly poisonedWithoutFailure: number;
  readonly lostCredentials: number;
  /** Certificates the Graph emulator's ledger saw added from the start of the chaos. */
  readonly certificatesAdded: number;
  readonly violations: Record<SoakInvariant, number>;
  /** The first few, to say what went wrong. */
  readonly examples: readonly string[];
  readonly warmUpMs: number;
  readonly chaosMs: number;
  readonly settleMs: number;
}

const SERVICES = ['authority', 'graph', 'keyVault', 'email', 'eventGrid'] as const;
const FAILED_EVENT = 'EntraCertRotator.CertificateRenewalFailed';
const OUTCOME_EVENTS = ['EntraCertRotator.CertificateRenewed', FAILED_EVENT];

export async function runChaosSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const rng = xoroshiro128plus(options.seed);
  const random = () => uniformFloat64(rng);
  const world = await startChaosWorld({
    apps: options.apps,
    dir: options.dir,
    queueRetrySeconds: 5,
    hostEnv: {
      CONFIRM_DELAY_SECONDS: '0',
      RENEWAL_LEASE_SECONDS: '60',
      LOCAL_HOST_PROCESSING_VISIBILITY_SECONDS: '10',
      VERIFY_WINDOW_MINUTES: '1',
    },
  });
  // Azure runs one instance of a timer function across a scaled-out app (a blob lease): the soak's
  // main host runs the scheduler every 5 s, the second host never.
  const primaryEnv = { RENEWAL_SCHEDULE: '*/5 * * * * *' };
  const secondaryEnv = { RENEWAL_SCHEDULE: '0 0 0 1 1 *' };
  let hostStarts = 0;
  const start = async (name: string, env: NodeJS.ProcessEnv) => {
    hostStarts += 1;
    return world.startHost(name, env);
  };
  try {
    let primary = await start('primary', primaryEnv);
    const t0 = Date.now();
    await warmUp(world);
    const warmUpMs = Date.now() - t0;
    log(`warm-up: ${options.apps} first certificates in ${warmUpMs} ms`);

    const doomed = world.appIds.slice(0, options.doomed);
    await fillToTheLimit(world, doomed);
    const baselines = new Map(world.appIds.map((appId) => [appId, credentialBaseline(world, appId)]));
    const before = new Map((await world.apps()).map((app) => [app.config.appId, app.state.currentThumbprint]));
    const ledgerMark = world.graph.ledger.changes().length;
    const servers = emulatorServers(world);
    for (const server of Object.values(servers)) server.resetCounters();

    // Chaos: every app due, faults on, kills, a second host, an Azurite restart, at seeded moments.
    const chaosStart = Date.now();
    await makeAllDue(world);
    const faults: ChaosFault[] = [
      { kind: '429', status: 429, retryAfterSeconds: 1 },
      { kind: '503', status: 503, retryAfterSeconds: 1 },
      { kind: 'stall', delayMs: options.stallMs },
    ];
    for (const server of Object.values(servers)) server.chaos({ rate: options.faultRate, random, faults });
    // Each step at a random point of the renewals' progress (renewed or failed events since the
    // chaos began), so that kills land while renewals are in flight; at the latest at chaosMaxMs.
    const finished = () => world.eventGrid.events().filter((e) => OUTCOME_EVENTS.includes(e.event.type)).length;
    const finishedBefore = finished();
    const progress = () => (finished() - finishedBefore) / options.apps;
    const timeline: { at: number; what: string; run: () => Promise<void> }[] = [];
    for (let k = 0; k < options.kills; k++) {
      timeline.push({
        at: 0.05 + 0.85 * random(),
        what: 'kill',
        run: async () => {
          await primary.kill();
          primary = await start('primary', primaryEnv);
        },
      });
    }
    let secondary: ChaosHost | undefined;
    let azuriteRestarts = 0;
    timeline.push({
      at: 0.05 + 0.2 * random(),
      what: 'second host up',
      run: async () => void (secondary = await start('secondary', secondaryEnv)),
    });
    timeline.push({ at: 0.6 + 0.2 * random(), what: 'second host killed', run: async () => secondary?.kill() });
    timeline.push({
      at: 0.3 + 0.4 * random(),
      what: 'Azurite restart',
      run: async () => {
        await world.restartAzurite();
        azuriteRestarts += 1;
      },
    });
    timeline.sort((a, b) => a.at - b.at);
    let kills = 0;
    const deadline = chaosStart + options.chaosMaxMs;
    for (const step of timeline) {
      while (progress() < step.at && Date.now() < deadline) await sleep(100);
      log(`  +${Date.now() - chaosStart} ms, ${Math.round(progress() * 100)} % done: ${step.what}`);
      await step.run();
      if (step.what === 'kill') kills += 1;
    }
    const faultCounts = Object.fromEntries(SERVICES.map((s) => [s, servers[s].chaosServed()]));
    for (const server of Object.values(servers)) server.chaos(undefined);
    const chaosMs = Date.now() - chaosStart;
    log(`chaos: ${chaosMs} ms, ${kills} kills, faults ${JSON.stringify(faultCounts)}`);

    // Settling: the primary host alone, no faults, until every app is done and nothing is queued.
    const settleStart = Date.now();
    await settle(world, options.settleTimeoutMs, before);
    const settleMs = Date.now() - settleStart;
    log(`settled in ${settleMs} ms`);
    await primary.stop();

    const report = await check(world, { baselines, before });
    const failed = new Set((await world.apps()).filter((a) => a.state.renewal?.stage === 'failed').map((a) => a.config.appId));
    return {
      seed: options.seed,
      apps: options.apps,
      ...report,
      kills,
      hostStarts,
      azuriteRestarts,
      doomedNotFailed: doomed.filter((appId) => !failed.has(appId)).length,
      certificatesAdded: world.graph.ledger
        .changes()
        .slice(ledgerMark)
        .filter((c) => c.change === 'added').length,
      faults: faultCounts,
      faultsTotal: Object.values(faultCounts).reduce((n, kinds) => n + Object.values(kinds).reduce((a, b) => a + b, 0), 0),
      warmUpMs,
      chaosMs,
      settleMs,
    };
  } finally {
    await world.close();
  }
}

/** Each app's registration filled to Graph's limit with certificates of someone else's. */
async function fillToTheLimit(world: ChaosWorld, appIds: readonly string[]): Promise<void> {
  const keyPair = await generateRsaKeyPair(2048);
  for (const appId of appIds) {
    while (world.graph.application(appId)!.keyCredentials.length < world.graph.maxKeyCredentials) {
      world.graph.seedCertificate(
        appId,
        createSelfSignedCertificate(keyPair, { displayName: 'Uploaded by an admin', lifetimeDays: 365 }).der,
      );
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function emulatorServers(world: ChaosWorld): Record<(typeof SERVICES)[number], EmulatorServer> {
  return {
    authority: world.authority.server,
    graph: world.graph.server,
    keyVault: world.keyVault.server,
    email: world.email.server,
    eventGrid: world.eventGrid.server,
  };
}

/** Every app's first certificate, through the host (bootstrap deploy messages), verified. */
async function warmUp(world: ChaosWorld): Promise<void> {
  const send = (appId: string) =>
    world.queue.sendMessage(
      Buffer.from(JSON.stringify({ appId, renewalId: randomUUID(), stage: 'deploy', trigger: 'bootstrap' })).toString('base64'),
    );
  for (let i = 0; i < world.appIds.length; i += 50) await Promise.all(world.appIds.slice(i, i + 50).map(send));
  await waitUntil('the warm-up', 10 * 60_000, async () => {
    const apps = await world.apps();
    return apps.every((a) => a.state.verifiedAt !== undefined && a.state.lease === undefined && a.state.renewal?.stage === 'completed');
  });
}

/**
 * Every app due: a longer lifetime and a renew-before window under which the current certificate is
 * inside it (bench/renewWorld.ts makeDue), written as an admin's change would be.
 */
async function makeAllDue(world: ChaosWorld): Promise<void> {
  const apps = await world.apps();
  for (let i = 0; i < apps.length; i += 20) {
    await Promise.all(
      apps.slice(i, i + 20).map((app) => world.store.updateApp(app, { config: { ...app.config, lifetimeDays: 60, renewBeforeDays: 40 } })),
    );
  }
}

/** Renewed since the chaos began (a new current certificate, its renewal complete) or failed and recorded so. */
const isDone = (app: StoredApp, before: ReadonlyMap<string, string | undefined>) =>
  app.state.lease === undefined &&
  app.state.pendingNotifications.length === 0 &&
  ((app.state.renewal?.stage === 'completed' && app.state.currentThumbprint !== before.get(app.config.appId)) ||
    app.state.renewal?.stage === 'failed');

async function settle(world: ChaosWorld, timeoutMs: number, before: ReadonlyMap<string, string | undefined>): Promise<void> {
  let left = '';
  await waitUntil(
    'the soak to settle',
    timeoutMs,
    async () => {
      const counts = await Promise.all(world.queues.map(async (q) => (await q.getProperties()).approximateMessagesCount ?? 0));
      const approximateMessagesCount = counts.reduce((a, b) => a + b, 0);
      const undone = (await world.apps()).filter((app) => !isDone(app, before));
      left = `${approximateMessagesCount} queued; ${undone.length} apps not done, e.g. ${JSON.stringify(undone[0]?.state)}`;
      return approximateMessagesCount === 0 && undone.length === 0;
    },
    () => left,
  );
}

async function waitUntil(what: string, timeoutMs: number, done: () => Promise<boolean>, left: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await done()) return;
    } catch {
      // Azurite restarting: ask again.
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${left()}`);
    await sleep(1000);
  }
}

async function check(
  world: ChaosWorld,
  run: { baselines: ReadonlyMap<string, CredentialBaseline>; before: ReadonlyMap<string, string | undefined> },
): Promise<
  Pick<SoakReport, 'renewed' | 'failedForGood' | 'poisoned' | 'poisonedWithoutFailure' | 'lostCredentials' | 'violations' | 'examples'>
> {
  const violations: Record<SoakInvariant, number> = {
    'one-certificate-per-renewal': 0,
    'no-lost-credential': 0,
    agreement: 0,
    'not-converged': 0,
    unverified: 0,
    'failure-without-email': 0,
    'failure-without-event': 0,
  };
  const examples: string[] = [];
  const fail = (invariant: SoakInvariant, text: string) => {
    violations[invariant] += 1;
    if (examples.length < 20) examples.push(`${invariant}: ${text}`);
  };
  const emails = world.email.messages().map((m) => m.message);
  const failedEvents = world.eventGrid.events().filter((e) => e.event.type === FAILED_EVENT);
  const apps = await world.apps();
  let renewed = 0;
  let failedForGood = 0;
  for (const app of apps) {
    const { appId } = app.config;
    for (const v of await renewalViolations(world, run.baselines.get(appId)!)) fail(v.invariant, `${appId}: ${v.message}`);
    if (!isDone(app, run.before)) {
      fail('not-converged', `${appId}: renewal ${JSON.stringify(app.state.renewal)}, lease ${JSON.stringify(app.state.lease)}`);
      continue;
    }
    if (app.state.renewal?.stage === 'failed') {
      failedForGood += 1;
      const id = app.state.renewal.id;
      if (!emails.some((m) => m.content.subject.includes('renewal FAILED') && (m.content.plainText ?? '').includes(appId)))
        fail('failure-without-email', `${appId}, renewal ${id}`);
      if (!failedEvents.some((e) => (e.event.data as { appId?: string }).appId === appId))
        fail('failure-without-event', `${appId}, renewal ${id}`);
    } else {
      renewed += 1;
      if (app.state.verifiedAt === undefined) fail('unverified', appId);
    }
  }
  const lost = world.graph.ledger.lost();
  for (const c of lost) fail('no-lost-credential', `ledger: ${c.keyId} of ${c.appId} removed at ${c.at.toISOString()}`);
  const poisonedMessages = await takeAll(world);
  const byId = new Map(apps.map((a) => [a.config.appId, a]));
  let poisonedWithoutFailure = 0;
  for (const text of poisonedMessages) {
    const message = JSON.parse(text) as { appId: string; renewalId: string };
    const app = byId.get(message.appId);
    const recorded = app?.state.lastOutcome === 'failed' || (await failureInHistory(world, message.appId, message.renewalId));
    if (!recorded) {
      poisonedWithoutFailure += 1;
      if (examples.length < 20) examples.push(`poisoned without a failure: ${text}`);
    }
  }
  return {
    renewed,
    failedForGood,
    poisoned: poisonedMessages.length,
    poisonedWithoutFailure,
    lostCredentials: lost.length,
    violations,
    examples,
  };
}

async function failureInHistory(world: ChaosWorld, appId: string, renewalId: string): Promise<boolean> {
  const page = await world.store.listHistory(appId, { maxPageSize: 100 });
  return page.items.some((entry) => JSON.stringify(entry).includes(renewalId) && JSON.stringify(entry).includes('fail'));
}

/** Every poison message of both stages' queues, decoded (taken: peeking stops at 32). */
async function takeAll(world: ChaosWorld): Promise<string[]> {
  const texts: string[] = [];
  for (const poison of world.poisonQueues) {
    if (!(await poison.exists())) continue;
    for (;;) {
      const { receivedMessageItems } = await poison.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 600 });
      if (receivedMessageItems.length === 0) break;
      texts.push(...receivedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString('utf8')));
    }
  }
  return texts;
}
