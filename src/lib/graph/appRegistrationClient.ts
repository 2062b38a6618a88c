import type { Client } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import { certificateDer } from '../certificates/parseCertificate.js';
import { thumbprintsOf } from '../certificates/thumbprints.js';
import type { AppCertificate, AppRegistrationSummary, CertificateStatus, GraphWriteMode, NewCertificate } from '../domain/ports.js';
import { ConflictError, NotFoundError, PreconditionError, RetriableError } from '../errors.js';
import type { AppSession, AppSignIn } from './graphClient.js';
import { graphErrorCode, toRotatorError, type GraphOperation } from './graphErrors.js';
import { createProofOfPossession, type SigningCertificate } from './proofOfPossession.js';

/** Every credential the rotator adds carries this displayName prefix; it is how it recognises its own. */
export const MANAGED_DISPLAY_NAME_PREFIX = 'entra-cert-rotator';

export interface AddCertificateOptions {
  readonly certificate: NewCertificate;
  /**
   * The keyId to use, chosen by the caller so that a retry recognises its own work. Owner mode
   * honours it; in self mode Graph's addKey assigns the keyId, and the certificate's thumbprint is
   * what makes a retry recognise its work.
   */
  readonly keyId: string;
  readonly mode: GraphWriteMode;
}

export interface AddCertificateResult {
  readonly keyId: string;
  /** False when the certificate (or keyId) was already there: a retry of earlier work. */
  readonly added: boolean;
  /** keyIds of expired managed credentials removed to make room. */
  readonly removedToMakeRoom: readonly string[];
}

export interface AppRegistrationClientOptions {
  /** Signed in as the rotator (managed identity): every read, and owner-mode writes. */
  readonly graph: Client;
  /** Self mode's sign-in as the app with its current certificate. */
  readonly signInAsApp?: AppSignIn;
  readonly now?: () => Date;
}

const keyCredentialSchema = z.object({
  keyId: z.string(),
  type: z.string(),
  usage: z.string(),
  key: z.string().nullable().optional(),
  displayName: z.string().nullable().optional(),
  customKeyIdentifier: z.string().nullable().optional(),
  startDateTime: z.iso.datetime({ offset: true }),
  endDateTime: z.iso.datetime({ offset: true }),
});
type KeyCredential = z.infer<typeof keyCredentialSchema>;

const applicationSchema = z.object({
  id: z.string(),
  appId: z.string(),
  displayName: z.string().nullable(),
  keyCredentials: z.array(keyCredentialSchema),
});
type Application = z.infer<typeof applicationSchema>;
// Derived once: zod 4 compiles a parser for every schema object it builds, ~0.25 ms each time.
const applicationReadSchema = applicationSchema.partial({ keyCredentials: true });
const addKeyResultSchema = keyCredentialSchema.pick({ keyId: true });

const SELECT = 'id,appId,displayName,keyCredentials';

const isManaged = (c: { displayName?: string | null }) => (c.displayName ?? '').startsWith(MANAGED_DISPLAY_NAME_PREFIX);
const isCertificate = (c: KeyCredential) => c.type === 'AsymmetricX509Cert';

/** A displayName that marks the credential as ours and tells a person what it is. */
export function managedDisplayName(certificate: NewCertificate): string {
  return `${MANAGED_DISPLAY_NAME_PREFIX} (expires ${certificate.notAfter.toISOString().slice(0, 10)})`;
}

/**
 * The app registration's certificates, through Microsoft Graph: read with `$select=keyCredentials`
 * (the only read that returns each credential's `key`), written either by PATCH of the whole
 * collection (owner mode) or by addKey/removeKey signed in as the app itself (self mode).
 *
 * Graph has no ETag on applications, so a PATCH is a read-modify-write; the renewal lease on the app
 * (docs/renewal.md) is what keeps two rotator writers apart.
 */
export class AppRegistrationClient {
  readonly #graph: Client;
  readonly #signInAsApp: AppSignIn | undefined;
  readonly #now: () => Date;

  constructor(options: AppRegistrationClientOptions) {
    this.#graph = options.graph;
    this.#signInAsApp = options.signInAsApp;
    this.#now = options.now ?? (() => new Date());
  }

