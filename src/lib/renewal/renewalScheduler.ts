import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import type { AppCredentials, CertificateVault, RenewalQueue } from '../domain/ports.js';
import type { AppRepository, StoredApp } from '../domain/storedApp.js';
import { errorText, PreconditionFailedError } from '../errors.js';
import { confirmIsStuck, driftCheckIsWanted, isDriftRenewal } from './decide/driftCheck.js';
import { certificateExpiry, type CertificateExpiry } from './decide/certificateExpiry.js';
import { nearExpiryWarningIsDue } from './decide/nearExpiry.js';
import { policyStateOf } from './decide/policyStateOf.js';
import { decideRenewal, type ObservedFacts } from './decide/renewalPolicy.js';
import { enqueueDecision, scheduledRenewalAt } from './decide/schedule.js';
import type { RenewalLog } from './renewalContext.js';
import type { RenewalService } from './renewalService.js';

/**
 * The timer's work, in three parts whose cost follows what needs doing, not the number of apps
 * managed:
 *  1. due renewals: a range read of the due index, one queue message per due app, marked `queued`
 *     with the app's ETag so that it is enqueued once per due period however often the timer fires;
 *  2. pending notifications: a range read of the apps marked as having some, each retried;
 *  3. a slice of all apps (sized so each app comes up about once a day) checked for drift against
 *     Entra and Key Vault, and for the near-expiry warning.
 * Every app it reads (1 and 3) gets a `certificate days left` line: each managed app about once a
 * day through the slice, each due app on every tick. An app with less than half its renewal window
 * left is always due (its due time is notAfter − renewBeforeDays at the latest), so every tick
 * measures each of those: the safety-net alert of docs/operations.md needs no read of the others.
 */

export interface SchedulerDependencies {
  readonly store: AppRepository;
  readonly renewals: Pick<RenewalService, 'retryPendingNotifications' | 'warnNearExpiry'>;
  readonly queue: RenewalQueue;
  readonly credentials: Pick<AppCredentials, 'listCertificates'>;
  readonly vaultFor: (vaultUrl: string) => Pick<CertificateVault, 'listVersions'>;
  /** The NCRONTAB schedule: how often the timer fires decides the drift slice's size. */
  readonly schedule: string;
  readonly now?: () => Date;
  /** The process's own log; a tick also logs through the logger it is given (the invocation's). */
  readonly log?: RenewalLog;
  /** Bulk rotations (docs/renewal.md): each tick finishes a start that died, finds lost progress, sends a missed RotationCompleted. */
  readonly rotations?: { reconcile(): Promise<void> };
}

export interface TickReport {
  readonly dueApps: number;
  readonly dueEntitiesRead: number;
  readonly enqueued: number;
  readonly notificationAppsRetried: number;
  readonly sliceSize: number;
  readonly driftChecked: number;
  readonly driftRenewals: number;
  readonly nearExpiryWarnings: number;
  /** Apps whose certificate's days left this tick logged (due apps and the slice; once each). */
  readonly certificatesMeasured: number;
  /** Of those, enabled apps whose certificate has less than half its renewal window left. */
  readonly expiryAtRisk: number;
  /**
   * The enabled app of those with the least of its renewal window left: the fleet's minimum
   * whenever it is below 1, since every app inside its renewal window is due and read.
   */
  readonly soonestExpiry?: { readonly appId: string } & Pick<CertificateExpiry, 'daysLeft' | 'windowRemainingFraction'>;
  /** Per-app checks that failed in this tick (each logged with the app and the cause). */
  readonly failures: number;
}

const DRIFT_CURSOR = 'drift-cursor';
const FIRST_PASS_SLICE = 100;
const MAX_SLICE = 1000;

interface DriftCursor {
  readonly continuationToken?: string;
  readonly seenInPass: number;
  readonly lastPassCount?: number;
}

/** Timer firings per day for an NCRONTAB schedule, from the gap between its next two runs. */
export function firingsPerDay(schedule: string, from: Date = new Date()): number {
  const [first, second] = new Cron(schedule, { paused: true, timezone: 'Etc/UTC' }).nextRuns(2, from);
  if (!first || !second) return 1;
  return Math.max(1, Math.round((24 * 3600_000) / Math.max(1000, second.getTime() - first.getTime())));
}

export class RenewalScheduler {
  readonly #dependencies: SchedulerDependencies;
  readonly #now: () => Date;

  constructor(dependencies: SchedulerDependencies) {
    this.#dependencies = dependencies;
    this.#now = dependencies.now ?? (() => new Date());
  }

