import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import type { PendingNotification, RenewalProgress } from '../domain/appConfig.js';
import type { HistoryInput } from '../tables/appStore.js';
import { generateCertificate } from '../certificates/generateCertificate.js';
import { parseCertificate } from '../certificates/parseCertificate.js';
import { encodeCer } from '../certificates/encode.js';
import { encodePfx, IMPORT_PFX_ITERATIONS } from '../certificates/pfx.js';
import {
  AccessDeniedError,
  LeaseHeldError,
  NotFoundError,
  PreconditionError,
  PreconditionFailedError,
  RetriableError,
  ValidationError,
} from '../errors.js';
import { takeAppLease } from './appLease.js';
import { FUNCTION_TIMEOUT_SECONDS, MAX_DEQUEUE_COUNT, QUEUE_VISIBILITY_TIMEOUT_SECONDS, renewalMessageSchema } from './renewalMessage.js';
import { decideRenewal } from './decide/renewalPolicy.js';
import { policyStateOf } from './renewalScheduler.js';
import {
  buildEmail,
  buildEvent,
  buildKeyDeliveryEmail,
  notificationId,
  operationIdFor,
  type NotificationFacts,
  type NotificationKind,
} from './notifications.js';
import type {
  Actor,
  AppCertificate,
  AppCredentials,
  CertificateSigner,
  CertificateVault,
  EmailMessage,
  EventSink,
  GraphWriteMode,
  Mailer,
  RenewalMessage,
  RenewalQueue,
  RenewalState,
  RenewalStore,
  SignInVerifier,
  StoredApp,
  VaultVersion,
} from '../domain/ports.js';

/**
 * One renewal in the two stages of PRODUCT.md §4, shared by the queue worker, the manual
 * generation route and bootstrap.
 *
 * Deploy: lease → generate (or reuse what an earlier attempt of this renewal made) → Key Vault
 * import tagged with the renewal id → add to the app registration under a keyId derived from the
 * renewal id → record `deployed` → queue the confirm stage. Confirm: lease → sign in as the app with
 * the new certificate until Entra accepts it → record `verifiedAt` → email → event → remove expired
 * managed certificates → record `completed`.
 *
 * Every step can be repeated: a redelivered message finds the Key Vault version by its tag and the
 * credential by its keyId and carries on from there, so a crash between any two steps costs a
 * retry, never a second certificate or a lost credential. Nothing older is removed before the new
 * certificate has signed in.
 */

export type RenewalTrigger = RenewalMessage['trigger'];

export type RenewalStep = 'leased' | 'generated' | 'imported' | 'added' | 'recorded' | 'queued' | 'verified' | 'notified' | 'cleaned';

export interface RenewalSettings {
  readonly leaseSeconds: number;
  readonly verifyWindowMinutes: number;
  /** How long the confirm stage waits for Entra's propagation before its first sign-in. */
  readonly confirmDelaySeconds: number;
  /** Pause between sign-in attempts inside the window (grows to this cap). */
  readonly verifyRetryMaxDelayMs?: number;
  /**
   * How long a message that found the app's lease taken waits before it is tried again (default
   * 30 s: a stage takes seconds; the lease's full length is only the worst case).
   */
  readonly postponeDelaySeconds?: number;
}

export interface RenewalDependencies {
  readonly store: RenewalStore;
  readonly vaultFor: (vaultUrl: string) => CertificateVault;
  readonly credentials: AppCredentials;
  readonly verifier: SignInVerifier;
  readonly queue: RenewalQueue;
  readonly mailer?: Mailer;
  readonly events?: EventSink;
  readonly settings: RenewalSettings;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (message: string, properties?: Record<string, unknown>) => void;
  /** Called after each step; tests throw here to stand in for a crash between two steps. */
  readonly afterStep?: (step: RenewalStep, message: RenewalMessage) => Promise<void> | void;
}

export interface DeployedCertificate {
  readonly appId: string;
  readonly renewalId: string;
  readonly keyId: string;
  readonly thumbprint: string;
  readonly thumbprintSha256: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyVault?: { readonly id: string; readonly version: string };
  /**
   * The certificate and key, in memory: for the creating response only, never stored here. Absent
   * only when a retry adopted a credential whose key went out by email in an earlier attempt.
   */
  readonly certificate: { readonly der: Buffer; readonly privateKey: KeyObject | undefined } | undefined;
}

const MANAGED_TAG = 'entra-cert-rotator';
/** The longest Retry-After honoured by deferring a message (Storage queues allow up to 7 days). */
const MAX_DEFER_SECONDS = 3600;
const DEFAULT_VERIFY_RETRY_MAX_DELAY_MS = 30_000;
const WRITE_ATTEMPTS = 6;
const DEFAULT_POSTPONE_SECONDS = 30;
/** Renewal ids kept in `deployAttempts`: far more than can be in flight for one app at once. */
const DEPLOY_ATTEMPTS_KEPT = 20;

