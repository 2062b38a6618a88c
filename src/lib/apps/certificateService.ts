import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { encodeCer, encodePemBundle } from '../certificates/encode.js';
import { encodePfx } from '../certificates/pfx.js';
import { safeFileName } from '../certificates/safeFileName.js';
import { normalizeThumbprint } from '../certificates/thumbprints.js';
import type { Actor, PendingNotification, RenewalState } from '../domain/appConfig.js';
import type {
  AppCertificate,
  AppCredentials,
  CertificateGenerator,
  CertificateVault,
  DeployedCertificate,
  EventSink,
  Mailer,
} from '../domain/ports.js';
import { retryOnETagConflict } from '../domain/retryOnETagConflict.js';
import type { AppRepository, HistoryInput, StoredApp } from '../domain/storedApp.js';
import { ConflictError, NotFoundError, RetriableError } from '../errors.js';
import { takeAppLease } from '../renewal/appLease.js';
import { graphWriteModeFor } from '../renewal/graphWriteMode.js';
import { NotificationSender, withPending } from '../renewal/notificationSender.js';
import { notificationId } from '../renewal/notifications.js';
import type { AppCertificateView, CertificateList, GeneratedCertificate, privateKeyPlacementSchema } from './certificateViews.js';

/**
 * The certificate use cases of the HTTP API (docs/http-api.md): generate one now, list what the app
 * registration holds, download one (the public certificate from Graph, the key from Key Vault), and
 * remove one. Private keys pass through here in memory only, to the one response that asked for
 * them; nothing here logs, stores or emits them (history rows carry the thumbprint and the caller).
 */

export type KeyMaterialRequest = { readonly format: 'pfx'; readonly legacy: boolean } | { readonly format: 'pem' } | undefined;

export type DownloadFormat =
  | { readonly format: 'cer'; readonly encoding: 'der' | 'pem' }
  | { readonly format: 'pem' }
  /** `password`: the caller's own (an export); without it a fresh one is made and returned once. */
  | { readonly format: 'pfx'; readonly legacy: boolean; readonly password?: string };

export interface CertificateDownload {
  readonly thumbprint: string;
  readonly fileName: string;
  readonly contentType: string;
  readonly body: Buffer;
  /** A PFX's password and encryption; shown once, never stored. */
  readonly pfx?: { readonly password: string; readonly encryption: 'aes-256-cbc' | '3des-legacy' };
  /** True when the body holds a private key. */
  readonly containsPrivateKey: boolean;
}

/** A certificate named in a URL: by SHA-1 thumbprint or by Graph keyId. */
export type CertificateReference = { readonly thumbprint: string } | { readonly keyId: string };

export interface CertificateServiceDependencies {
  readonly store: Pick<AppRepository, 'getApp' | 'updateApp' | 'appendHistory' | 'markPendingNotifications'>;
  readonly renewals: CertificateGenerator;
  readonly credentials: Pick<AppCredentials, 'listCertificates' | 'removeCertificate'>;
  readonly vaultFor: (vaultUrl: string) => Pick<CertificateVault, 'getCertificateWithPrivateKey'>;
  readonly mailer?: Mailer;
  readonly events?: EventSink;
  /** How long a removal holds the app's lease (`RENEWAL_LEASE_SECONDS`): longer than one Graph write. */
  readonly leaseSeconds: number;
  readonly now?: () => Date;
}

const WRITE_ATTEMPTS = 5;

export class CertificateService {
  readonly #dependencies: CertificateServiceDependencies;
  readonly #notifications: NotificationSender;
  readonly #now: () => Date;

  constructor(dependencies: CertificateServiceDependencies) {
    this.#dependencies = dependencies;
    this.#now = dependencies.now ?? (() => new Date());
    this.#notifications = new NotificationSender({ ...dependencies, now: this.#now });
  }

