import { createHash } from 'node:crypto';
import type { Actor } from '../domain/appConfig.js';
import { guidFromText } from '../domain/identifiers.js';
import type { EventSink, RenewalMessage, RenewalQueue, RotationTracker } from '../domain/ports.js';
import {
  countStages,
  isSettled,
  OPEN_APPS_SHOWN,
  type RotationApp,
  type RotationRecord,
  type RotationRepository,
  type RotationRequest,
  type RotationSelector,
  type RotationView,
} from '../domain/rotation.js';
import type { AppRepository, StoredApp } from '../domain/storedApp.js';
import { ConflictError, errorText, IdempotencyKeyReusedError, NotFoundError, PreconditionFailedError, ValidationError } from '../errors.js';
import { progressOf, rotationMessage, selects, startingApp } from './rotationPlan.js';

export const ROTATION_COMPLETED_EVENT = 'EntraCertRotator.RotationCompleted';

/** How long a start holds its rotation before a retry (or the scheduler) may take the start over. */
const DEFAULT_START_LEASE_SECONDS = 120;
/** Messages sent at once while a rotation starts: the queue takes them in parallel, the host stays responsive. */
const ENQUEUE_CONCURRENCY = 16;
/** Open apps the scheduler re-reads per rotation and tick: its cost stays bounded for any rotation's size. */
const RECONCILED_PER_TICK = 100;
const APPS_PAGE_SIZE = 1000;

export interface RotationServiceDependencies {
  readonly store: AppRepository;
  readonly rotations: RotationRepository;
  readonly queue: RenewalQueue;
  readonly events?: EventSink;
  readonly now?: () => Date;
  readonly log?: (message: string, properties?: Record<string, unknown>) => void;
  readonly startLeaseSeconds?: number;
}

/** The rotation a caller's Idempotency-Key names: the same key from the same caller is the same rotation. */
export function rotationIdFor(callerOid: string, idempotencyKey: string): string {
  return guidFromText(`entra-cert-rotator/rotation/${callerOid}/${idempotencyKey}`);
}

/** The renewal of one app for one rotation: fixed, so a message sent twice is one renewal (one keyId). */
export function rotationRenewalId(rotationId: string, appId: string): string {
  return guidFromText(`entra-cert-rotator/rotation-renewal/${rotationId}/${appId}`);
}

/**
 * Bulk rotation (docs/http-api.md): start one (select the apps, record them, queue one renewal each), show its
 * progress, follow each renewal as the queue worker reports it, and announce RotationCompleted
 * once every app is settled. Progress is read from the apps' own renewal state (rotationPlan.ts),
 * so a report lost to a crash is found again by the scheduler's reconcile().
 */
export class RotationService implements RotationTracker {
  readonly #deps: RotationServiceDependencies;
  readonly #now: () => Date;

  constructor(dependencies: RotationServiceDependencies) {
    this.#deps = dependencies;
    this.#now = dependencies.now ?? (() => new Date());
  }

