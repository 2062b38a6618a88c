import { randomUUID } from 'node:crypto';
import type { Actor, RenewalProgress } from '../domain/appConfig.js';
import type { CertificateGenerator, DeployedCertificate, RenewalMessage } from '../domain/ports.js';
import type { StoredApp } from '../domain/storedApp.js';
import { errorText, NotFoundError, ValidationError } from '../errors.js';
import { preflightStage } from './preflightStage.js';
import { confirmStage } from './confirmStage.js';
import { deliveryAlreadyAnswered } from './decide/deliveryAlreadyAnswered.js';
import { failedDeliveryAction, throttledAgain } from './decide/deliveryOutcome.js';
import { nearExpiryKey } from './decide/nearExpiry.js';
import { deployStage } from './deployStage.js';
import { restoreKeyVaultLatest, restoreKeyVaultLatestUnder } from './keyVaultRestore.js';
import { leaseForDelivery, releaseLease, type LeasedApp } from './leasedApp.js';
import { factsFromPending, NotificationSender, withPending } from './notificationSender.js';
import { accessFacts, notificationId } from './notifications.js';
import type { RenewalContext, RenewalDependencies, RenewalLog } from './renewalContext.js';
import { renewalMessageSchema, rotationFieldsOf } from '../domain/renewalMessage.js';
import { writeRenewalState } from './writeRenewalState.js';

/**
 * One renewal in two stages (deployStage.ts, confirmStage.ts), the front door that the queue worker,
 * the manual generation route and bootstrap call. Each stage runs under the app's lease; what a
 * delivery does when it fails is decided in decide/deliveryOutcome.ts.
 */
export class RenewalService implements CertificateGenerator {
  readonly #context: RenewalContext;