  /**
   * POST /certificates: the deploy stage of the shared renewal use case, inline; the confirm stage
   * is queued by it. The key material goes into the result only when the caller asked for it.
   */
  async generate(appId: string, actor: Actor, include: KeyMaterialRequest): Promise<GeneratedCertificate> {
    const app = await this.#requireApp(appId);
    const deployed = await this.#dependencies.renewals.generate(app.config.appId, actor);
    const base = `/api/apps/${deployed.appId}`;
    const fileName = `${safeFileName(app.config.displayName)}-${deployed.thumbprint.slice(0, 8)}`;
    const result: GeneratedCertificate = {
      appId: deployed.appId,
      renewalId: deployed.renewalId,
      keyId: deployed.keyId,
      thumbprint: deployed.thumbprint,
      thumbprintSha256: deployed.thumbprintSha256,
      notBefore: deployed.notBefore.toISOString(),
      notAfter: deployed.notAfter.toISOString(),
      verification: 'pending',
      links: { app: base, history: `${base}/history`, certificate: `${base}/certificates/${deployed.thumbprint}?format=cer` },
      keyVault: deployed.keyVault ? { certificateId: deployed.keyVault.id, version: deployed.keyVault.version } : null,
      privateKey: placementOf(app, deployed, include !== undefined),
      // The generation works on a disabled app (an admin's own request), but nothing renews this one.
      ...(app.config.enabled
        ? {}
        : {
            notices: [
              {
                code: 'scheduled-renewal-disabled' as const,
                detail: `Certificate management is off for this app (enabled: false): the scheduler will not renew this certificate before it expires on ${deployed.notAfter.toISOString()}. Set enabled to true to have it renewed, or generate the next one by hand.`,
              },
            ],
          }),
    };
    const certificate = deployed.certificate;
    if (include === undefined) return result;
    if (!certificate?.privateKey) {
      // Only a retry that adopted an earlier attempt's credential lacks the key; a fresh generation never does.
      throw new ConflictError(
        `Certificate ${deployed.thumbprint} was deployed, but its private key is no longer in memory to return; ` +
          (deployed.keyVault ? `an Admin can download it from Key Vault with format=${include.format}` : 'it went out by email only'),
      );
    }
    if (include.format === 'pem') {
      return { ...result, pem: { fileName: `${fileName}.pem`, bundle: encodePemBundle(certificate.der, certificate.privateKey) } };
    }
    const { pfx, password } = await encodePfx(certificate.der, certificate.privateKey, {
      legacy: include.legacy,
      friendlyName: app.config.displayName,
    });
    return {
      ...result,
      pfx: {
        fileName: `${fileName}.pfx`,
        base64: pfx.toString('base64'),
        password,
        encryption: include.legacy ? '3des-legacy' : 'aes-256-cbc',
      },
    };
  }

