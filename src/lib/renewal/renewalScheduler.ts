import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { failedUnverified, failureRetryDelayMs, scheduledRenewalAt } from '../domain/appConfig.js';
import { PreconditionFailedError } from '../errors.js';
import type { RenewalService } from './renewalService.js';
import type { AppCredentials, CertificateVault, RenewalQueue, RenewalStore, StoredApp } from '../domain/ports.js';
import { decideRenewal, nearExpiryWarningIsDue, type ObservedFacts, type PolicyState } from './decide/renewalPolicy.js';

/**
 * The timer's work (PRODUCT.md §4), in three parts whose cost follows what needs doing, not the
 * number of apps managed:
 *  1. due renewals: a range read of the due index, one queue message per due app, marked `queued`
 *     with the app's ETag so that it is enqueued once per due period however often the timer fires;
 *  2. pending notifications: a range read of the apps marked as having some, each retried;
 *  3. a slice of all apps (sized so each app comes up about once a day) checked for drift against
 *     Entra and Key Vault, and for the near-expiry warning.
 */

export interface SchedulerDependencies {
  readonly store: RenewalStore;
  readonly renewals: Pick<RenewalService, 'retryPendingNotifications' | 'warnNearExpiry'>;
  readonly queue: RenewalQueue;
  readonly credentials: Pick<AppCredentials, 'listCertificates'>;
  readonly vaultFor: (vaultUrl: string) => Pick<CertificateVault, 'listVersions'>;
  /** The NCRONTAB schedule: how often the timer fires decides the drift slice's size. */
  readonly schedule: string;
  readonly now?: () => Date;
  readonly log?: (message: string, properties?: Record<string, unknown>) => void;
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
}

/** A `queued` mark older than this without a deploy is taken as a lost message and re-sent. */
const QUEUED_STALE_MS = 30 * 60 * 1000;
/** After a failed renewal the scheduler tries again after 1 h, doubling per failure, at most daily. */
const DRIFT_CURSOR = 'drift-cursor';
/**
 * A deployed renewal not confirmed after this long lost its confirm message: longer than any
 * verification window (VERIFY_WINDOW_MINUTES is at most 120) plus the queue's own retries.
 */
const STUCK_CONFIRM_MS = 3 * 3600_000;
const FIRST_PASS_SLICE = 100;
const MAX_SLICE = 1000;

interface DriftCursor {
  readonly continuationToken?: string;
  readonly seenInPass: number;
  readonly lastPassCount?: number;
}

export function policyStateOf(app: StoredApp): PolicyState {
  const s = app.state;
  if (s.currentThumbprint === undefined || s.notAfter === undefined || s.notBefore === undefined) return {};
  return {
    current: {
      thumbprint: s.currentThumbprint,
      keyId: s.keyId ?? '',
      notBefore: new Date(s.notBefore),
      notAfter: new Date(s.notAfter),
      keySize: s.keySize ?? app.config.keySize,
      keyVaultVersion: s.keyVaultVersion,
      failedUnverified: failedUnverified(s),
    },
  };
}

/** Timer firings per day for an NCRONTAB schedule, from the gap between its next two runs. */
export function firingsPerDay(schedule: string, from: Date = new Date()): number {
  const [first, second] = new Cron(schedule, { paused: true, timezone: 'Etc/UTC' }).nextRuns(2, from);
  if (!first || !second) return 1;
  return Math.max(1, Math.round((24 * 3600_000) / Math.max(1000, second.getTime() - first.getTime())));
}

export class RenewalScheduler {
  readonly #d: SchedulerDependencies;
  readonly #now: () => Date;

  constructor(dependencies: SchedulerDependencies) {
    this.#d = dependencies;
    this.#now = dependencies.now ?? (() => new Date());
  }

  async tick(): Promise<TickReport> {
    const now = this.#now();
    const due = await this.#d.store.listDueApps(now);
    let enqueued = 0;
    for (const { appId } of due.apps) {
      if (await this.#enqueueIfDue(appId, now)) enqueued += 1;
    }

    const pending = await this.#d.store.listAppsWithPendingNotifications();
    for (const appId of pending) {
      await this.#each(appId, 'notification retry', () => this.#d.renewals.retryPendingNotifications(appId));
    }

    const slice = await this.#slice(now);
    const report: TickReport = {
      dueApps: due.apps.length,
      dueEntitiesRead: due.entitiesRead,
      enqueued,
      notificationAppsRetried: pending.length,
      ...slice,
    };
    this.#d.log?.('scheduler tick', { ...report });
    return report;
  }

  /** Marks the app queued for its current due period (ETag) and enqueues it; false when not needed. */
  async #enqueueIfDue(appId: string, now: Date): Promise<boolean> {
    const app = await this.#d.store.getApp(appId);
    if (!app) return false;
    const decision = decideRenewal({ config: app.config, state: policyStateOf(app), now });
    if (!decision.renew) return false;
    const forDueAt = (scheduledRenewalAt(app.config, app.state) ?? now).toISOString();
    const queued = app.state.queued;
    let renewalId: string = randomUUID();
    if (queued && queued.forDueAt === forDueAt) {
      const failed = app.state.renewal?.id === queued.renewalId && app.state.renewal.stage === 'failed';
      const since = now.getTime() - Date.parse(failed ? (app.state.lastOutcomeAt ?? queued.at) : queued.at);
      if (failed ? since < failureRetryDelayMs(app.state.consecutiveFailures) : since < QUEUED_STALE_MS) return false;
      // A lost message is re-sent under the same renewal id, so whatever it had done is reused.
      if (!failed) renewalId = queued.renewalId;
    }
    try {
      await this.#d.store.updateApp(app, { state: { ...app.state, queued: { renewalId, forDueAt, at: now.toISOString() } } });
    } catch (error) {
      // Another tick (or an edit) got there first; the next tick looks again.
      if (error instanceof PreconditionFailedError) return false;
      throw error;
    }
    const trigger = decision.reason === 'bootstrap' ? 'bootstrap' : 'scheduled';
    await this.#d.queue.enqueue({ appId, renewalId, stage: 'deploy', trigger, reason: decision.reason });
    return true;
  }