  /**
   * Starts the rotation the caller's key names, or answers the one it started already. The same key
   * with another request is refused (IdempotencyKeyReusedError); a start still under way elsewhere
   * is a 409 to retry; a start that died part-way is taken over and finished.
   */
  async start(
    request: RotationRequest,
    options: { idempotencyKey: string; caller: Actor },
  ): Promise<{ view: RotationView; created: boolean }> {
    const id = rotationIdFor(options.caller.oid, options.idempotencyKey);
    const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    let found = await this.#deps.rotations.getRotation(id);
    if (!found) {
      // Selected (and an unknown appId refused) before anything is written: a 400 leaves no rotation.
      const selection = await this.#select(request.selector);
      const now = this.#now();
      const record: RotationRecord = {
        id,
        status: 'starting',
        selector: request.selector,
        reason: request.reason,
        requestedBy: options.caller,
        createdAt: now.toISOString(),
        requestHash,
        startingUntil: this.#startingUntil(now),
      };
      const created = await this.#deps.rotations.createRotation(record);
      if (created) {
        this.#deps.log?.('rotation started', { rotationId: id, reason: request.reason, selected: selection.length });
        await this.#fanOut(record, created.etag, selection);
        return { view: await this.get(id), created: true };
      }
      found = (await this.#deps.rotations.getRotation(id))!;
    }
    if (found.record.requestHash !== requestHash) {
      throw new IdempotencyKeyReusedError(
        `Idempotency-Key ${JSON.stringify(options.idempotencyKey)} started rotation ${id} with another request; use a new key for a new rotation`,
      );
    }
    if (found.record.status === 'starting') await this.#resume(found.record, found.etag);
    return { view: await this.get(id), created: false };
  }

  async get(id: string): Promise<RotationView> {
    const found = await this.#deps.rotations.getRotation(id);
    if (!found) throw new NotFoundError(`There is no rotation ${id}`);
    return viewOf(found.record, await this.#deps.rotations.listRotationApps(id));
  }

  /**
   * Every rotation, newest first, with its counts and no app lists: a completed one's are summed up
   * in its record, an unfinished one's counted from its rows' stages alone.
   */
  async list(): Promise<RotationView[]> {
    const records = await this.#deps.rotations.listRotations();
    records.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
    const views: RotationView[] = [];
    for (const record of records) {
      if (record.status === 'completed' && record.counts) {
        views.push({ ...viewOf(record, []), total: record.total ?? 0, counts: record.counts });
      } else {
        const counts = await this.#deps.rotations.countRotationApps(record.id);
        views.push({ ...viewOf(record, []), total: Object.values(counts).reduce((sum, n) => sum + n, 0), counts });
      }
    }
    return views;
  }

  /** The queue worker's report after a delivery of a rotation's renewal (RotationTracker). Never throws. */
  async track(message: RenewalMessage): Promise<void> {
    if (message.rotationId === undefined) return;
    try {
      await this.#settle(message.rotationId, message.appId, message.requestedAt);
    } catch (error) {
      // The scheduler's reconcile() finds what this missed; the renewal itself is unaffected.
      this.#deps.log?.('rotation progress not recorded', { rotationId: message.rotationId, appId: message.appId, error: errorText(error) });
    }
  }

  /**
   * The scheduler's pass over unfinished rotations: finish a start that died, re-read the open apps'
   * state (a report lost to a crash), complete what is done, and send a RotationCompleted that failed.
   */
  async reconcile(): Promise<void> {
    for (const record of await this.#deps.rotations.listRotations()) {
      if (record.status === 'completed' && record.completionPublished) continue;
      try {
        if (record.status === 'starting') {
          const found = await this.#deps.rotations.getRotation(record.id);
          if (found && found.record.status === 'starting' && !this.#held(found.record)) await this.#resume(found.record, found.etag);
        } else if (record.status === 'running') {
          for (const appId of await this.#deps.rotations.listOpenAppIds(record.id, RECONCILED_PER_TICK)) {
            await this.#settle(record.id, appId, record.createdAt);
          }
          await this.#completeIfDone(record.id);
        } else {
          await this.#publishCompletion(record.id);
        }
      } catch (error) {
        this.#deps.log?.('rotation not reconciled', { rotationId: record.id, outcome: 'failed', error: errorText(error) });
      }
    }
  }

  #startingUntil(now: Date): string {
    return new Date(now.getTime() + (this.#deps.startLeaseSeconds ?? DEFAULT_START_LEASE_SECONDS) * 1000).toISOString();
  }

  #held(record: RotationRecord): boolean {
    return record.startingUntil !== undefined && Date.parse(record.startingUntil) > this.#now().getTime();
  }

  /** Takes over a start that is no longer held (its starter died, or timed out) and finishes it. */
  async #resume(record: RotationRecord, etag: string): Promise<void> {
    if (this.#held(record)) {
      const seconds = Math.ceil((Date.parse(record.startingUntil!) - this.#now().getTime()) / 1000);
      throw new ConflictError(`Rotation ${record.id} is still being started by an earlier request; retry in ${seconds} s`, {
        retryAfterSeconds: seconds,
      });
    }
    let taken;
    try {
      taken = await this.#deps.rotations.updateRotation({ ...record, startingUntil: this.#startingUntil(this.#now()) }, etag);
    } catch (error) {
      if (error instanceof PreconditionFailedError) return; // another request or the scheduler took it
      throw error;
    }
    this.#deps.log?.('rotation start resumed', { rotationId: record.id });
    await this.#fanOut(record, taken.etag, await this.#select(record.selector, { lenient: true }));
  }

  /** The managed apps the selector takes. Named appIds must all be managed (a typo is a 400), unless lenient. */
  async #select(selector: RotationSelector, options: { lenient?: boolean } = {}): Promise<StoredApp[]> {
    const selected: StoredApp[] = [];
    const seen = new Set<string>();
    let continuationToken: string | undefined;
    do {
      const page = await this.#deps.store.listApps({ maxPageSize: APPS_PAGE_SIZE, continuationToken });
      for (const app of page.items) {
        seen.add(app.config.appId);
        if (selects(selector, app)) selected.push(app);
      }
      continuationToken = page.continuationToken;
    } while (continuationToken !== undefined);
    if (selector.appIds && !options.lenient) {
      const issues = selector.appIds.flatMap((appId, index) =>
        seen.has(appId) ? [] : [{ path: `selector.appIds.${index}`, message: `app ${appId} is not managed by the rotator` }],
      );
      if (issues.length > 0) throw new ValidationError(issues);
    }
    return selected;
  }

  /**
   * Records the selected apps (keeping rows an earlier start wrote), queues the renewal of each one
   * still queued, and marks the rotation running. Every step repeats safely: rows are only added,
   * and a renewal message sent twice carries one renewal id.
   */
  async #fanOut(record: RotationRecord, etag: string, selection: readonly StoredApp[]): Promise<void> {
    const { rotations, queue } = this.#deps;
    const now = this.#now();
    const existing = new Set((await rotations.listRotationApps(record.id)).map((app) => app.appId));
    const added = selection.filter((app) => !existing.has(app.config.appId));
    await rotations.addRotationApps(
      record.id,
      added.map((app) => startingApp(app, rotationRenewalId(record.id, app.config.appId), now)),
    );
    const apps = await rotations.listRotationApps(record.id);
    const queued = apps.filter((app) => app.stage === 'queued');
    await forEachConcurrently(queued, ENQUEUE_CONCURRENCY, (app) => queue.enqueue(rotationMessage(record, app.appId, app.renewalId!)));
    try {
      await rotations.updateRotation({ ...record, status: 'running', startingUntil: undefined, total: apps.length }, etag);
    } catch (error) {
      if (error instanceof PreconditionFailedError) return; // a take-over finished it
      throw error;
    }
    this.#deps.log?.('rotation queued', { rotationId: record.id, total: apps.length, queued: queued.length });
    await this.#completeIfDone(record.id);
  }

  /** Brings one app's row up to its renewal's state; settling it may complete the rotation. */
  async #settle(rotationId: string, appId: string, requestedAt: string | undefined): Promise<void> {
    const { rotations, store } = this.#deps;
    for (let attempt = 1; ; attempt++) {
      const found = await rotations.getRotationApp(rotationId, appId);
      if (!found || isSettled(found.app.stage)) return;
      const since = requestedAt ?? (await rotations.getRotation(rotationId))?.record.createdAt;
      if (since === undefined) return;
      const next = progressOf(found.app, await store.getApp(appId), since);
      if (next.stage === found.app.stage && next.renewalId === found.app.renewalId) return;
      const row: RotationApp = { ...found.app, ...next, updatedAt: this.#now().toISOString() };
      try {
        await rotations.updateRotationApp(rotationId, row, found.etag, found.app.stage);
      } catch (error) {
        // Two reports of one app at once: read again and apply whichever is newer.
        if (error instanceof PreconditionFailedError && attempt < 3) continue;
        throw error;
      }
      if (isSettled(row.stage)) await this.#completeIfDone(rotationId);
      return;
    }
  }

  async #completeIfDone(rotationId: string): Promise<void> {
    const { rotations } = this.#deps;
    if (await rotations.hasOpenApps(rotationId)) return;
    const found = await rotations.getRotation(rotationId);
    if (!found || found.record.status !== 'running') return;
    const counts = countStages(await rotations.listRotationApps(rotationId));
    const completed: RotationRecord = { ...found.record, status: 'completed', completedAt: this.#now().toISOString(), counts };
    try {
      await rotations.updateRotation(completed, found.etag);
    } catch (error) {
      if (error instanceof PreconditionFailedError) return; // another settling report completed it first
      throw error;
    }
    this.#deps.log?.('rotation completed', { rotationId, outcome: 'completed', ...counts });
    await this.#publishCompletion(rotationId);
  }

  /** Sends RotationCompleted once (its id is the rotation's, so a resend is recognisable) and notes it. */
  async #publishCompletion(rotationId: string): Promise<void> {
    const { rotations, events } = this.#deps;
    const found = await rotations.getRotation(rotationId);
    if (!found || found.record.status !== 'completed' || found.record.completionPublished) return;
    const { record } = found;
    if (events) {
      const failed = (await rotations.listRotationApps(rotationId)).filter((app) => app.stage === 'failed');
      try {
        await events.publish([
          {
            id: `rotation-completed:${rotationId}`,
            type: ROTATION_COMPLETED_EVENT,
            source: `/entra-cert-rotator/rotations/${rotationId}`,
            time: this.#now(),
            data: {
              rotationId,
              reason: record.reason,
              requestedBy: { oid: record.requestedBy.oid },
              createdAt: record.createdAt,
              completedAt: record.completedAt,
              total: record.total,
              counts: record.counts,
              failedAppIds: failed.slice(0, OPEN_APPS_SHOWN).map((app) => app.appId),
            },
          },
        ]);
      } catch (error) {
        this.#deps.log?.('RotationCompleted not sent; retried on the next tick', { rotationId, error: errorText(error) });
        return;
      }
    }
    try {
      await rotations.updateRotation({ ...record, completionPublished: true }, found.etag);
    } catch (error) {
      // Sent; noting it failed, so the next tick sends it again under the same event id.
      if (!(error instanceof PreconditionFailedError)) throw error;
    }
  }
}

function viewOf(record: RotationRecord, apps: readonly RotationApp[]): RotationView {
  return {
    id: record.id,
    status: record.status,
    reason: record.reason,
    selector: record.selector,
    requestedBy: record.requestedBy,
    createdAt: record.createdAt,
    ...(record.completedAt === undefined ? {} : { completedAt: record.completedAt }),
    total: apps.length,
    counts: countStages(apps),
    openApps: apps.filter((app) => !isSettled(app.stage)).slice(0, OPEN_APPS_SHOWN),
    failedApps: apps.filter((app) => app.stage === 'failed').slice(0, OPEN_APPS_SHOWN),
    skippedApps: apps.filter((app) => app.stage === 'skipped').slice(0, OPEN_APPS_SHOWN),
  };
}

/** Runs `work` over the items with at most `limit` at once (a plain pool: no library needed for ten lines). */
async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