  /** GET /certificates: every certificate on the app registration, read from Graph. */
  async list(appId: string): Promise<CertificateList> {
    const app = await this.#requireApp(appId);
    const certificates = await this.#dependencies.credentials.listCertificates(app.config.appId, {
      currentThumbprint: app.state.currentThumbprint,
    });
    return { appId: app.config.appId, items: certificates.map(toView) };
  }

  /**
   * GET /certificates/{id}: the public certificate from the app registration (any certificate on
   * it), or certificate and key from Key Vault. A key download is recorded in history before it is
   * handed out, so no key leaves without its audit row.
   */
  async download(appId: string, reference: CertificateReference, format: DownloadFormat, actor: Actor): Promise<CertificateDownload> {
    const app = await this.#requireApp(appId);
    const certificate = await this.#find(app, reference);
    const fileBase = `${safeFileName(app.config.displayName)}-${certificate.thumbprint.slice(0, 8)}`;
    if (format.format === 'cer') {
      if (!certificate.der) {
        throw new ConflictError(
          `Microsoft Graph returned certificate ${certificate.thumbprint} of app ${app.config.appId} without its public key; it cannot be downloaded`,
        );
      }
      return {
        thumbprint: certificate.thumbprint,
        fileName: `${fileBase}.${format.encoding === 'pem' ? 'pem' : 'cer'}`,
        contentType: format.encoding === 'pem' ? 'application/x-pem-file' : 'application/pkix-cert',
        body: encodeCer(certificate.der, format.encoding),
        containsPrivateKey: false,
      };
    }

    const { keyVault } = app.config;
    if (!keyVault.enabled) {
      throw new ConflictError(
        `Key Vault is disabled for app ${app.config.appId} (keyVault.enabled is false), so the rotator never stored the private key of certificate ${certificate.thumbprint}. ` +
          'Download the public certificate with format=cer, or generate a new certificate with POST …/certificates?include=pfx to receive one with its key.',
      );
    }
    let stored: Awaited<ReturnType<CertificateVault['getCertificateWithPrivateKey']>>;
    try {
      stored = await this.#dependencies.vaultFor(keyVault.vaultUrl).getCertificateWithPrivateKey(keyVault.certificateName, {
        thumbprint: certificate.thumbprint,
      });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      throw new ConflictError(
        `The private key of certificate ${certificate.thumbprint} is not in Key Vault (certificate '${keyVault.certificateName}' in ${keyVault.vaultUrl}): ` +
          `${certificate.managed ? 'it was created while Key Vault was disabled for this app, or its version was removed from the vault' : 'the rotator did not create this certificate'}. ` +
          'Only the public certificate (format=cer) can be downloaded.',
      );
    }
    // The file is made first (a password the PFX writer refuses fails here), then the audit row,
    // then the key leaves: no row for a download that did not happen, no key without its row.
    const download: CertificateDownload =
      format.format === 'pem'
        ? {
            thumbprint: certificate.thumbprint,
            fileName: `${fileBase}.pem`,
            contentType: 'application/x-pem-file',
            body: Buffer.from(encodePemBundle(stored.der, stored.privateKey), 'ascii'),
            containsPrivateKey: true,
          }
        : await this.#pfxDownload(certificate.thumbprint, fileBase, stored, format, app.config.displayName);
    const exported = format.format === 'pfx' && format.password !== undefined;
    await this.#dependencies.store.appendHistory(
      app.config.appId,
      {
        action: exported ? 'certificate.export.pfx' : `certificate.download.${format.format}`,
        trigger: 'api',
        outcome: 'succeeded',
        thumbprint: certificate.thumbprint,
      },
      actor,
    );
    return download;
  }

  async #pfxDownload(
    thumbprint: string,
    fileBase: string,
    stored: { der: Buffer; privateKey: KeyObject },
    format: Extract<DownloadFormat, { format: 'pfx' }>,
    friendlyName: string,
  ): Promise<CertificateDownload> {
    const { pfx, password } = await encodePfx(stored.der, stored.privateKey, {
      legacy: format.legacy,
      friendlyName,
      password: format.password,
    });
    return {
      thumbprint,
      fileName: `${fileBase}.pfx`,
      contentType: 'application/x-pkcs12',
      body: pfx,
      pfx: { password, encryption: format.legacy ? '3des-legacy' : 'aes-256-cbc' },
      containsPrivateKey: true,
    };
  }

  /**
   * DELETE /certificates/{id}: removes one credential from the app registration (managed or not: an
   * admin's explicit action), never the last valid one unless forced. It holds the app's renewal
   * lease meanwhile, because a Graph write is a read-modify-write of the whole collection: a renewal
   * writing at the same time could otherwise put the removed credential back or drop its new one.
   */
  async remove(appId: string, reference: CertificateReference, options: { force: boolean }, actor: Actor): Promise<AppCertificateView> {
    // A certificate the app registration does not have is a 404 before the lease is taken: a refused
    // request writes nothing, not even a lease taken and given back (found again under the lease).
    await this.#find(await this.#requireApp(appId), reference);
    const held = await this.#acquire(appId, `delete:${randomUUID()}`);
    let removed: AppCertificate | undefined;
    let pending: PendingNotification[] = [];
    try {
      const certificate = await this.#find(held.app, reference);
      await this.#dependencies.credentials.removeCertificate(held.app.config.appId, certificate.keyId, {
        force: options.force,
        mode: await graphWriteModeFor(held.app, {
          vaultFor: this.#dependencies.vaultFor,
          now: this.#now(),
          missing: `graphMode "self" removes credentials signed in as app ${held.app.config.appId} with its current certificate from Key Vault, and it has none; switch the app to graphMode "owner" to remove this one`,
        }),
      });
      removed = certificate;
      pending = await this.#notifyRemoved(held.app, certificate);
    } finally {
      await this.#release(
        held,
        (state) => (pending.length === 0 ? {} : { pendingNotifications: [...state.pendingNotifications, ...pending].slice(-50) }),
        removed && {
          action: options.force ? 'certificate.delete.forced' : 'certificate.delete',
          trigger: 'api',
          outcome: 'succeeded',
          thumbprint: removed.thumbprint,
        },
        actor,
      );
    }
    return toView(removed);
  }

  // --- helpers --------------------------------------------------------------------------------

  async #requireApp(appId: string): Promise<StoredApp> {
    const app = await this.#dependencies.store.getApp(appId);
    if (!app) throw notManaged(appId);
    return app;
  }

  async #find(app: StoredApp, reference: CertificateReference): Promise<AppCertificate> {
    const certificates = await this.#dependencies.credentials.listCertificates(app.config.appId, {
      currentThumbprint: app.state.currentThumbprint,
    });
    const found =
      'thumbprint' in reference
        ? certificates.find((c) => c.thumbprint === normalizeThumbprint(reference.thumbprint))
        : certificates.find((c) => c.keyId === reference.keyId.toLowerCase());
    if (!found) {
      const what = 'thumbprint' in reference ? `thumbprint ${normalizeThumbprint(reference.thumbprint)}` : `keyId ${reference.keyId}`;
      throw new NotFoundError(`The app registration of app ${app.config.appId} has no certificate with ${what}`);
    }
    return found;
  }

  /**
   * The CertificateRemoved event and email. A failure never fails the removal, which is done: it is
   * returned as pending, for the scheduler's retry of pending notifications.
   */
  async #notifyRemoved(app: StoredApp, certificate: AppCertificate): Promise<PendingNotification[]> {
    const failures = await this.#notifications.send(app, {
      kind: 'removed',
      id: notificationId('removed', `api:${certificate.keyId}`),
      appId: app.config.appId,
      displayName: app.config.displayName,
      thumbprint: certificate.thumbprint,
      keyId: certificate.keyId,
      notBefore: certificate.validFrom.toISOString(),
      notAfter: certificate.validUntil.toISOString(),
      trigger: 'api',
    });
    if (failures.length > 0) await this.#dependencies.store.markPendingNotifications(app.config.appId);
    return withPending([], failures);
  }

  async #acquire(appId: string, purpose: string): Promise<{ app: StoredApp; owner: string }> {
    try {
      return await takeAppLease(this.#dependencies.store, appId, {
        holder: purpose,
        leaseSeconds: this.#dependencies.leaseSeconds,
        now: this.#now,
      });
    } catch (error) {
      // The same answer as every other route for an app that is not managed.
      if (error instanceof NotFoundError) throw notManaged(appId);
      throw error;
    }
  }

  /** Drops the lease (if still ours) and records the outcome, re-reading on a concurrent write. */
  async #release(
    held: { app: StoredApp; owner: string },
    change: (state: RenewalState) => Partial<RenewalState>,
    history: HistoryInput | undefined,
    actor: Actor,
  ): Promise<void> {
    const { store } = this.#dependencies;
    await retryOnETagConflict(
      store,
      held.app.config.appId,
      async (current) => {
        if (!current) return;
        const ours = current.state.lease?.owner === held.owner;
        if (!ours && history === undefined) return;
        const state: RenewalState = { ...current.state, ...change(current.state) };
        if (ours) delete state.lease;
        await store.updateApp(current, { state, history, actor: history ? actor : undefined });
      },
      {
        attempts: WRITE_ATTEMPTS,
        first: held.app,
        exhausted: () => new RetriableError(`App ${held.app.config.appId} kept changing while the removal was recorded`),
      },
    );
  }
}