  constructor(dependencies: RenewalDependencies) {
    const now = dependencies.now ?? (() => new Date());
    this.#context = {
      ...dependencies,
      now,
      sleep: dependencies.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      notifications: new NotificationSender({ ...dependencies, now }),
    };
  }

  /** A manual generation (POST /certificates): the deploy stage inline, the confirm stage queued. */
  async generate(appId: string, actor: Actor): Promise<DeployedCertificate> {
    const message: RenewalMessage = { appId, renewalId: randomUUID(), stage: 'deploy', trigger: 'manual' };
    let deployed: DeployedCertificate | undefined;
    try {
      deployed = await this.deploy(message, actor);
    } catch (error) {
      // No delivery follows a manual generation that failed: put Key Vault's latest version back on
      // the certificate in use now, as a queued renewal's last delivery does (under the lease, and
      // only while this generation's version is the latest, so never over another renewal's).
      await restoreKeyVaultLatest(this.#context, message);
      throw error;
    }
    // A renewal id made here has no newer renewal to be superseded by.
    if (!deployed) throw new Error(`The manual renewal of app ${appId} was superseded before it began`);
    return deployed;
  }

  /** Runs the stage the message names. */
  async handle(message: RenewalMessage): Promise<void> {
    if (message.stage === 'deploy') await this.deploy(message);
    else await this.confirm(message);
  }

  /**
   * The queue worker's use case: one delivery of a renewal message. A held lease, a throttle or a
   * long Retry-After puts the message back and completes this delivery; any other error fails it, so the
   * queue retries it, and the last attempt (or an error no retry can fix) records the failure first.
   */
  async processQueueMessage(raw: unknown, attempt: { dequeueCount: number; log?: RenewalLog }): Promise<'done' | 'postponed' | 'skipped'> {
    const parsed = renewalMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
      throw new ValidationError(issues, 'Not a renewal message');
    }
    const message = parsed.data;
    const { log, queue, store } = this.#context;
    try {
      const after = message.stage === 'deploy' ? (await this.deploy(message), undefined) : await this.confirm(message);
      await this.#track(message, after);
      return 'done';
    } catch (error) {
      // Skipped only when the app really is gone; a missing Key Vault version or app registration
      // is a failure to record, not a reason to drop the renewal silently.
      if (error instanceof NotFoundError && !(await store.getApp(message.appId))) {
        log?.('renewal skipped: app no longer managed', { appId: message.appId, renewalId: message.renewalId });
        await this.#track(message, undefined);
        return 'skipped';
      }
      const outcome = failedDeliveryAction(error, {
        message,
        dequeueCount: attempt.dequeueCount,
        postponeDelaySeconds: this.#context.settings.postponeDelaySeconds,
      });
      const ids = { appId: message.appId, renewalId: message.renewalId };
      if (outcome.action === 'postpone') {
        await queue.enqueue(message, { visibilityDelaySeconds: outcome.delaySeconds });
        log?.('renewal postponed', { ...ids, reason: errorText(error) });
        return 'postponed';
      }
      if (outcome.action === 'defer') {
        await queue.enqueue({ ...message, deferrals: (message.deferrals ?? 0) + 1 }, { visibilityDelaySeconds: outcome.delaySeconds });
        log?.('renewal deferred: the service asked to wait', { ...ids, seconds: outcome.delaySeconds });
        return 'postponed';
      }
      if (outcome.action === 'throttled') {
        const again = throttledAgain(message);
        await queue.enqueue(again, { visibilityDelaySeconds: outcome.delaySeconds });
        log?.('renewal deferred: throttled', {
          ...ids,
          seconds: outcome.delaySeconds,
          throttled: again.throttled,
          reason: errorText(error),
        });
        return 'postponed';
      }
      if (outcome.recordFailure) await this.#track(message, await this.recordFailure(message, error, attempt.log));
      if (outcome.restoreKeyVault) await restoreKeyVaultLatest(this.#context, message);
      throw error;
    }
  }

  /**
   * Tells the rotation a delivery served, if any: the message's own, or (for a renewal that answered
   * a rotation in its place, see adoptForRotation) the one its state names. That one is followed
   * from the rotation's own start, not this message's requestedAt.
   */
  async #track(message: RenewalMessage, app: StoredApp | undefined): Promise<void> {
    const tracker = this.#context.rotations;
    if (!tracker) return;
    if (message.rotationId !== undefined) return tracker.track(message);
    const progress = app?.state.renewal;
    if (progress?.id === message.renewalId && progress.rotationId !== undefined) {
      await tracker.track({ ...message, rotationId: progress.rotationId, requestedAt: undefined });
    }
  }

  /**
   * A rotation's delivery found its need answered by renewal X, deployed since it was asked for and
   * not confirmed yet: X's state names the rotation, so X's confirm (or failure) reports to it.
   */
  async #adoptForRotation(held: LeasedApp): Promise<void> {
    const { message } = held;
    const renewal = held.app.state.renewal;
    if (message.trigger !== 'rotation' || !renewal || renewal.id === message.renewalId || renewal.stage !== 'deployed') return;
    held.app = await writeRenewalState(this.#context.store, held.app, held.owner, () => ({
      renewal: { ...renewal, rotationId: message.rotationId },
    }));
  }

  /**
   * The deploy stage. Undefined when a newer renewal of the app has been recorded since this one
   * began (a late redelivery), or another renewal answered the need: recording this one now would
   * make an older certificate current.
   */
  async deploy(message: RenewalMessage, actor?: Actor): Promise<DeployedCertificate | undefined> {
    const held = await leaseForDelivery(this.#context, message);
    try {
      const answered = deliveryAlreadyAnswered(held.app, message, this.#context.now());
      if (answered) {
        this.#context.log?.(`deploy skipped: ${answered}`, { appId: message.appId, renewalId: message.renewalId });
        // An earlier attempt may have imported into Key Vault before it failed; no later one will
        // record that certificate now.
        if (!held.firstAttempt && message.stage === 'deploy') await restoreKeyVaultLatestUnder(this.#context, held);
        await this.#adoptForRotation(held);
        return undefined;
      }
      await preflightStage(this.#context, held);
      return await deployStage(this.#context, held, actor);
    } finally {
      await releaseLease(this.#context, held);
    }
  }

  /** The confirm stage; answers the app as it left it (undefined when the app is gone). */
  async confirm(message: RenewalMessage): Promise<StoredApp | undefined> {
    let held;
    try {
      held = await leaseForDelivery(this.#context, message);
    } catch (error) {
      // The app was deleted after its renewal was queued: nothing is left to confirm.
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
    try {
      await confirmStage(this.#context, held);
    } finally {
      await releaseLease(this.#context, held);
    }
    return held.app;
  }

  /**
   * The last attempt of a message failed: record the failure (once per renewal), tell the admins
   * and automation. The existing certificates are untouched.
   */
  async recordFailure(message: RenewalMessage, error: unknown, log?: RenewalLog): Promise<StoredApp | undefined> {
    const text = errorText(error);
    const properties = { appId: message.appId, renewalId: message.renewalId, stage: message.stage, outcome: 'failed', error: text };
    // The alert (infra/modules/monitoring.bicep) matches traces starting "renewal failed" or carrying
    // outcome "failed": the invocation's logger reaches Application Insights as a trace with the
    // text, whatever becomes of the structured properties, so the line is self-contained.
    const line = `renewal failed: app ${message.appId}, renewal ${message.renewalId} (${message.stage} stage, ${message.trigger}): ${text}`;
    const app = await this.#context.store.getApp(message.appId);
    if (!app) return undefined;
    if (app.state.renewal?.id === message.renewalId && app.state.renewal.stage === 'failed') return app;
    log?.(line, properties);
    this.#context.log?.('renewal failed', properties);
    const now = this.#context.now();
    const progress: RenewalProgress = {
      ...(app.state.renewal?.id === message.renewalId ? app.state.renewal : {}),
      id: message.renewalId,
      trigger: message.trigger,
      stage: 'failed',
      ...(message.rotationId === undefined ? {} : { rotationId: message.rotationId }),
    };
    const facts = {
      kind: 'failed',
      id: notificationId('failed', message.renewalId),
      appId: message.appId,
      displayName: app.config.displayName,
      trigger: message.trigger,
      error: text,
      ...rotationFieldsOf(message),
      thumbprint: app.state.currentThumbprint,
      notAfter: app.state.notAfter,
    } as const;
    // The failure and its email and event are written together, as pending (the marker first, see
    // markPendingNotifications): a process dying before they are sent leaves them to the scheduler.
    // A redelivery finds the failure recorded and sends nothing itself.
    await this.#context.store.markPendingNotifications(message.appId);
    const recorded = await writeRenewalState(
      this.#context.store,
      app,
      undefined,
      (state) => ({
        renewal: progress,
        lastOutcome: 'failed',
        lastOutcomeAt: now.toISOString(),
        lastError: text,
        consecutiveFailures: state.consecutiveFailures + 1,
        pendingNotifications: withPending(
          state.pendingNotifications,
          (['email', 'event'] as const).map((channel) => ({ facts, channel, error: 'not sent yet' })),
        ),
      }),
      { action: `renewal.${message.stage}`, trigger: message.trigger, outcome: 'failed', error: text, ...rotationFieldsOf(message) },
    );
    await this.#context.afterStep?.('failure-recorded', message);
    const failures = await this.#context.notifications.send(recorded, facts);
    return writeRenewalState(this.#context.store, recorded, undefined, (state) => ({
      pendingNotifications: withPending(
        state.pendingNotifications.filter((entry) => entry.id !== facts.id),
        failures,
      ),
    }));
  }

  /**
   * Tells the app's admins (email, and the AccessGrantFailed event) that its Key Vault access
   * status changed to one that needs them (docs/consumers.md); a send that fails is left pending for the scheduler.
   */
  async announceAccess(app: StoredApp): Promise<StoredApp> {
    const access = app.state.access;
    return access ? this.#context.notifications.notify(app, undefined, accessFacts(app.config, access)) : app;
  }

  /** Retries the app's pending notifications; returns how many are still pending. */
  async retryPendingNotifications(appId: string): Promise<number> {
    const { store, notifications } = this.#context;
    const app = await store.getApp(appId);
    if (!app || app.state.pendingNotifications.length === 0) {
      await store.clearPendingNotifications(appId);
      return 0;
    }
    let current = app;
    for (const pending of app.state.pendingNotifications) {
      current = await notifications.notify(current, undefined, factsFromPending(current, pending), pending);
    }
    if (current.state.pendingNotifications.length === 0) await store.clearPendingNotifications(appId);
    return current.state.pendingNotifications.length;
  }

  /** Sends a near-expiry warning for the current certificate (once: the caller checked the policy). */
  async warnNearExpiry(app: StoredApp): Promise<StoredApp> {
    const thumbprint = app.state.currentThumbprint!;
    const key = nearExpiryKey(thumbprint, app.config.notifications.thresholdDays);
    const updated = await writeRenewalState(this.#context.store, app, undefined, (state) => ({
      nearExpiryWarned: [...state.nearExpiryWarned.filter((warned) => warned !== key), key].slice(-20),
    }));
    return this.#context.notifications.notify(updated, undefined, {
      kind: 'near-expiry',
      id: notificationId('near-expiry', key),
      appId: app.config.appId,
      displayName: app.config.displayName,
      thumbprint,
      keyId: app.state.keyId,
      notBefore: app.state.notBefore,
      notAfter: app.state.notAfter,
    });
  }
}