/** The keyId of a renewal's credential: a UUID derived from the renewal id, so a retry finds its own work. */
export function keyIdForRenewal(renewalId: string): string {
  const h = createHash('sha256').update(`entra-cert-rotator/keyId/${renewalId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface Held {
  app: StoredApp;
  readonly owner: string;
  readonly message: RenewalMessage;
  /**
   * Deploy stage only: no earlier attempt of this renewal ever took the lease, so there is no
   * earlier work (Key Vault version, credential) to look for.
   */
  readonly firstAttempt: boolean;
  /** Set once a state write has also released the lease, so no separate release is needed. */
  released: boolean;
  /** When this delivery took the lease (epoch ms): its invocation's time is counted from here. */
  readonly startedAt: number;
}

/** Where a stage's failure is reported: the invocation's logger (Application Insights traces). */
export type RenewalLog = (message: string, properties?: Record<string, unknown>) => void;

/** A pending notification about a certificate that is no longer the app's current one. */
const isSuperseded = (app: StoredApp, pending: PendingNotification) =>
  pending.thumbprint !== undefined && pending.thumbprint !== app.state.currentThumbprint;

/** Notification failures gathered during a stage, recorded as pending with the stage's last write. */
type NotificationFailure = { readonly facts: NotificationFacts; readonly channel: 'email' | 'event'; readonly error: string };

type StateChange = Partial<RenewalState>;

const toIssues = (error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }) =>
  error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 1000);

export class RenewalService {
  readonly #d: RenewalDependencies;
  readonly #now: () => Date;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(dependencies: RenewalDependencies) {
    this.#d = dependencies;
    this.#now = dependencies.now ?? (() => new Date());
    this.#sleep = dependencies.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
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
      await this.#restoreKeyVaultLatest(message);
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
   * The queue worker's use case: one delivery of a renewal message. A lease held by another run is
   * not a failure: the message is put back with a delay (a fresh message, so the wait does not use
   * up delivery attempts) and this delivery completes. Any other error fails the delivery, so the
   * queue retries it; the last attempt (or an error no retry can fix) records the failure first.
   */
  async processQueueMessage(raw: unknown, attempt: { dequeueCount: number; log?: RenewalLog }): Promise<'done' | 'postponed' | 'skipped'> {
    const parsed = renewalMessageSchema.safeParse(raw);
    if (!parsed.success) throw new ValidationError(toIssues(parsed.error), 'Not a renewal message');
    const message = parsed.data;
    try {
      await this.handle(message);
      return 'done';
    } catch (error) {
      // Only a held lease is waited out; any other conflict (a service's 409) is a failure like
      // the rest, so it ends in the poison queue instead of being put back forever.
      if (error instanceof LeaseHeldError) {
        const delay = Math.min(
          error.retryAfterSeconds ?? DEFAULT_POSTPONE_SECONDS,
          this.#d.settings.postponeDelaySeconds ?? DEFAULT_POSTPONE_SECONDS,
        );
        await this.#d.queue.enqueue(message, { visibilityDelaySeconds: delay });
        this.#d.log?.('renewal postponed', { appId: message.appId, renewalId: message.renewalId, reason: error.message });
        return 'postponed';
      }
      // Skipped only when the app really is gone; a missing Key Vault version or app registration
      // is a failure to record, not a reason to drop the renewal silently.
      if (error instanceof NotFoundError && !(await this.#d.store.getApp(message.appId))) {
        this.#d.log?.('renewal skipped: app no longer managed', { appId: message.appId, renewalId: message.renewalId });
        return 'skipped';
      }
      const wait = error instanceof RetriableError ? error.retryAfterSeconds : undefined;
      const deferrals = message.deferrals ?? 0;
      if (wait !== undefined && wait > QUEUE_VISIBILITY_TIMEOUT_SECONDS && deferrals < MAX_DEQUEUE_COUNT) {
        await this.#d.queue.enqueue(
          { ...message, deferrals: deferrals + 1 },
          { visibilityDelaySeconds: Math.min(wait, MAX_DEFER_SECONDS) },
        );
        this.#d.log?.('renewal deferred: the service asked to wait', { appId: message.appId, renewalId: message.renewalId, seconds: wait });
        return 'postponed';
      }
      // Only what no later delivery can change ends the renewal at once; a refused identity may be
      // a role assignment still applying, so it gets every delivery first.
      const final = (error instanceof PreconditionError && !(error instanceof AccessDeniedError)) || error instanceof ValidationError;
      const last = attempt.dequeueCount >= MAX_DEQUEUE_COUNT || deferrals >= MAX_DEQUEUE_COUNT;
      if (final || last) await this.recordFailure(message, error, attempt.log);
      // Only once no attempt of this renewal can follow: a later success would make the imported
      // version current after all.
      if (last && message.stage === 'deploy') await this.#restoreKeyVaultLatest(message);
      throw error;
    }
  }

  /**
   * The deploy stage. Undefined when a newer renewal of the app has been recorded since this one
   * began (a late redelivery): recording this one now would make an older certificate current.
   */
  async deploy(message: RenewalMessage, actor?: Actor): Promise<DeployedCertificate | undefined> {
    const held = await this.#acquire(message);
    try {
      const answered = this.#alreadyAnswered(held);
      if (answered) {
        this.#d.log?.(`deploy skipped: ${answered}`, { appId: message.appId, renewalId: message.renewalId });
        // An earlier attempt may have imported into Key Vault before it failed; no later one will
        // record that certificate now.
        if (!held.firstAttempt && message.stage === 'deploy') await this.#restoreKeyVaultLatestUnder(held);
        return undefined;
      }
      return await this.#deploy(held, actor);
    } finally {
      await this.#release(held);
    }
  }

  async confirm(message: RenewalMessage): Promise<void> {
    let held: Held;
    try {
      held = await this.#acquire(message);
    } catch (error) {
      // The app was deleted after its renewal was queued: nothing is left to confirm.
      if (error instanceof NotFoundError) return;
      throw error;
    }
    try {
      await this.#confirm(held);
    } finally {
      await this.#release(held);
    }
  }

  /**
   * The last attempt of a message failed: record the failure (once per renewal), tell the admins
   * and automation. The existing certificates are untouched.
   */
  async recordFailure(message: RenewalMessage, error: unknown, log?: RenewalLog): Promise<void> {
    const text = errorText(error);
    const properties = { appId: message.appId, renewalId: message.renewalId, stage: message.stage, outcome: 'failed', error: text };
    // The alert (infra/modules/monitoring.bicep) matches traces starting "renewal failed" or carrying
    // outcome "failed": the invocation's logger reaches Application Insights as a trace with the
    // text, whatever becomes of the structured properties, so the line is self-contained.
    const line = `renewal failed: app ${message.appId}, renewal ${message.renewalId} (${message.stage} stage, ${message.trigger}): ${text}`;
    const app = await this.#d.store.getApp(message.appId);
    if (!app) return;
    const already = app.state.renewal?.id === message.renewalId && app.state.renewal.stage === 'failed';
    if (already) return;
    log?.(line, properties);
    this.#d.log?.('renewal failed', properties);
    const now = this.#now();
    const progress: RenewalProgress = {
      ...(app.state.renewal?.id === message.renewalId ? app.state.renewal : {}),
      id: message.renewalId,
      trigger: message.trigger,
      stage: 'failed',
    };
    const updated = await this.#writeState(
      app,
      undefined,
      (s) => ({
        renewal: progress,
        lastOutcome: 'failed',
        lastOutcomeAt: now.toISOString(),
        lastError: text,
        consecutiveFailures: s.consecutiveFailures + 1,
      }),
      { action: `renewal.${message.stage}`, trigger: message.trigger, outcome: 'failed', error: text },
    );
    await this.#notify(updated, undefined, {
      kind: 'failed',
      id: notificationId('failed', message.renewalId),
      appId: message.appId,
      displayName: updated.config.displayName,
      trigger: message.trigger,
      error: text,
      thumbprint: updated.state.currentThumbprint,
      notAfter: updated.state.notAfter,
    });
  }

  /**
   * A renewal that failed after its Key Vault import but before its certificate was recorded (the
   * app registration refused it, say) leaves Key Vault's latest version naming a certificate Entra
   * does not have, while whatever reads "the certificate" from Key Vault takes the latest version.
   * The current certificate is imported again on top, so that Key Vault, Entra and the state agree
   * on the certificate in use. Under the app's lease, like every renewal's writes: a renewal that
   * holds it, or began since, owns Key Vault's latest version. Best effort: a failure here is
   * logged, the renewal's failure stands.
   */
  async #restoreKeyVaultLatest(message: RenewalMessage): Promise<void> {
    let held: Held;
    try {
      const { app, owner } = await takeAppLease(this.#d.store, message.appId, {
        holder: `restore:${message.renewalId}`,
        leaseSeconds: this.#d.settings.leaseSeconds,
        now: this.#now,
      });
      held = { app, owner, message, firstAttempt: false, released: false, startedAt: this.#now().getTime() };
    } catch (error) {
      this.#d.log?.('key vault restore skipped', { appId: message.appId, renewalId: message.renewalId, error: errorText(error) });
      return;
    }
    try {
      await this.#restoreKeyVaultLatestUnder(held);
    } finally {
      await this.#release(held);
    }
  }

  async #restoreKeyVaultLatestUnder(held: Held): Promise<void> {
    const { message } = held;
    const { config, state } = held.app;
    if (!config.keyVault.enabled || state.keyVaultVersion === undefined || state.currentThumbprint === undefined) return;
    const vault = this.#d.vaultFor(config.keyVault.vaultUrl);
    const name = config.keyVault.certificateName;
    try {
      const orphan = await vault.findVersionByTag(name, 'renewalId', message.renewalId);
      if (!orphan || orphan.thumbprint === state.currentThumbprint) return;
      // Only while it is still the latest: a version imported after it is a later renewal's.
      if ((await vault.getLatest(name))?.version !== orphan.version) return;
      const current = await vault.getCertificateWithPrivateKey(name, { version: state.keyVaultVersion });
      const { pfx, password } = await encodeImportPfx(current.der, current.privateKey, config.displayName);
      const restored = await vault.importCertificate(name, {
        pfx,
        password,
        tags: { managedBy: MANAGED_TAG, appId: config.appId, restoredAfter: message.renewalId, thumbprint: state.currentThumbprint },
      });
      held.app = await this.#writeState(held.app, held.owner, () => ({ keyVaultVersion: restored.version, keyVaultId: restored.id }));
      this.#d.log?.('key vault latest restored to the current certificate', { appId: config.appId, renewalId: message.renewalId });
    } catch (error) {
      this.#d.log?.('key vault restore failed', { appId: config.appId, renewalId: message.renewalId, error: errorText(error) });
    }
  }

  /** Retries the app's pending notifications; returns how many are still pending. */
  async retryPendingNotifications(appId: string): Promise<number> {
    const app = await this.#d.store.getApp(appId);
    if (!app || app.state.pendingNotifications.length === 0) {
      await this.#d.store.clearPendingNotifications(appId);
      return 0;
    }
    let current = app;
    for (const pending of app.state.pendingNotifications) {
      current = await this.#notify(current, undefined, this.#factsFromPending(current, pending), pending);
    }
    if (current.state.pendingNotifications.length === 0) await this.#d.store.clearPendingNotifications(appId);
    return current.state.pendingNotifications.length;
  }

  /** Sends a near-expiry warning for the current certificate (once: the caller checked the policy). */
  async warnNearExpiry(app: StoredApp): Promise<StoredApp> {
    const thumbprint = app.state.currentThumbprint!;
    const key = `${thumbprint}:${app.config.notifications.thresholdDays}`;
    const updated = await this.#writeState(app, undefined, (s) => ({
      nearExpiryWarned: [...s.nearExpiryWarned.filter((k) => k !== key), key].slice(-20),
    }));
    return this.#notify(updated, undefined, {
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

  // --- the stages ---------------------------------------------------------------------------

  /**
   * Why this deploy has nothing left to do, if so: a newer renewal took the lease after it and
   * recorded a deployment (a late redelivery), or, for a scheduled or drift renewal that has not
   * recorded a deployment, another renewal (a manual one that won the lease) already answered the
   * need. What an earlier attempt of a skipped renewal left (a Key Vault version, a credential) is
   * older than what answered it, so the current certificate stays the newest everywhere.
   */
  #alreadyAnswered(held: Held): string | undefined {
    const { message } = held;
    const { state, config } = held.app;
    const renewal = state.renewal;
    if (renewal && renewal.id !== message.renewalId && renewal.deployedAt !== undefined) {
      const mine = state.deployAttempts.indexOf(message.renewalId);
      if (mine >= 0 && state.deployAttempts.indexOf(renewal.id) > mine) return 'superseded by a newer renewal';
    }
    // Once this renewal has recorded its deployment, a repeat only finishes what it began.
    if (renewal?.id === message.renewalId) return undefined;
    if (message.trigger === 'scheduled') {
      const decision = decideRenewal({ config, state: policyStateOf(held.app), now: this.#now() });
      if (!decision.renew) return `no longer due (${decision.detail})`;
    }
    // An admin may have turned management off since the scheduler queued it (a scheduled message
    // meets the same check in the policy above; a manual one is the admin's own request).
    if ((message.trigger === 'drift' || message.trigger === 'bootstrap') && !config.enabled) {
      return 'certificate management is off for this app';
    }
    // A first certificate is made once: another (a manual generation) may have made it meanwhile.
    if (message.trigger === 'bootstrap' && state.currentThumbprint !== undefined) return 'the app has its first certificate already';
    if (message.trigger === 'drift' && message.requestedAt !== undefined && renewal?.deployedAt !== undefined) {
      if (Date.parse(renewal.deployedAt) > Date.parse(message.requestedAt))
        return `a renewal deployed at ${renewal.deployedAt} replaced the drifted certificate`;
    }
    return undefined;
  }

  async #deploy(held: Held, actor: Actor | undefined): Promise<DeployedCertificate> {
    const { message } = held;
    const { config } = held.app;
    const step = (name: RenewalStep) => this.#d.afterStep?.(name, message);
    await step('leased');
    const keyId = keyIdForRenewal(message.renewalId);
    const vault = config.keyVault.enabled ? this.#d.vaultFor(config.keyVault.vaultUrl) : undefined;
    const name = config.keyVault.certificateName;

    // What an earlier attempt of this renewal already made, if anything: with Key Vault, the version
    // tagged with the renewal id; without it, the credential under the renewal's keyId (whose key
    // went out by email before it was added, so it is adopted, not replaced). A first attempt has
    // nothing to find and skips the look-up.
    let der: Buffer | undefined;
    let privateKey: KeyObject | undefined;
    let version: VaultVersion | undefined;
    let adopted: AppCertificate | undefined;
    if (!held.firstAttempt) {
      if (vault) {
        version = await vault.findVersionByTag(name, 'renewalId', message.renewalId);
        if (version) ({ der, privateKey } = await vault.getCertificateWithPrivateKey(name, { version: version.version }));
      } else {
        adopted = (await this.#d.credentials.listCertificates(config.appId)).find((c) => c.keyId === keyId);
      }
    }
    if (!der && !adopted) {
      const generated = await generateCertificate({
        displayName: config.displayName,
        lifetimeDays: config.lifetimeDays,
        keySize: config.keySize,
        now: this.#now(),
      });
      ({ der, privateKey } = generated);
      await step('generated');
      if (vault) {
        const { pfx, password } = await encodeImportPfx(generated.der, generated.privateKey, config.displayName);
        version = await vault.importCertificate(name, {
          pfx,
          password,
          tags: { managedBy: MANAGED_TAG, appId: config.appId, renewalId: message.renewalId, thumbprint: generated.thumbprints.sha1 },
        });
      } else {
        // Without Key Vault the email is the only place the key lands, so it must go out before the
        // certificate is trusted anywhere; if it cannot, nothing has changed and the attempt fails.
        await this.#sendKeyByEmail(held.app, generated.der, generated.privateKey, message.renewalId);
      }
      await step('imported');
    }

    let recorded: {
      keyId: string;
      thumbprint: string;
      thumbprintSha256: string | undefined;
      notBefore: Date;
      notAfter: Date;
      keySize: number | undefined;
    };
    if (der) {
      const info = parseCertificate(der);
      const result = await this.#d.credentials.addCertificate(config.appId, {
        certificate: { der, notBefore: info.notBefore, notAfter: info.notAfter },
        keyId,
        mode: await this.#writeMode(held.app),
      });
      recorded = {
        keyId: result.keyId,
        thumbprint: info.thumbprints.sha1,
        thumbprintSha256: info.thumbprints.sha256,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
        keySize: info.keySize,
      };
    } else {
      const c = adopted!;
      recorded = {
        keyId: c.keyId,
        thumbprint: c.thumbprint,
        thumbprintSha256: undefined,
        notBefore: c.validFrom,
        notAfter: c.validUntil,
        keySize: config.keySize,
      };
    }
    await step('added');

    const already = held.app.state.renewal?.id === message.renewalId && held.app.state.renewal.stage !== 'failed';
    if (!already || held.app.state.currentThumbprint !== recorded.thumbprint) {
      // One write records the deployment, its history row, and gives the lease back.
      held.app = await this.#writeState(
        held.app,
        held.owner,
        () => ({
          currentThumbprint: recorded.thumbprint,
          currentThumbprintSha256: recorded.thumbprintSha256,
          keyId: recorded.keyId,
          notBefore: recorded.notBefore.toISOString(),
          notAfter: recorded.notAfter.toISOString(),
          keySize: recorded.keySize,
          keyVaultVersion: version?.version,
          keyVaultId: version?.id,
          verifiedAt: undefined,
          lastOutcome: 'deployed',
          lastOutcomeAt: this.#now().toISOString(),
          lastError: undefined,
          queued: undefined,
          lease: undefined,
          renewal: {
            id: message.renewalId,
            trigger: message.trigger,
            stage: 'deployed',
            deployedAt: this.#now().toISOString(),
            reason: message.reason,
            requestedBy: actor,
          },
        }),
        { action: 'renewal.deploy', trigger: message.trigger, outcome: 'succeeded', thumbprint: recorded.thumbprint, actor },
        actor,
      );
      held.released = true;
    }
    await step('recorded');

    await this.#d.queue.enqueue({ ...message, stage: 'confirm' }, { visibilityDelaySeconds: this.#d.settings.confirmDelaySeconds });
    await step('queued');
    this.#d.log?.('certificate deployed', {
      appId: config.appId,
      renewalId: message.renewalId,
      thumbprint: recorded.thumbprint,
      trigger: message.trigger,
    });

    return {
      appId: config.appId,
      renewalId: message.renewalId,
      keyId: recorded.keyId,
      thumbprint: recorded.thumbprint,
      thumbprintSha256: recorded.thumbprintSha256,
      notBefore: recorded.notBefore,
      notAfter: recorded.notAfter,
      keyVault: version ? { id: version.id, version: version.version } : undefined,
      certificate: der ? { der, privateKey } : undefined,
    };
  }

  async #confirm(held: Held): Promise<void> {
    const { message } = held;
    const step = (name: RenewalStep) => this.#d.afterStep?.(name, message);
    const progress = held.app.state.renewal;
    if (!progress || progress.id !== message.renewalId) {
      // A newer renewal replaced this one before it was confirmed; that one confirms itself.
      this.#d.log?.('confirm skipped: superseded', { appId: message.appId, renewalId: message.renewalId });
      return;
    }
    if (progress.stage !== 'deployed') return;
    const { config } = held.app;

    // Every step below can be repeated, so the stage's outcome is written once, at the end, with
    // the lease released: a crash in between costs a repeat (the same event id, the same email
    // Operation-Id), never a lost step.
    await this.#verify(held);
    const verifiedAt = this.#now().toISOString();
    const verified: StoredApp = { ...held.app, state: { ...held.app.state, verifiedAt } };
    await step('verified');

    const kind: NotificationKind = message.trigger === 'manual' ? 'generated' : 'renewed';
    const failures = await this.#send(verified, this.#certificateFacts(verified, kind, message), undefined, {
      // Without Key Vault the renewal email (with its key) already went out at deploy.
      withAttachment: config.keyVault.enabled,
      skipEmail: !config.keyVault.enabled && config.notifications.includeCertificate,
    });
    await step('notified');

    // Best effort: the new certificate is verified and the admins told, and an expired certificate
    // signs nothing in, so a refusal here (an owner removed, Graph down past its retries) is
    // recorded and left to the next renewal's cleanup. Failing the renewal for it would put the
    // app due again within the hour, adding a certificate each time and removing none.
    let removed: AppCertificate[] = [];
    let cleanupError: string | undefined;
    try {
      removed = await this.#d.credentials.removeExpiredManagedCertificates(config.appId, await this.#writeMode(held.app));
    } catch (error) {
      cleanupError = errorText(error);
      this.#d.log?.('expired certificates not removed', { appId: config.appId, renewalId: message.renewalId, error: cleanupError });
    }
    for (const certificate of removed) {
      const facts: NotificationFacts = {
        kind: 'removed',
        id: notificationId('removed', `${message.renewalId}:${certificate.keyId}`),
        appId: config.appId,
        displayName: config.displayName,
        thumbprint: certificate.thumbprint,
        keyId: certificate.keyId,
        notBefore: certificate.validFrom.toISOString(),
        notAfter: certificate.validUntil.toISOString(),
        trigger: message.trigger,
      };
      failures.push(...(await this.#send(verified, facts)));
    }
    await step('cleaned');

    if (failures.length > 0) await this.#d.store.markPendingNotifications(config.appId);
    const history: HistoryInput[] = [
      { action: 'renewal.confirm', trigger: message.trigger, outcome: 'succeeded', thumbprint: held.app.state.currentThumbprint },
    ];
    if (removed.length > 0) {
      history.push({
        action: 'renewal.cleanup',
        trigger: message.trigger,
        outcome: 'succeeded',
        thumbprint: removed.map((r) => r.thumbprint).join(','),
      });
    }
    if (cleanupError !== undefined) {
      history.push({ action: 'renewal.cleanup', trigger: message.trigger, outcome: 'failed', error: cleanupError });
    }
    held.app = await this.#writeState(
      held.app,
      held.owner,
      (s) => ({
        verifiedAt,
        lastOutcome: 'verified',
        lastOutcomeAt: verifiedAt,
        lastError: undefined,
        renewal: { ...s.renewal!, stage: 'completed' },
        consecutiveFailures: 0,
        pendingNotifications: withPending(s.pendingNotifications, failures),
        lease: undefined,
      }),
      history,
    );
    held.released = true;
    this.#d.log?.('renewal completed', {
      appId: config.appId,
      renewalId: message.renewalId,
      outcome: 'completed',
      removed: removed.length,
    });
  }
  /** Signs in as the app with the new certificate until Entra accepts it or the window closes. */
  async #verify(held: Held): Promise<void> {
    const { config, state } = held.app;
    if (!config.keyVault.enabled) {
      // Without Key Vault the key lived only in the creating attempt, so sign-in cannot be tried
      // here; what can be proven is that the app registration carries the certificate.
      const listed = await this.#d.credentials.listCertificates(config.appId);
      if (!listed.some((c) => c.keyId === state.keyId && c.thumbprint === state.currentThumbprint)) {
        throw new RetriableError(`The new certificate ${state.currentThumbprint} is not on the app registration yet`);
      }
      return;
    }
    const signer = await this.#signerFromVault(held.app, state.keyVaultVersion);
    const deadline = Date.parse(state.renewal?.deployedAt ?? this.#now().toISOString()) + this.#d.settings.verifyWindowMinutes * 60_000;
    // This delivery waits no longer than its lease allows (with a tenth to spare for the writes
    // after it), nor than its invocation may run (with a minute to spare); what is left of the
    // window is the next delivery's.
    const leaseUntil = state.lease ? Date.parse(state.lease.until) - this.#d.settings.leaseSeconds * 100 : Number.POSITIVE_INFINITY;
    const invocationUntil = held.startedAt + (FUNCTION_TIMEOUT_SECONDS - 60) * 1000;
    const stopAt = Math.min(deadline, leaseUntil, invocationUntil);
    const maxDelay = this.#d.settings.verifyRetryMaxDelayMs ?? DEFAULT_VERIFY_RETRY_MAX_DELAY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#d.verifier.verify(config.appId, signer);
        return;
      } catch (error) {
        const remaining = stopAt - this.#now().getTime();
        if (!(error instanceof RetriableError) || remaining <= 0) {
          const why =
            deadline <= this.#now().getTime()
              ? `did not sign in within ${this.#d.settings.verifyWindowMinutes} minutes`
              : 'does not sign in yet';
          throw new RetriableError(`The new certificate ${state.currentThumbprint} ${why}: ${errorText(error)}`, { cause: error });
        }
        await this.#sleep(Math.min(remaining, Math.min(maxDelay, 1000 * 2 ** attempt)));
      }
    }
  }

  // --- notifications ------------------------------------------------------------------------

  #certificateFacts(app: StoredApp, kind: NotificationKind, message: Pick<RenewalMessage, 'renewalId' | 'trigger'>): NotificationFacts {
    const s = app.state;
    return {
      kind,
      id: notificationId(kind, message.renewalId),
      appId: app.config.appId,
      displayName: app.config.displayName,
      thumbprint: s.currentThumbprint,
      keyId: s.keyId,
      notBefore: s.notBefore,
      notAfter: s.notAfter,
      keyVaultCertificateId: s.keyVaultId,
      keyVaultVersion: s.keyVaultVersion,
      trigger: message.trigger,
    };
  }

  #factsFromPending(app: StoredApp, pending: PendingNotification): NotificationFacts {
    // A certificate a newer renewal has replaced since is told about from what was kept of it: the
    // app's current certificate is the newer one, not this renewal's.
    if ((pending.kind === 'renewed' || pending.kind === 'generated') && pending.renewalId !== undefined && !isSuperseded(app, pending)) {
      return {
        ...this.#certificateFacts(app, pending.kind, { renewalId: pending.renewalId, trigger: app.state.renewal?.trigger ?? 'scheduled' }),
        id: pending.id,
      };
    }
    return {
      kind: pending.kind,
      id: pending.id,
      appId: app.config.appId,
      displayName: app.config.displayName,
      thumbprint: pending.thumbprint,
      keyId: pending.keyId,
      notAfter: pending.notAfter,
      error: pending.error,
    };
  }

  /**
   * Sends the email (when the app asks for notifications and email is configured) and the event
   * (when a topic is configured). A failure of either is recorded as pending on the app, to be
   * retried by the scheduler, and never fails the renewal (§4).
   */
  async #notify(app: StoredApp, owner: string | undefined, facts: NotificationFacts, retrying?: PendingNotification): Promise<StoredApp> {
    const failures = await this.#send(app, facts, retrying);
    if (failures.length === 0 && retrying === undefined) return app;
    // The marker first (an idempotent upsert): a crash before the state write leaves a marker with
    // no work, which the scheduler clears, never work the scheduler cannot find.
    if (failures.length > 0) await this.#d.store.markPendingNotifications(app.config.appId);
    return this.#writeState(app, owner, (s) => ({ pendingNotifications: withPending(s.pendingNotifications, failures, retrying) }));
  }

  /**
   * Sends the email (when the app asks for notifications and email is configured) and the event
   * (when a topic is configured), and returns what failed: the caller records it as pending, to be
   * retried by the scheduler. A failure never fails the renewal (§4).
   */
  async #send(
    app: StoredApp,
    facts: NotificationFacts,
    retrying?: PendingNotification,
    options: { withAttachment?: boolean; skipEmail?: boolean } = {},
  ): Promise<NotificationFailure[]> {
    const failures: NotificationFailure[] = [];
    const wantEmail =
      !options.skipEmail && app.config.notifications.enabled && this.#d.mailer !== undefined && (!retrying || retrying.channel === 'email');
    const wantEvent = this.#d.events !== undefined && (!retrying || retrying.channel === 'event');
    if (wantEmail) {
      try {
        await this.#sendEmail(
          app,
          facts,
          // A retry attaches the current certificate, so only when it is the one the notification is about.
          (options.withAttachment === true || retrying?.kind === 'renewed' || retrying?.kind === 'generated') &&
            (retrying === undefined || !isSuperseded(app, retrying)),
          retrying?.attempts,
        );
      } catch (error) {
        failures.push({ facts, channel: 'email', error: errorText(error) });
      }
    }
    if (wantEvent) {
      try {
        await this.#d.events.publish([buildEvent(facts, this.#now())]);
      } catch (error) {
        failures.push({ facts, channel: 'event', error: errorText(error) });
      }
    }
    return failures;
  }

  async #sendEmail(app: StoredApp, facts: NotificationFacts, withAttachment: boolean, retry?: number): Promise<void> {
    const mailer = this.#d.mailer!;
    const built = buildEmail(facts, app.config);
    // A resent Operation-Id names the operation that failed, whose answer the service repeats; a
    // retry of a failed send therefore gets its own (still stable per attempt).
    const email: EmailMessage = retry === undefined ? built : { ...built, operationId: operationIdFor(`${facts.id}#${retry}`) };
    const n = app.config.notifications;
    const attach =
      withAttachment && n.includeCertificate && (facts.kind === 'renewed' || facts.kind === 'generated') && app.state.currentThumbprint;
    if (!attach) {
      await mailer.send(email);
      return;
    }
    const signer = await this.#signerFromVault(app, app.state.keyVaultVersion);
    const fileName = safeFileName(app.config.displayName);
    if (n.attachmentFormat === 'cer') {
      await mailer.send({
        ...email,
        attachments: [{ name: `${fileName}.cer`, contentType: 'application/pkix-cert', content: encodeCer(signer.der) }],
      });
      return;
    }
    await this.#sendPfxPair(app, email, signer.der, signer.privateKey, facts.id);
  }

  async #sendKeyByEmail(app: StoredApp, der: Buffer, privateKey: KeyObject, renewalId: string): Promise<void> {
    if (!this.#d.mailer) {
      throw new PreconditionError(
        'This app keeps its private key only in the renewal email (keyVault.enabled is false), but email is not configured (EMAIL_ENDPOINT or EMAIL_CONNECTION_STRING, and EMAIL_SENDER)',
      );
    }
    const info = parseCertificate(der);
    const facts: NotificationFacts = {
      kind: 'renewed',
      id: notificationId('renewed', renewalId),
      appId: app.config.appId,
      displayName: app.config.displayName,
      thumbprint: info.thumbprints.sha1,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
    };
    await this.#sendPfxPair(app, buildKeyDeliveryEmail(facts, app.config), der, privateKey, `${facts.id}:${info.thumbprints.sha1}`);
  }

  /**
   * The PFX in one email and its password in a second, never together (§2 attachmentFormat). Each
   * pair gets operation ids of its own: a PFX is encrypted under a fresh password every time, so a
   * resent pair must be a whole new pair (the email service drops a repeated Operation-Id, which
   * would leave the admins a PFX and a password that do not belong together).
   */
  async #sendPfxPair(app: StoredApp, email: EmailMessage, der: Buffer, privateKey: KeyObject, id: string): Promise<void> {
    const mailer = this.#d.mailer!;
    const pair = `${id}:${randomUUID()}`;
    const { pfx, password } = await encodePfx(der, privateKey, { friendlyName: app.config.displayName });
    await mailer.send({
      ...email,
      plainText: `${email.plainText}\nThe attached PFX holds the private key. Its password comes in a separate email.\n`,
      html: `${email.html}<p>The attached PFX holds the private key. Its password comes in a separate email.</p>`,
      attachments: [{ name: `${safeFileName(app.config.displayName)}.pfx`, contentType: 'application/x-pkcs12', content: pfx }],
      operationId: operationIdFor(`${pair}:pfx`),
    });
    await mailer.send({
      to: email.to,
      subject: `${email.subject} (PFX password)`,
      plainText: `The password of the PFX sent in the previous email is:\n\n${password}\n`,
      html: `<p>The password of the PFX sent in the previous email is:</p><pre>${password}</pre>`,
      operationId: operationIdFor(`${pair}:password`),
    });
  }

  // --- lease, state writes, Graph mode --------------------------------------------------------

  async #acquire(message: RenewalMessage): Promise<Held> {
    let firstAttempt = false;
    const { app, owner } = await takeAppLease(this.#d.store, message.appId, {
      holder: message.renewalId,
      leaseSeconds: this.#d.settings.leaseSeconds,
      now: this.#now,
      // The deploy stage notes its renewal id with the lease, in the same write: the order in which
      // renewals began, and whether this one began before (then it may have left work to reuse).
      extra: (state) => {
        firstAttempt = message.stage === 'deploy' && !state.deployAttempts.includes(message.renewalId);
        return firstAttempt ? { deployAttempts: [...state.deployAttempts, message.renewalId].slice(-DEPLOY_ATTEMPTS_KEPT) } : {};
      },
    });
    return { app, owner, message, firstAttempt, released: false, startedAt: this.#now().getTime() };
  }

  async #release(held: Held): Promise<void> {
    if (held.released) return;
    try {
      held.app = await this.#writeState(held.app, held.owner, () => ({ lease: undefined }));
      held.released = true;
    } catch (error) {
      // The lease expires by itself; a failed release only delays the next renewal of this app.
      if (!(error instanceof NotFoundError)) this.#d.log?.('lease release failed', { appId: held.message.appId, error: errorText(error) });
    }
  }

  /**
   * Applies a state change with the app's ETag, re-reading and re-applying on a concurrent write
   * (an admin's PATCH, a scheduler tick). With an `owner`, the change only lands while that lease
   * is still held, so an attempt that lost its lease cannot overwrite a newer renewal's state.
   */
  async #writeState(
    app: StoredApp,
    owner: string | undefined,
    change: (state: RenewalState) => StateChange,
    history?: Parameters<RenewalStore['updateApp']>[1]['history'],
    actor?: Actor,
  ): Promise<StoredApp> {
    let current = app;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (owner !== undefined && current.state.lease?.owner !== owner) {
        throw new LeaseHeldError(`The lease on app ${app.config.appId} was lost (another renewal took over); this attempt stops here`, {
          retryAfterSeconds: 30,
        });
      }
      try {
        return await this.#d.store.updateApp(current, { state: { ...current.state, ...change(current.state) }, history, actor });
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        const fresh = await this.#d.store.getApp(app.config.appId);
        if (!fresh) throw new NotFoundError(`App ${app.config.appId} was deleted`);
        current = fresh;
      }
    }
    throw new RetriableError(`App ${app.config.appId} kept changing while its renewal state was written`);
  }

  async #writeMode(app: StoredApp): Promise<GraphWriteMode> {
    if (app.config.graphMode === 'owner') return { graphMode: 'owner' };
    return { graphMode: 'self', signer: await this.#signerFromVault(app, app.state.keyVaultVersion, 'self') };
  }

  async #signerFromVault(app: StoredApp, version: string | undefined, purpose: 'self' | 'verify' = 'verify'): Promise<CertificateSigner> {
    const { config, state } = app;
    const now = this.#now();
    if (!config.keyVault.enabled || version === undefined || state.notAfter === undefined || Date.parse(state.notAfter) <= now.getTime()) {
      throw new PreconditionError(
        purpose === 'self'
          ? `graphMode "self" signs in as the app with its current certificate from Key Vault, and app ${config.appId} has no valid one: generate one in graphMode "owner" (or let an admin add one to Key Vault), then switch back to "self"`
          : `The current certificate of app ${config.appId} is not in Key Vault`,
      );
    }
    const stored = await this.#d
      .vaultFor(config.keyVault.vaultUrl)
      .getCertificateWithPrivateKey(config.keyVault.certificateName, { version });
    return { der: stored.der, privateKey: stored.privateKey };
  }
}