function notManaged(appId: string): NotFoundError {
  return new NotFoundError(`App ${appId} is not managed by the rotator; add it with PUT /api/apps/${appId} first`);
}

function toView(certificate: AppCertificate): AppCertificateView {
  return {
    keyId: certificate.keyId,
    displayName: certificate.displayName,
    thumbprint: certificate.thumbprint,
    thumbprintSha256: certificate.thumbprintSha256,
    validFrom: certificate.validFrom.toISOString(),
    validUntil: certificate.validUntil.toISOString(),
    status: certificate.status,
    managed: certificate.managed,
  };
}

/** Where the new key lives, in words a person cannot misread (docs/renewal.md: no copy is kept elsewhere). */
function placementOf(app: StoredApp, deployed: DeployedCertificate, inResponse: boolean): z.output<typeof privateKeyPlacementSchema> {
  const here = inResponse ? 'this response and ' : '';
  if (deployed.keyVault) {
    return {
      storedIn: ['key-vault'],
      notice:
        `The private key is stored in Key Vault (${deployed.keyVault.id}). ` +
        (inResponse ? 'The copy in this response is shown once. ' : '') +
        `An Admin can download it again with GET /api/apps/${deployed.appId}/certificates/${deployed.thumbprint}?format=pfx (or format=pem).`,
    };
  }
  const recipients = app.config.notifications.recipients.join(', ');
  return {
    storedIn: ['email'],
    notice:
      `Key Vault is disabled for this app: the private key exists only in ${here}the email sent to ${recipients || "the app's notification recipients"} ` +
      '(a PFX attachment, with its password in a separate email). The rotator keeps no copy and cannot show it again.',
  };
}