  async getApplication(appId: string): Promise<AppRegistrationSummary> {
    const app = await this.#read(appId, 'id,appId,displayName');
    return { appId: app.appId.toLowerCase(), objectId: app.id, displayName: app.displayName ?? '' };
  }

  async listCertificates(appId: string, options: { currentThumbprint?: string } = {}): Promise<AppCertificate[]> {
    const app = await this.#read(appId);
    return this.#describe(app.keyCredentials, options.currentThumbprint);
  }

  /** Adds the certificate and keeps every existing credential; idempotent by keyId and thumbprint. */
  async addCertificate(appId: string, options: AddCertificateOptions): Promise<AddCertificateResult> {
    const app = await this.#read(appId);
    const thumbprint = thumbprintsOf(options.certificate.der).sha1;
    const already = this.#describe(app.keyCredentials).find((c) => c.keyId === options.keyId.toLowerCase() || c.thumbprint === thumbprint);
    if (already) return { keyId: already.keyId, added: false, removedToMakeRoom: [] };
    return options.mode.graphMode === 'owner'
      ? this.#addByPatch(app, options)
      : this.#addBySelf(app, options.certificate, options.mode.signer);
  }

  /**
   * Removes the expired credentials this rotator added, and returns them (for the removal events).
   * Never one it did not add, and never a valid one, so the last valid credential always stays.
   */
  async removeExpiredManagedCertificates(appId: string, mode: GraphWriteMode): Promise<AppCertificate[]> {
    const app = await this.#read(appId);
    const expired = this.#describe(app.keyCredentials).filter((c) => c.managed && c.status === 'expired');
    if (expired.length === 0) return [];
    await this.#remove(
      app,
      expired.map((c) => c.keyId),
      mode,
    );
    return expired;
  }

  /**
   * Removes one credential, managed or not (an admin's explicit action). The last valid certificate
   * stays unless `force` is set.
   */
  async removeCertificate(appId: string, keyId: string, options: { force?: boolean; mode: GraphWriteMode }): Promise<void> {
    const app = await this.#read(appId);
    const id = keyId.toLowerCase();
    const certificates = this.#describe(app.keyCredentials);
    const target = app.keyCredentials.find((c) => c.keyId.toLowerCase() === id);
    if (!target) throw new NotFoundError(`App ${appId} has no credential with keyId ${keyId}.`);
    const targetCertificate = certificates.find((c) => c.keyId === id);
    const usable = (s: CertificateStatus | undefined) => s === 'current' || s === 'valid';
    if (!options.force && usable(targetCertificate?.status) && certificates.filter((c) => usable(c.status)).length === 1) {
      throw new ConflictError(
        `Credential ${keyId} is the last valid certificate of app ${appId}; removing it would lock the app out. Use force=true to remove it anyway.`,
      );
    }
    await this.#remove(app, [id], options.mode);
  }

  #describe(credentials: readonly KeyCredential[], currentThumbprint?: string): AppCertificate[] {
    const now = this.#now().getTime();
    const rows = credentials.filter(isCertificate).map((credential) => {
      // Some tools upload base64 of a PEM file as the key: certificateDer turns that into DER (for
      // DER, a one-byte check). Then hashes, not a parse: Graph checked the certificate when it was added.
      const der = credential.key ? certificateDer(Buffer.from(credential.key, 'base64')) : undefined;
      const thumbprints = der ? thumbprintsOf(der) : undefined;
      // Without the key, Graph's customKeyIdentifier carries the SHA-1 thumbprint bytes.
      const thumbprint =
        thumbprints?.sha1 ??
        Buffer.from(credential.customKeyIdentifier ?? '', 'base64')
          .toString('hex')
          .toUpperCase();
      const validFrom = new Date(credential.startDateTime);
      const validUntil = new Date(credential.endDateTime);
      const status: CertificateStatus = validUntil.getTime() <= now ? 'expired' : validFrom.getTime() > now ? 'not yet valid' : 'valid';
      return {
        keyId: credential.keyId.toLowerCase(),
        displayName: credential.displayName ?? null,
        thumbprint,
        thumbprintSha256: thumbprints?.sha256,
        validFrom,
        validUntil,
        status,
        managed: isManaged(credential),
        der,
      };
    });
    const valid = rows.filter((r) => r.status === 'valid');
    // The current certificate: the one the stored state names, else the newest valid one.
    const current =
      valid.find((r) => currentThumbprint !== undefined && r.thumbprint === currentThumbprint.toUpperCase()) ??
      valid.reduce<(typeof rows)[number] | undefined>((best, r) => (!best || r.validFrom > best.validFrom ? r : best), undefined);
    return rows.map((r) => (r === current ? { ...r, status: 'current' as const } : r));
  }

  #expiredManaged(app: Application): string[] {
    return this.#describe(app.keyCredentials)
      .filter((c) => c.managed && c.status === 'expired')
      .map((c) => c.keyId);
  }

  async #read(appId: string, select: string = SELECT): Promise<Application> {
    const raw: unknown = await this.#call(appId, 'read', () =>
      this.#graph
        .api(`/applications(appId='${encodeURIComponent(appId)}')`)
        .select(select)
        .get(),
    );
    const parsed = applicationReadSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`Microsoft Graph returned an application this client cannot read: ${parsed.error.message}`);
    return { ...parsed.data, keyCredentials: parsed.data.keyCredentials ?? [] };
  }

  async #call<T>(appId: string, operation: GraphOperation, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw toRotatorError(error, { appId, operation });
    }
  }

  /** Owner mode: PATCH the whole collection, resending every existing credential with its key. */
  async #addByPatch(app: Application, options: AddCertificateOptions): Promise<AddCertificateResult> {
    const added = {
      keyId: options.keyId.toLowerCase(),
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
      key: options.certificate.der.toString('base64'),
      displayName: managedDisplayName(options.certificate),
      // Graph requires start and end within the certificate's validity; equal to it is the widest.
      startDateTime: options.certificate.notBefore.toISOString(),
      endDateTime: options.certificate.notAfter.toISOString(),
    };
    const missingKey = app.keyCredentials.find((c) => !c.key);
    if (missingKey) {
      // Resending a credential without its key would fail (or, worse, drop it); never write then.
      throw new Error(
        `Graph returned keyCredential ${missingKey.keyId} of app ${app.appId} without its key; refusing to rewrite the collection.`,
      );
    }
    const patch = (credentials: KeyCredential[]) =>
      this.#graph.api(`/applications/${app.id}`).patch({ keyCredentials: [...credentials.map(resend), added] }) as Promise<unknown>;
    try {
      await patch(app.keyCredentials);
      return { keyId: added.keyId, added: true, removedToMakeRoom: [] };
    } catch (error) {
      const expired = new Set(this.#expiredManaged(app));
      if (graphErrorCode(error) !== 'Directory_ResourceSizeExceeded' || expired.size === 0)
        throw toRotatorError(error, { appId: app.appId, operation: 'write' });
      // One PATCH both drops the expired managed credentials and adds the new one.
      await this.#call(app.appId, 'write', () => patch(app.keyCredentials.filter((c) => !expired.has(c.keyId.toLowerCase()))));
      return { keyId: added.keyId, added: true, removedToMakeRoom: [...expired] };
    }
  }

  /** Self mode: addKey signed in as the app, with a proof from its current certificate. */
  async #addBySelf(app: Application, certificate: NewCertificate, signer: SigningCertificate): Promise<AddCertificateResult> {
    const session = await this.#selfSession(app, signer);
    const addKey = async (): Promise<unknown> =>
      session.graph.api(`/applications/${app.id}/addKey`).post({
        keyCredential: {
          type: 'AsymmetricX509Cert',
          usage: 'Verify',
          key: certificate.der.toString('base64'),
          displayName: managedDisplayName(certificate),
          startDateTime: certificate.notBefore.toISOString(),
          endDateTime: certificate.notAfter.toISOString(),
        },
        passwordCredential: null,
        proof: await createProofOfPossession(app.id, signer, this.#now()),
      });
    let result: unknown;
    let removed: string[] = [];
    try {
      result = await addKey();
    } catch (error) {
      removed = this.#expiredManaged(app);
      if (graphErrorCode(error) !== 'Directory_ResourceSizeExceeded' || removed.length === 0)
        throw toRotatorError(error, { appId: app.appId, operation: 'roll-key' });
      await this.#removeBySelf(app, removed, session, signer);
      result = await this.#call(app.appId, 'roll-key', addKey);
    }
    const parsed = addKeyResultSchema.safeParse(result);
    if (!parsed.success) throw new Error(`Microsoft Graph's addKey answer has no keyId: ${parsed.error.message}`);
    return { keyId: parsed.data.keyId.toLowerCase(), added: true, removedToMakeRoom: removed };
  }

  async #remove(app: Application, keyIds: readonly string[], mode: GraphWriteMode): Promise<void> {
    const doomed = new Set(keyIds);
    if (mode.graphMode === 'owner') {
      const keep = app.keyCredentials.filter((c) => !doomed.has(c.keyId.toLowerCase()));
      if (keep.some((c) => !c.key))
        throw new Error(`Graph returned a keyCredential of app ${app.appId} without its key; refusing to rewrite the collection.`);
      await this.#call(app.appId, 'write', () => this.#graph.api(`/applications/${app.id}`).patch({ keyCredentials: keep.map(resend) }));
      return;
    }
    await this.#removeBySelf(app, keyIds, await this.#selfSession(app, mode.signer), mode.signer);
  }

  async #removeBySelf(app: Application, keyIds: readonly string[], session: AppSession, signer: SigningCertificate) {
    for (const keyId of keyIds) {
      await this.#call(app.appId, 'roll-key', async (): Promise<unknown> =>
        session.graph
          .api(`/applications/${app.id}/removeKey`)
          .post({ keyId, proof: await createProofOfPossession(app.id, signer, this.#now()) }),
      );
    }
  }

  /**
   * Signs in as the app with the certificate from Key Vault. It must be on the app registration and
   * valid now: self mode has no PATCH fallback, by design (docs/configuration.md).
   */
  async #selfSession(app: Application, signer: SigningCertificate): Promise<AppSession> {
    if (!this.#signInAsApp) throw new Error('Self mode is not configured: the AppRegistrationClient was built without signInAsApp.');
    const thumbprint = thumbprintsOf(signer.der).sha1;
    const onApp = this.#describe(app.keyCredentials).find((c) => c.thumbprint === thumbprint);
    if (!onApp || (onApp.status !== 'current' && onApp.status !== 'valid')) {
      const why = !onApp
        ? 'is not on the app registration'
        : `is ${onApp.status} (valid ${onApp.validFrom.toISOString()} to ${onApp.validUntil.toISOString()})`;
      throw new PreconditionError(
        `Self mode for app ${app.appId} needs a valid managed certificate in Key Vault to sign in with, but the certificate ${thumbprint} ${why}. Create a certificate in owner mode (or have an admin upload one to the app and Key Vault), then retry; self mode never falls back to PATCH.`,
      );
    }
    const session = this.#signInAsApp(app.appId, signer);
    try {
      await session.credential.getToken(session.scope);
    } catch (error) {
      const message = (error as Error).message;
      // Our own check just found the certificate on the app and valid, so a refusal now is Entra's replication lag.
      if (/AADSTS700027/.test(message)) {
        throw new RetriableError(
          `Entra did not yet accept certificate ${thumbprint} of app ${app.appId} for sign-in (propagation): ${message.split('\n')[0]}`,
          { cause: error },
        );
      }
      if (/AADSTS\d+/.test(message)) {
        throw new PreconditionError(`Signing in as app ${app.appId} with its certificate ${thumbprint} failed: ${message.split('\n')[0]}`);
      }
      throw new RetriableError(`Signing in as app ${app.appId} failed: ${message.split('\n')[0]}`, { cause: error });
    }
    return session;
  }
}

function resend(credential: KeyCredential) {
  return {
    keyId: credential.keyId,
    type: credential.type,
    usage: credential.usage,
    key: credential.key,
    displayName: credential.displayName ?? null,
    startDateTime: credential.startDateTime,
    endDateTime: credential.endDateTime,
  };
}