/**
 * The pending list after a round of sends: the retried entry goes (it succeeded, or comes back with
 * one more attempt), each failure replaces any entry with its id and channel.
 */
function withPending(
  pending: readonly PendingNotification[],
  failures: readonly NotificationFailure[],
  retrying?: PendingNotification,
): PendingNotification[] {
  const key = (channel: string, id: string) => `${channel}:${id}`;
  const replaced = new Set(failures.map((f) => key(f.channel, f.facts.id)));
  if (retrying) replaced.add(key(retrying.channel, retrying.id));
  const keep = pending.filter((p) => !replaced.has(key(p.channel, p.id)));
  const added = failures.map<PendingNotification>(({ facts, channel, error }) => ({
    id: facts.id,
    channel,
    kind: facts.kind,
    renewalId: facts.kind === 'renewed' || facts.kind === 'generated' ? facts.id.slice(facts.kind.length + 1) : undefined,
    thumbprint: facts.thumbprint,
    keyId: facts.keyId,
    notAfter: facts.notAfter,
    error: facts.error,
    attempts: (retrying?.channel === channel ? retrying.attempts : 0) + 1,
    lastError: error,
  }));
  return [...keep, ...added].slice(-50);
}

/** A file name from an app's display name: letters, digits, dot, dash and underscore only. */
export function safeFileName(displayName: string): string {
  const name = displayName
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 80);
  return name === '' ? 'certificate' : name;
}

/** The PFX that carries a key into Key Vault's import: random password, few iterations (IMPORT_PFX_ITERATIONS says why). */
function encodeImportPfx(der: Buffer, privateKey: KeyObject, displayName: string) {
  return encodePfx(der, privateKey, { friendlyName: displayName, iterations: IMPORT_PFX_ITERATIONS });
}