  /** One timer firing. `log` is the invocation's logger: a per-app failure is logged there with the app and its cause. */
  async tick(options: { log?: RenewalLog } = {}): Promise<TickReport> {
    const { store } = this.#dependencies;
    const tick = new Tick(this.#dependencies.log, options.log);
    const now = this.#now();
    const due = await store.listDueApps(now);
    let enqueued = 0;
    for (const { appId } of due.apps) {
      const ids: LogIds = { appId };
      await tick.each(ids, 'due renewal', async () => {
        const app = await store.getApp(appId);
        if (!app) return;
        tick.measure(app, now);
        if (await this.#enqueueIfDue(app, now, ids)) enqueued += 1;
      });
    }

    const pending = await store.listAppsWithPendingNotifications();
    for (const appId of pending) {
      await tick.each({ appId }, 'notification retry', () => this.#dependencies.renewals.retryPendingNotifications(appId));
    }

    const slice = await this.#slice(now, tick);
    await this.#dependencies.rotations?.reconcile();
    const report: TickReport = {
      dueApps: due.apps.length,
      dueEntitiesRead: due.entitiesRead,
      enqueued,
      notificationAppsRetried: pending.length,
      ...slice,
      ...tick.expirySummary(),
      failures: tick.failures,
    };
    return report;
  }

  /** Marks the app queued for its current due period (ETag) and enqueues it; false when not needed. */
  async #enqueueIfDue(app: StoredApp, now: Date, ids: LogIds): Promise<boolean> {
    const { store, queue } = this.#dependencies;
    const appId = app.config.appId;
    const decision = decideRenewal({ config: app.config, state: policyStateOf(app), now });
    if (!decision.renew) return false;
    const forDueAt = (scheduledRenewalAt(app.config, app.state) ?? now).toISOString();
    const next = enqueueDecision(app.state, forDueAt, now, randomUUID);
    if (!next.enqueue) return false;
    ids.renewalId = next.renewalId;
    try {
      await store.updateApp(app, { state: { ...app.state, queued: { renewalId: next.renewalId, forDueAt, at: now.toISOString() } } });
    } catch (error) {
      // Another tick (or an edit) got there first; the next tick looks again.
      if (error instanceof PreconditionFailedError) return false;
      throw error;
    }
    const trigger = decision.reason === 'bootstrap' ? 'bootstrap' : 'scheduled';
    await queue.enqueue({ appId, renewalId: next.renewalId, stage: 'deploy', trigger, reason: decision.reason });
    return true;
  }

  async #slice(now: Date, tick: Tick): Promise<Pick<TickReport, 'sliceSize' | 'driftChecked' | 'driftRenewals' | 'nearExpiryWarnings'>> {
    const { store } = this.#dependencies;
    const record = await store.getSchedulerRecord(DRIFT_CURSOR);
    const cursor = (record?.value as DriftCursor | undefined) ?? { seenInPass: 0 };
    const perDay = firingsPerDay(this.#dependencies.schedule, now);
    const sliceSize =
      cursor.lastPassCount === undefined ? FIRST_PASS_SLICE : Math.min(MAX_SLICE, Math.max(1, Math.ceil(cursor.lastPassCount / perDay)));
    const page = await store.scanApps({ maxPageSize: sliceSize, continuationToken: cursor.continuationToken });
    // A row that does not read as an app fails its own checks, not the slice: the cursor moves past it.
    for (const { appId, cause } of page.unreadable) tick.failed({ appId }, 'read', cause);
    let driftRenewals = 0;
    let nearExpiryWarnings = 0;
    for (const app of page.items) {
      const ids: LogIds = { appId: app.config.appId, renewalId: app.state.renewal?.id };
      tick.measure(app, now);
      await tick.each(ids, 'stuck confirm check', () => this.#requeueStuckConfirm(app, now));
      await tick.each(ids, 'drift check', async () => {
        if (await this.#checkDrift(app, now)) driftRenewals += 1;
      });
      await tick.each(ids, 'near-expiry check', async () => {
        if (await this.#warnIfNearExpiry(app, now)) nearExpiryWarnings += 1;
      });
    }
    const seen = cursor.seenInPass + page.items.length + page.unreadable.length;
    const next: DriftCursor =
      page.continuationToken === undefined
        ? { seenInPass: 0, lastPassCount: seen }
        : { continuationToken: page.continuationToken, seenInPass: seen, lastPassCount: cursor.lastPassCount };
    try {
      await store.putSchedulerRecord(DRIFT_CURSOR, next, record?.etag);
    } catch (error) {
      // Two instances ticked at once: the other one's cursor stands, this slice is checked twice.
      if (!(error instanceof PreconditionFailedError)) throw error;
    }
    return { sliceSize, driftChecked: page.items.length, driftRenewals, nearExpiryWarnings };
  }

  /** A confirm stage that never ran is queued again under its renewal's own id: the stage is idempotent. */
  async #requeueStuckConfirm(app: StoredApp, now: Date): Promise<void> {
    const renewal = app.state.renewal;
    if (!renewal || !confirmIsStuck(app, now)) return;
    // A rotation's renewal keeps its rotation and reason: the confirm's history rows and report name it.
    const rotation = renewal.rotationId === undefined ? {} : { rotationId: renewal.rotationId, reason: renewal.reason };
    await this.#dependencies.queue.enqueue({
      appId: app.config.appId,
      renewalId: renewal.id,
      stage: 'confirm',
      trigger: renewal.trigger,
      ...rotation,
    });
    this.#dependencies.log?.('confirm stage re-queued', { appId: app.config.appId, renewalId: renewal.id });
  }

  async #checkDrift(app: StoredApp, now: Date): Promise<boolean> {
    if (!driftCheckIsWanted(app, now)) return false;
    const { config, state } = app;
    const { credentials, vaultFor, store, queue } = this.#dependencies;
    const observed: ObservedFacts = {
      entraKeyIds: new Set((await credentials.listCertificates(config.appId)).map((c) => c.keyId.toLowerCase())),
      keyVaultVersions: config.keyVault.enabled
        ? new Set((await vaultFor(config.keyVault.vaultUrl).listVersions(config.keyVault.certificateName)).map((v) => v.version))
        : undefined,
    };
    const decision = decideRenewal({ config, state: policyStateOf(app), observed, now });
    if (!isDriftRenewal(decision)) return false;
    await store.appendHistory(config.appId, {
      action: 'drift.detected',
      trigger: 'schedule',
      outcome: 'succeeded',
      thumbprint: state.currentThumbprint,
      error: decision.detail,
    });
    await queue.enqueue({
      appId: config.appId,
      renewalId: randomUUID(),
      stage: 'deploy',
      trigger: 'drift',
      reason: decision.detail,
      requestedAt: now.toISOString(),
    });
    return true;
  }

  async #warnIfNearExpiry(app: StoredApp, now: Date): Promise<boolean> {
    const { config, state } = app;
    const due = nearExpiryWarningIsDue({
      thresholdDays: config.notifications.thresholdDays,
      notificationsEnabled: config.enabled && config.notifications.enabled,
      current:
        state.currentThumbprint && state.notAfter ? { thumbprint: state.currentThumbprint, notAfter: new Date(state.notAfter) } : undefined,
      // The stored current certificate is the newest managed one: a newer one would be current.
      newerCertificateExists: false,
      warned: new Set(state.nearExpiryWarned),
      now,
    });
    if (!due) return false;
    const fresh = await this.#dependencies.store.getApp(config.appId);
    if (fresh) await this.#dependencies.renewals.warnNearExpiry(fresh);
    return true;
  }
}

