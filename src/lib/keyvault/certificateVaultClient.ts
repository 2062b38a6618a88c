import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { CertificateClient, CertificateProperties } from '@azure/keyvault-certificates';
import type { SecretClient } from '@azure/keyvault-secrets';
import { z } from 'zod';
import { toRotatorError, withDeadline, type AzureCallContext } from '../azureErrors.js';
import { thumbprintsOf, normalizeThumbprint } from '../certificates/thumbprints.js';
import { PfxReadError, readPfx } from '../certificates/readPfx.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';

/**
 * The Key Vault adapter: every certificate the rotator makes is imported as a new version of one
 * Key Vault certificate per app, and downloads of the private key read the certificate's secret.
 *
 * Imports send a PFX (base64) because @azure/keyvault-certificates 4.10's importCertificate does not
 * send the policy, and without its contentType Key Vault reads every import as PKCS#12.
 */

export interface VaultCertificateVersion {
  readonly name: string;
  readonly version: string;
  /** `{vault}/certificates/{name}/{version}` */
  readonly id: string;
  readonly vaultUrl: string;
  /** SHA-1 thumbprint, upper-case hex (what Entra shows). */
  readonly thumbprint: string;
  /** SHA-1 thumbprint, base64url (Key Vault's `x5t`). */
  readonly x5t: string;
  readonly notBefore: Date | undefined;
  readonly notAfter: Date | undefined;
  readonly createdOn: Date | undefined;
  readonly enabled: boolean;
  readonly tags: Readonly<Record<string, string>>;
}

export interface VaultCertificateWithKey {
  readonly certificate: VaultCertificateVersion;
  /** The DER X.509 certificate. */
  readonly der: Buffer;
  /** Kept as a KeyObject so that it is never serialised by accident; encode it for a download only. */
  readonly privateKey: KeyObject;
}

export interface ImportCertificateInput {
  /** PKCS#12 bytes holding the certificate and its private key. */
  readonly pfx: Buffer;
  readonly password: string;
  /** At most 15 tags (Key Vault's limit); used to recognise an earlier import on retry. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Key Vault object names: 1-127 letters, digits and hyphens. */
export const certificateNameSchema = z.string().regex(/^[0-9a-zA-Z-]{1,127}$/, 'must be 1-127 letters, digits and hyphens');
const tagsSchema = z
  .record(z.string().min(1).max(512), z.string().max(256))
  .refine((t) => Object.keys(t).length <= 15, { message: 'Key Vault allows at most 15 tags' });

const DEFAULT_TIMEOUT_MS = 60_000;
const ROLE_CERTIFICATES = 'Key Vault Certificates Officer';
const ROLE_SECRETS = 'Key Vault Certificate User';

function checkName(name: string): void {
  const parsed = certificateNameSchema.safeParse(name);
  if (!parsed.success) throw ValidationError.forField('keyVault.certificateName', parsed.error.issues[0]!.message);
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && error.name === 'RestError' && (error as { statusCode?: number }).statusCode === 404;
}

export interface CertificateVaultClientOptions {
  /**
   * Deadline of one call, the SDK's retries included (default 60 s): a renewal holds its app's lease
   * while it waits, so a hung vault must become a RetriableError rather than an endless wait.
   */
  readonly timeoutInMs?: number;
}

export class CertificateVaultClient {
  readonly #certificates: CertificateClient;
  readonly #secrets: SecretClient;
  readonly #options: CertificateVaultClientOptions;
  constructor(certificates: CertificateClient, secrets: SecretClient, options: CertificateVaultClientOptions = {}) {
    this.#certificates = certificates;
    this.#secrets = secrets;
    this.#options = options;
  }

  #withDeadline<T>(call: (options: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    return withDeadline(this.#options.timeoutInMs ?? DEFAULT_TIMEOUT_MS, (abortSignal) => call({ abortSignal }));
  }

  get vaultUrl(): string {
    return this.#certificates.vaultUrl;
  }