  async #slice(now: Date): Promise<Pick<TickReport, 'sliceSize' | 'driftChecked' | 'driftRenewals' | 'nearExpiryWarnings'>> {
    const record = await this.#d.store.getSchedulerRecord(DRIFT_CURSOR);
    const cursor = (record?.value as DriftCursor | undefined) ?? { seenInPass: 0 };
    const perDay = firingsPerDay(this.#d.schedule, now);
    const sliceSize =
      cursor.lastPassCount === undefined ? FIRST_PASS_SLICE : Math.min(MAX_SLICE, Math.max(1, Math.ceil(cursor.lastPassCount / perDay)));
    const page = await this.#d.store.listApps({ maxPageSize: sliceSize, continuationToken: cursor.continuationToken });
    let driftRenewals = 0;
    let nearExpiryWarnings = 0;
    for (const app of page.items) {
      await this.#each(app.config.appId, 'stuck confirm check', () => this.#requeueStuckConfirm(app, now));
      await this.#each(app.config.appId, 'drift check', async () => {
        if (await this.#checkDrift(app, now)) driftRenewals += 1;
      });
      await this.#each(app.config.appId, 'near-expiry check', async () => {
        if (await this.#warnIfNearExpiry(app, now)) nearExpiryWarnings += 1;
      });
    }
    const seen = cursor.seenInPass + page.items.length;
    const next: DriftCursor =
      page.continuationToken === undefined
        ? { seenInPass: 0, lastPassCount: seen }
        : { continuationToken: page.continuationToken, seenInPass: seen, lastPassCount: cursor.lastPassCount };
    try {
      await this.#d.store.putSchedulerRecord(DRIFT_CURSOR, next, record?.etag);
    } catch (error) {
      // Two instances ticked at once: the other one's cursor stands, this slice is checked twice.
      if (!(error instanceof PreconditionFailedError)) throw error;
    }
    return { sliceSize, driftChecked: page.items.length, driftRenewals, nearExpiryWarnings };
  }

  /**
   * A renewal deployed long ago whose confirm stage never ran (its message could not be queued, e.g.
   * after a manual generation answered 201) gets its confirm message again, under its own id: the
   * stage is idempotent, and until it runs nothing older may be removed and nothing is verified.
   */
  async #requeueStuckConfirm(app: StoredApp, now: Date): Promise<void> {
    const { renewal, lease } = app.state;
    if (renewal?.stage !== 'deployed' || renewal.deployedAt === undefined) return;
    if (lease && Date.parse(lease.until) > now.getTime()) return;
    if (now.getTime() - Date.parse(renewal.deployedAt) < STUCK_CONFIRM_MS) return;
    await this.#d.queue.enqueue({ appId: app.config.appId, renewalId: renewal.id, stage: 'confirm', trigger: renewal.trigger });
    this.#d.log?.('confirm stage re-queued', { appId: app.config.appId, renewalId: renewal.id });
  }

  async #checkDrift(app: StoredApp, now: Date): Promise<boolean> {
    const { config, state } = app;
    const inProgress = (state.lease && Date.parse(state.lease.until) > now.getTime()) || state.renewal?.stage === 'deployed';
    if (!config.enabled || state.currentThumbprint === undefined || inProgress) return false;
    // A due (or expired) app is the due index's business, and may be queued already: looking at
    // Entra and Key Vault for it would only cost calls and risk a second message.
    if (decideRenewal({ config, state: policyStateOf(app), now }).renew) return false;
    const observed: ObservedFacts = {
      entraKeyIds: new Set((await this.#d.credentials.listCertificates(config.appId)).map((c) => c.keyId.toLowerCase())),
      keyVaultVersions: config.keyVault.enabled
        ? new Set((await this.#d.vaultFor(config.keyVault.vaultUrl).listVersions(config.keyVault.certificateName)).map((v) => v.version))
        : undefined,
    };
    const decision = decideRenewal({ config, state: policyStateOf(app), observed, now });
    // Due and expired apps are the due index's business; the slice acts on drift only.
    if (!decision.renew || decision.reason === 'inside-renew-before-days' || decision.reason === 'expired') return false;
    await this.#d.store.appendHistory(config.appId, {
      action: 'drift.detected',
      trigger: 'schedule',
      outcome: 'succeeded',
      thumbprint: state.currentThumbprint,
      error: decision.detail,
    });
    await this.#d.queue.enqueue({
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
    const fresh = await this.#d.store.getApp(config.appId);
    if (fresh) await this.#d.renewals.warnNearExpiry(fresh);
    return true;
  }

  /** One app's trouble is logged and does not stop the tick for the others. */
  async #each(appId: string, what: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.#d.log?.(`${what} failed`, { appId, error: (error as Error).message });
    }
  }
}