/** Who a per-app line is about; the renewal id once the tick knows it. */
interface LogIds {
  readonly appId: string;
  renewalId?: string;
}

/**
 * One tick's per-app work and what it logs, through the invocation's logger when the tick has one
 * (Application Insights ties it to the timer run), else the process log: one app's trouble is
 * logged with the app and the cause and does not stop the others.
 */
class Tick {
  failures = 0;
  readonly #log: RenewalLog | undefined;
  readonly #measured = new Map<string, CertificateExpiry>();

  constructor(processLog: RenewalLog | undefined, invocationLog: RenewalLog | undefined) {
    this.#log = invocationLog ?? processLog;
  }

  /** Logs the days left on the app's current certificate, once per tick per app. */
  measure(app: StoredApp, now: Date): void {
    const { appId, enabled, renewBeforeDays } = app.config;
    if (this.#measured.has(appId)) return;
    const notAfter = app.state.notAfter;
    const expiry = certificateExpiry({ enabled, notAfter: notAfter === undefined ? undefined : new Date(notAfter), renewBeforeDays, now });
    if (!expiry) return;
    this.#measured.set(appId, expiry);
    const risk = expiry.outcome === 'at-risk' ? ', less than half: expiry at risk' : '';
    // infra/modules/monitoring.bicep reads this line: keep its first words and its fields.
    this.#log?.(`certificate days left: app ${appId} has ${expiry.daysLeft} of its ${renewBeforeDays}-day renewal window${risk}`, {
      appId,
      renewalId: app.state.renewal?.id,
      stage: 'expiry check',
      outcome: expiry.outcome,
      daysLeft: expiry.daysLeft,
      renewBeforeDays,
      windowRemainingFraction: expiry.windowRemainingFraction,
      notAfter,
    });
  }

  expirySummary(): Pick<TickReport, 'certificatesMeasured' | 'expiryAtRisk' | 'soonestExpiry'> {
    let expiryAtRisk = 0;
    let soonestExpiry: TickReport['soonestExpiry'];
    for (const [appId, { outcome, daysLeft, windowRemainingFraction }] of this.#measured) {
      if (outcome === 'disabled') continue;
      if (outcome === 'at-risk') expiryAtRisk += 1;
      if (!soonestExpiry || windowRemainingFraction < soonestExpiry.windowRemainingFraction)
        soonestExpiry = { appId, daysLeft, windowRemainingFraction };
    }
    return { certificatesMeasured: this.#measured.size, expiryAtRisk, ...(soonestExpiry ? { soonestExpiry } : {}) };
  }

  async each(ids: LogIds, stage: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.failed(ids, stage, errorText(error));
    }
  }

  failed(ids: LogIds, stage: string, cause: string): void {
    this.failures += 1;
    this.#log?.(`scheduler: ${stage} failed for app ${ids.appId}: ${cause}`, {
      appId: ids.appId,
      renewalId: ids.renewalId,
      stage,
      outcome: 'failed',
      cause,
    });
  }
}