  #context(operation: string, roleToGrant = ROLE_CERTIFICATES, field?: string): AzureCallContext {
    return { operation, roleToGrant, scope: `the key vault ${this.vaultUrl}`, field };
  }

  /** Imports the PFX as a new version of `name` and returns that version. */
  async importCertificate(name: string, input: ImportCertificateInput): Promise<VaultCertificateVersion> {
    checkName(name);
    const tags = tagsSchema.safeParse(input.tags ?? {});
    if (!tags.success) throw ValidationError.forField('tags', tags.error.issues[0]!.message);
    try {
      const imported = await this.#withDeadline((o) =>
        this.#certificates.importCertificate(name, input.pfx, { password: input.password, tags: tags.data, ...o }),
      );
      return toVersion(imported.properties, name, imported.cer);
    } catch (error) {
      throw toRotatorError(error, this.#context(`Importing certificate '${name}' into ${this.vaultUrl}`, ROLE_CERTIFICATES, 'pfx'));
    }
  }

  /** The current version, or undefined when the vault has no certificate of that name. */
  async getLatest(name: string): Promise<VaultCertificateVersion | undefined> {
    checkName(name);
    try {
      const certificate = await this.#withDeadline((o) => this.#certificates.getCertificate(name, o));
      return toVersion(certificate.properties, name, certificate.cer);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toRotatorError(error, this.#context(`Reading certificate '${name}' from ${this.vaultUrl}`));
    }
  }

  /** One version, or undefined when it does not exist. */
  async getVersion(name: string, version: string): Promise<VaultCertificateVersion | undefined> {
    checkName(name);
    if (!/^[0-9a-f]{32}$/i.test(version)) return undefined;
    try {
      const certificate = await this.#withDeadline((o) => this.#certificates.getCertificateVersion(name, version, o));
      return toVersion(certificate.properties, name, certificate.cer);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toRotatorError(error, this.#context(`Reading version ${version} of certificate '${name}' from ${this.vaultUrl}`));
    }
  }

  /** Every version, oldest first; empty when the certificate does not exist. */
  async listVersions(name: string): Promise<VaultCertificateVersion[]> {
    checkName(name);
    const versions: VaultCertificateVersion[] = [];
    try {
      await this.#withDeadline(async (options) => {
        for await (const properties of this.#certificates.listPropertiesOfCertificateVersions(name, options)) {
          versions.push(toVersion(properties, name, undefined));
        }
      });
    } catch (error) {
      if (isNotFound(error)) return [];
      throw toRotatorError(error, this.#context(`Listing versions of certificate '${name}' in ${this.vaultUrl}`));
    }
    return versions.sort((a, b) => (a.createdOn?.getTime() ?? 0) - (b.createdOn?.getTime() ?? 0));
  }

  /**
   * The newest version whose tag `tag` equals `value`: a retried renewal finds the import it made
   * before a crash (tagged with the renewal's id) instead of importing a second one.
   */
  async findVersionByTag(name: string, tag: string, value: string): Promise<VaultCertificateVersion | undefined> {
    const versions = await this.listVersions(name);
    return versions.filter((v) => v.tags[tag] === value).at(-1);
  }

  /**
   * The certificate with its private key, read from the certificate's secret (the only way Key
   * Vault hands out the key), chosen by version or by SHA-1 thumbprint. NotFoundError when there is
   * no such version; ConflictError when the vault holds the certificate without an exportable key.
   */
  async getCertificateWithPrivateKey(name: string, which: { version: string } | { thumbprint: string }): Promise<VaultCertificateWithKey> {
    checkName(name);
    // By version, the certificate's secret alone answers (it holds the certificate and its key, and
    // its id names the version): one round trip, the renewal's confirm stage's only Key Vault read.
    // By thumbprint, the versions are listed first to find which one it is.
    let certificate: VaultCertificateVersion | undefined;
    let version: string;
    if ('version' in which) {
      version = which.version;
    } else {
      const thumbprint = normalizeThumbprint(which.thumbprint);
      certificate = (await this.listVersions(name)).filter((v) => v.thumbprint === thumbprint).at(-1);
      if (!certificate) throw new NotFoundError(`Key Vault ${this.vaultUrl} has no thumbprint ${thumbprint} of certificate '${name}'`);
      version = certificate.version;
    }
    const describe = () => certificate ?? { name, thumbprint: `of version ${version}` };
    let secret;
    try {
      secret = await this.#withDeadline((o) => this.#secrets.getSecret(name, { version, ...o }));
    } catch (error) {
      if (isNotFound(error)) {
        // Only now is it worth a second read: no such version, or a version without its key?
        certificate ??= await this.getVersion(name, version);
        if (!certificate) throw new NotFoundError(`Key Vault ${this.vaultUrl} has no version ${version} of certificate '${name}'`);
        throw noKey(describe(), 'its secret does not exist');
      }
      throw toRotatorError(error, this.#context(`Reading the private key of certificate '${name}' from ${this.vaultUrl}`, ROLE_SECRETS));
    }
    const value = secret.value;
    if (value === undefined || value === '') throw noKey(describe(), 'its secret is empty');
    const contentType = secret.properties.contentType;
    const parsed =
      contentType === 'application/x-pem-file'
        ? (readPem(value) ?? 'its PEM cannot be read')
        : contentType === 'application/x-pkcs12'
          ? readSecretPfx(value)
          : `its secret has content type '${contentType ?? ''}'`;
    if (typeof parsed === 'string') throw noKey(describe(), parsed);
    if (!parsed.privateKey) throw noKey(describe(), 'its key is not exportable');
    const x509 = new X509Certificate(parsed.der);
    const thumbprints = thumbprintsOf(parsed.der);
    if ((certificate && thumbprints.sha1 !== certificate.thumbprint) || !x509.checkPrivateKey(parsed.privateKey)) {
      throw noKey(describe(), 'its secret holds a different certificate');
    }
    certificate ??= {
      name,
      version,
      id: `${this.vaultUrl.replace(/\/+$/, '')}/certificates/${name}/${version}`,
      vaultUrl: this.vaultUrl,
      thumbprint: thumbprints.sha1,
      x5t: thumbprints.x5t,
      notBefore: x509.validFromDate,
      notAfter: x509.validToDate,
      createdOn: secret.properties.createdOn,
      enabled: secret.properties.enabled ?? true,
      tags: secret.properties.tags ?? {},
    };
    return { certificate, der: parsed.der, privateKey: parsed.privateKey };
  }
}

function noKey(certificate: Pick<VaultCertificateVersion, 'name' | 'thumbprint'>, why: string): ConflictError {
  return new ConflictError(
    `The private key of certificate '${certificate.name}' (thumbprint ${certificate.thumbprint}) is not available from Key Vault: ${why}. ` +
      'Only the public certificate (cer) can be downloaded; generate a new certificate to get one with a downloadable key.',
  );
}

function toVersion(properties: CertificateProperties, name: string, cer: Uint8Array | undefined): VaultCertificateVersion {
  const x5tBytes = properties.x509Thumbprint ?? (cer ? Buffer.from(thumbprintsOf(cer).sha1, 'hex') : undefined);
  if (!x5tBytes || !properties.version || !properties.id) {
    throw new Error(`Key Vault returned certificate '${name}' without id, version or x5t`);
  }
  const sha1 = Buffer.from(x5tBytes);
  return {
    name: properties.name ?? name,
    version: properties.version,
    id: properties.id,
    vaultUrl: properties.vaultUrl ?? '',
    thumbprint: sha1.toString('hex').toUpperCase(),
    x5t: sha1.toString('base64url'),
    notBefore: properties.notBefore,
    notAfter: properties.expiresOn,
    createdOn: properties.createdOn,
    enabled: properties.enabled ?? true,
    tags: { ...(properties.tags ?? {}) },
  };
}

interface ParsedSecret {
  readonly der: Buffer;
  readonly privateKey: KeyObject | undefined;
}

/** Key Vault serves an imported certificate's secret as a PFX under the empty password. */
function readSecretPfx(base64: string): ParsedSecret | string {
  try {
    const { certificate, privateKey } = readPfx(Buffer.from(base64, 'base64'), '');
    return { der: certificate, privateKey };
  } catch (error) {
    if (error instanceof PfxReadError) return `its PFX cannot be read (${error.reason})`;
    throw error;
  }
}

function readPem(pem: string): ParsedSecret | undefined {
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!certificate) return undefined;
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(pem)?.[0];
  try {
    return { der: new X509Certificate(certificate).raw, privateKey: key ? createPrivateKey(key) : undefined };
  } catch {
    return undefined;
  }
}
