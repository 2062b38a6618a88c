import { randomUUID, type KeyObject } from 'node:crypto';
import { encodeCer } from '../certificates/encode.js';
import { parseCertificate } from '../certificates/parseCertificate.js';
import { encodePfx } from '../certificates/pfx.js';
import { safeFileName } from '../certificates/safeFileName.js';
import type { PendingNotification } from '../domain/appConfig.js';
import type { CertificateVault, EmailMessage, EventSink, Mailer, RenewalMessage } from '../domain/ports.js';
import type { AppRepository, StoredApp } from '../domain/storedApp.js';
import { errorText, PreconditionError } from '../errors.js';
import { signerFromVault } from './graphWriteMode.js';
import {
  buildEmail,
  buildEvent,
  buildKeyDeliveryEmail,
  notificationId,
  operationIdFor,
  type NotificationFacts,
  type NotificationKind,
} from './notifications.js';
import { writeRenewalState } from './writeRenewalState.js';

/** A notification that could not be sent on one channel, to be recorded as pending and retried by the scheduler. */
export interface NotificationFailure {
  readonly facts: NotificationFacts;
  readonly channel: 'email' | 'event';
  readonly error: string;
}

export interface SendOptions {
  /** The pending entry this send retries: only its channel is tried. */
  readonly retrying?: PendingNotification;
  /** Attach the current certificate when the config asks for it. */
  readonly withAttachment?: boolean;
  readonly skipEmail?: boolean;
}

export interface NotificationSenderDependencies {
  readonly store: Pick<AppRepository, 'getApp' | 'updateApp' | 'markPendingNotifications'>;
  readonly vaultFor: (vaultUrl: string) => Pick<CertificateVault, 'getCertificateWithPrivateKey'>;
  readonly mailer?: Mailer;
  readonly events?: EventSink;
  readonly now: () => Date;
}

/** A pending notification about a certificate that is no longer the app's current one. */
const isSuperseded = (app: StoredApp, pending: PendingNotification) =>
  pending.thumbprint !== undefined && pending.thumbprint !== app.state.currentThumbprint;

/**
 * Sends the lifecycle notifications of renewals and certificate removals: the email (when the app
 * asks for notifications and email is configured) and the event (when a topic is configured). A
 * failure of either never fails the operation: it is recorded as pending on the app, for the
 * scheduler to retry.
 */
export class NotificationSender {
  readonly #dependencies: NotificationSenderDependencies;

  constructor(dependencies: NotificationSenderDependencies) {
    this.#dependencies = dependencies;
  }

  /** Sends, and records what failed as pending (and a retried entry as done) in the app's state. */
  async notify(app: StoredApp, owner: string | undefined, facts: NotificationFacts, retrying?: PendingNotification): Promise<StoredApp> {
    const failures = await this.send(app, facts, { retrying });
    if (failures.length === 0 && retrying === undefined) return app;
    // The marker before the state (see markPendingNotifications).
    if (failures.length > 0) await this.#dependencies.store.markPendingNotifications(app.config.appId);
    return writeRenewalState(this.#dependencies.store, app, owner, (state) => ({
      pendingNotifications: withPending(state.pendingNotifications, failures, retrying),
    }));
  }

  /** Sends, and returns what failed: the caller records it as pending with its own write. */
  async send(app: StoredApp, facts: NotificationFacts, options: SendOptions = {}): Promise<NotificationFailure[]> {
    const { mailer, events, now } = this.#dependencies;
    const { retrying } = options;
    const failures: NotificationFailure[] = [];
    const wantEmail =
      !options.skipEmail && app.config.notifications.enabled && mailer !== undefined && (!retrying || retrying.channel === 'email');
    if (wantEmail) {
      try {
        // A retry attaches the current certificate, so only when it is the one the notification is about.
        const attach =
          (options.withAttachment === true || retrying?.kind === 'renewed' || retrying?.kind === 'generated') &&
          (retrying === undefined || !isSuperseded(app, retrying));
        await this.#sendEmail(app, facts, attach, retrying?.attempts);
      } catch (error) {
        failures.push({ facts, channel: 'email', error: errorText(error) });
      }
    }
    if (events !== undefined && (!retrying || retrying.channel === 'event')) {
      try {
        await events.publish([buildEvent(facts, now())]);
      } catch (error) {
        failures.push({ facts, channel: 'event', error: errorText(error) });
      }
    }
    return failures;
  }

  /**
   * Without Key Vault the email is the only place a new key lands: the PFX and its password, sent
   * before the certificate is trusted anywhere.
   */
  async sendKeyByEmail(app: StoredApp, der: Buffer, privateKey: KeyObject, renewalId: string): Promise<void> {
    if (!this.#dependencies.mailer) {
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

  async #sendEmail(app: StoredApp, facts: NotificationFacts, withAttachment: boolean, retry?: number): Promise<void> {
    const mailer = this.#dependencies.mailer!;
    const built = buildEmail(facts, app.config);
    // A resent Operation-Id names the operation that failed, whose answer the service repeats; a
    // retry of a failed send therefore gets its own (still stable per attempt).
    const email: EmailMessage = retry === undefined ? built : { ...built, operationId: operationIdFor(`${facts.id}#${retry}`) };
    const options = app.config.notifications;
    const attach =
      withAttachment &&
      options.includeCertificate &&
      (facts.kind === 'renewed' || facts.kind === 'generated') &&
      app.state.currentThumbprint;
    if (!attach) {
      await mailer.send(email);
      return;
    }
    const signer = await signerFromVault(app, {
      vaultFor: this.#dependencies.vaultFor,
      now: this.#dependencies.now(),
      missing: `The current certificate of app ${app.config.appId} is not in Key Vault`,
    });
    if (options.attachmentFormat === 'cer') {
      const name = `${safeFileName(app.config.displayName)}.cer`;
      await mailer.send({ ...email, attachments: [{ name, contentType: 'application/pkix-cert', content: encodeCer(signer.der) }] });
      return;
    }
    await this.#sendPfxPair(app, email, signer.der, signer.privateKey, facts.id);
  }

  /**
   * The PFX in one email and its password in a second, never together. Each pair gets operation ids
   * of its own: a PFX is encrypted under a fresh password every time, so a resent pair must be a
   * whole new pair (the email service drops a repeated Operation-Id, which would leave the admins a
   * PFX and a password that do not belong together).
   */
  async #sendPfxPair(app: StoredApp, email: EmailMessage, der: Buffer, privateKey: KeyObject, id: string): Promise<void> {
    const mailer = this.#dependencies.mailer!;
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
}

/** The facts of a renewal's notification about the app's current certificate. */
export function certificateFacts(
  app: StoredApp,
  kind: NotificationKind,
  message: Pick<RenewalMessage, 'renewalId' | 'trigger' | 'rotationId' | 'reason'>,
): NotificationFacts {
  const state = app.state;
  const progress = state.renewal?.id === message.renewalId ? state.renewal : undefined;
  const rotationId = message.rotationId ?? progress?.rotationId;
  return {
    kind,
    id: notificationId(kind, message.renewalId),
    appId: app.config.appId,
    displayName: app.config.displayName,
    thumbprint: state.currentThumbprint,
    keyId: state.keyId,
    notBefore: state.notBefore,
    notAfter: state.notAfter,
    keyVaultCertificateId: state.keyVaultId,
    keyVaultVersion: state.keyVaultVersion,
    trigger: message.trigger,
    ...(rotationId === undefined ? {} : { rotationId, reason: message.reason ?? progress?.reason }),
  };
}

/** The facts of a pending notification, for its retry. */
export function factsFromPending(app: StoredApp, pending: PendingNotification): NotificationFacts {
  // From the entry, not state.renewal: a later renewal may have replaced that since.
  const told = {
    ...(pending.trigger === undefined ? {} : { trigger: pending.trigger }),
    ...(pending.rotationId === undefined ? {} : { rotationId: pending.rotationId, reason: pending.reason }),
  };
  // A certificate a newer renewal has replaced since is told about from what was kept of it: the
  // app's current certificate is the newer one, not this renewal's.
  if ((pending.kind === 'renewed' || pending.kind === 'generated') && pending.renewalId !== undefined && !isSuperseded(app, pending)) {
    return {
      ...certificateFacts(app, pending.kind, { renewalId: pending.renewalId, trigger: app.state.renewal?.trigger ?? 'scheduled' }),
      id: pending.id,
      ...told,
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
    ...told,
  };
}

/**
 * The pending list after a round of sends: the retried entry goes (it succeeded, or comes back with
 * one more attempt), each failure replaces any entry with its id and channel.
 */
export function withPending(
  pending: readonly PendingNotification[],
  failures: readonly NotificationFailure[],
  retrying?: PendingNotification,
): PendingNotification[] {
  const key = (channel: string, id: string) => `${channel}:${id}`;
  const replaced = new Set(failures.map((failure) => key(failure.channel, failure.facts.id)));
  if (retrying) replaced.add(key(retrying.channel, retrying.id));
  const keep = pending.filter((entry) => !replaced.has(key(entry.channel, entry.id)));
  const added = failures.map<PendingNotification>(({ facts, channel, error }) => ({
    id: facts.id,
    channel,
    kind: facts.kind,
    renewalId: facts.kind === 'renewed' || facts.kind === 'generated' ? facts.id.slice(facts.kind.length + 1) : undefined,
    thumbprint: facts.thumbprint,
    keyId: facts.keyId,
    notAfter: facts.notAfter,
    error: facts.error,
    trigger: facts.trigger,
    rotationId: facts.rotationId,
    reason: facts.reason,
    attempts: (retrying?.channel === channel ? retrying.attempts : 0) + 1,
    lastError: error,
  }));
  return [...keep, ...added].slice(-50);
}
