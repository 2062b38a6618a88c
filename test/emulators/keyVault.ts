import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { thumbprintsOf } from '../../src/lib/certificates/thumbprints.js';
import { audiencesFor, bearerTokenOf, type BearerVerifier } from './bearerAuth.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, type EmulatorTlsOptions } from './emulatorServer.js';
import { certificateAttributes, certificateBundle, certificateItem, certificateSecretValue } from './keyVaultBundles.js';
import { parseImport } from './keyVaultImport.js';
import { grantedByAzureRbac, rolesGrant, type AzureRoleAssignments, type KeyVaultDataAction, type KeyVaultRole } from './keyVaultRbac.js';

/**
 * Loopback emulator of the Azure Key Vault data plane, the part @azure/keyvault-certificates 4.10
 * and @azure/keyvault-secrets 4.12 use for imported certificates. It follows:
 * - Import Certificate (a new version per import; the body's checks: keyVaultImport.ts)
 * - Get Certificate / Get Certificate Versions and Get Secret (the certificate's addressable secret,
 *   holding the key): keyVaultBundles.ts
 * - Challenge-based auth: https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses
 *   (401 + `WWW-Authenticate: Bearer authorization="{authority}/{tenant}", resource="https://vault.azure.net"`)
 * - RBAC data actions of the built-in roles: keyVaultRbac.ts
 * Error bodies are Key Vault's `{ error: { code, message } }` with the messages the service writes.
 */

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

export interface KeyVaultEmulatorOptions {
  readonly tls: EmulatorTlsOptions;
  /** The vault's tenant: named in the challenge, and required as the token's `tid`. */
  readonly tenantId: string;
  /** Named in the challenge (`authorization="{authorityHost}/{tenantId}"`); the authority emulator's URL. */
  readonly authorityHost: string;
  readonly verifyToken: BearerVerifier;
  /**
   * RBAC on: only principals (token `oid`) given a role with `assignRole` may act. Off (the default):
   * any valid token of the vault's tenant may do everything.
   */
  readonly rbac?: boolean;
  /**
   * Azure role assignments (the ARM emulator's) that also grant data actions: at the vault's scope
   * or above, or at one object's, `{vaultResourceId}/secrets/{name}` or `/certificates/{name}`, as
   * Key Vault's RBAC allows them (https://learn.microsoft.com/azure/key-vault/general/rbac-guide,
   * "Secret, key, and certificate scope role assignment").
   */
  readonly roleAssignments?: AzureRoleAssignments;
  /** Page size of list operations (Key Vault's default and maximum is 25). */
  readonly pageSize?: number;
  readonly now?: () => Date;
}

export interface StoredCertificateVersion {
  readonly name: string;
  readonly version: string;
  readonly der: Buffer;
  readonly privateKey: KeyObject;
  /** SHA-1 thumbprint, upper-case hex. */
  readonly thumbprint: string;
  readonly x5t: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly contentType: 'application/x-pkcs12' | 'application/x-pem-file';
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly created: Date;
}

/** The vault's certificates (keys as PKCS#8 PEM) and role assignments as JSON: the sandbox's state file. */
export interface KeyVaultEmulatorSnapshot {
  readonly certificates: readonly (Omit<StoredCertificateVersion, 'der' | 'privateKey' | 'notBefore' | 'notAfter' | 'created'> & {
    readonly der: string;
    readonly privateKeyPem: string;
    readonly notBefore: string;
    readonly notAfter: string;
    readonly created: string;
  })[];
  readonly roleAssignments: readonly { readonly principalId: string; readonly roles: readonly KeyVaultRole[] }[];
}

interface ApiError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Record<string, string>;
  readonly innererror?: { code: string };
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const NOT_FOUND_HELP =
  'If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

const error = (e: ApiError): EmulatorResponse => ({
  status: e.status,
  headers: e.headers ?? {},
  body: { error: { code: e.code, message: e.message, ...(e.innererror ? { innererror: e.innererror } : {}) } },
});
const badParameter = (message: string): EmulatorResponse => error({ status: 400, code: 'BadParameter', message });

export class KeyVaultEmulator {
  readonly server: EmulatorServer;
  readonly #certificatesByName = new Map<string, StoredCertificateVersion[]>();
  readonly #secretValues = new WeakMap<StoredCertificateVersion, Promise<string>>();
  readonly #roleAssignments = new Map<string, Set<KeyVaultRole>>();
  readonly #now: () => Date;

  readonly #options: KeyVaultEmulatorOptions;

  constructor(options: KeyVaultEmulatorOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.server = new EmulatorServer('key-vault', options.tls);
    // Fixed segments before `:version`, so `versions` and `import` are never read as a version id.
    this.server
      .route('POST', '/certificates/:name/import', 'importCertificate', (r) =>
        this.#authorized(r, 'Microsoft.KeyVault/vaults/certificates/import/action', () => this.#importCertificate(r)),
      )
      .route('GET', '/certificates/:name/versions', 'listCertificateVersions', (r) =>
        this.#authorized(r, 'Microsoft.KeyVault/vaults/certificates/read', () => this.#listVersions(r)),
      )
      .route('GET', '/certificates/:name', 'getCertificate', (r) =>
        this.#authorized(r, 'Microsoft.KeyVault/vaults/certificates/read', () => this.#getCertificate(r)),
      )
      .route('GET', '/certificates/:name/:version', 'getCertificate', (r) =>
        this.#authorized(r, 'Microsoft.KeyVault/vaults/certificates/read', () => this.#getCertificate(r)),
      )
      .route('GET', '/secrets/:name', 'getSecret', (r) =>
        this.#authorized(r, 'Microsoft.KeyVault/vaults/secrets/getSecret/action', () => this.#getSecret(r)),
      )
      .route('GET', '/secrets/:name/:version', 'getSecret', (r) =>
        this.#authorized(r, 'Microsoft.KeyVault/vaults/secrets/getSecret/action', () => this.#getSecret(r)),
      );
  }

  start(port?: number): Promise<string> {
    return this.server.start(port);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** The vault URL as Key Vault ids carry it: the origin with a trailing slash. */
  get vaultUrl(): string {
    return `${this.server.url}/`;
  }

  assignRole(principalId: string, role: KeyVaultRole): void {
    const roles = this.#roleAssignments.get(principalId) ?? new Set<KeyVaultRole>();
    roles.add(role);
    this.#roleAssignments.set(principalId, roles);
  }

  removeRole(principalId: string, role: KeyVaultRole): void {
    this.#roleAssignments.get(principalId)?.delete(role);
  }

  /**
   * Adds a version directly (as an import would, without its checks: a backdated certificate is
   * fine), for the sandbox's demo data.
   */
  seedCertificate(
    name: string,
    certificate: { der: Buffer; privateKey: KeyObject; tags?: Record<string, string> },
  ): StoredCertificateVersion {
    const x509 = new X509Certificate(certificate.der);
    const { sha1, x5t } = thumbprintsOf(certificate.der);
    const key = name.toLowerCase();
    const stored: StoredCertificateVersion = {
      name: this.#certificatesByName.get(key)?.[0]?.name ?? name,
      version: randomBytes(16).toString('hex'),
      der: Buffer.from(certificate.der),
      privateKey: certificate.privateKey,
      thumbprint: sha1,
      x5t,
      tags: { ...certificate.tags },
      contentType: 'application/x-pkcs12',
      notBefore: x509.validFromDate,
      notAfter: x509.validToDate,
      created: this.#now(),
    };
    this.#certificatesByName.set(key, [...(this.#certificatesByName.get(key) ?? []), stored]);
    return stored;
  }

  snapshot(): KeyVaultEmulatorSnapshot {
    return {
      certificates: [...this.#certificatesByName.values()].flat().map((v) => ({
        ...v,
        tags: { ...v.tags },
        der: v.der.toString('base64'),
        privateKeyPem: v.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        notBefore: v.notBefore.toISOString(),
        notAfter: v.notAfter.toISOString(),
        created: v.created.toISOString(),
      })),
      roleAssignments: [...this.#roleAssignments].map(([principalId, roles]) => ({ principalId, roles: [...roles] })),
    };
  }

  /** Replaces every certificate version and role assignment with a snapshot's. */
  restore(snapshot: KeyVaultEmulatorSnapshot): void {
    this.#certificatesByName.clear();
    for (const { privateKeyPem, ...v } of snapshot.certificates) {
      const key = v.name.toLowerCase();
      const stored: StoredCertificateVersion = {
        ...v,
        der: Buffer.from(v.der, 'base64'),
        privateKey: createPrivateKey(privateKeyPem),
        notBefore: new Date(v.notBefore),
        notAfter: new Date(v.notAfter),
        created: new Date(v.created),
      };
      this.#certificatesByName.set(key, [...(this.#certificatesByName.get(key) ?? []), stored]);
    }
    this.#roleAssignments.clear();
    for (const { principalId, roles } of snapshot.roleAssignments) this.#roleAssignments.set(principalId, new Set(roles));
  }

  /** Names of the certificates in the vault. */
  certificateNames(): string[] {
    return [...this.#certificatesByName.keys()];
  }

  /** Every version of a certificate, oldest first. */
  versions(name: string): readonly StoredCertificateVersion[] {
    return [...(this.#certificatesByName.get(name.toLowerCase()) ?? [])];
  }

  latest(name: string): StoredCertificateVersion | undefined {
    return this.versions(name).at(-1);
  }

  async #authorized(
    request: EmulatorRequest,
    action: KeyVaultDataAction,
    serve: () => EmulatorResponse | Promise<EmulatorResponse>,
  ): Promise<EmulatorResponse> {
    const challenge = `Bearer authorization="${this.#options.authorityHost.replace(/\/+$/, '')}/${this.#options.tenantId}", resource="${KEY_VAULT_RESOURCE}"`;
    const unauthorized = (message: string) =>
      error({ status: 401, code: 'Unauthorized', message, headers: { 'www-authenticate': challenge } });
    const token = bearerTokenOf(request.headers);
    if (token === undefined) return unauthorized('AKV10000: Request is missing a Bearer or PoP token.');
    const claims = await this.#options.verifyToken(token, audiencesFor(KEY_VAULT_RESOURCE));
    if (!claims) return unauthorized('AKV10022: Invalid audience, issuer, signature or lifetime of the access token.');
    if (claims.tid !== this.#options.tenantId) {
      return unauthorized(`AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${this.#options.tenantId}/.`);
    }
    const apiVersion = request.url.searchParams.get('api-version');
    if (!apiVersion) return badParameter('The api-version query parameter is missing.');
    if (this.#options.rbac) {
      const principal = typeof claims.oid === 'string' ? claims.oid : '';
      const granted =
        rolesGrant(this.#roleAssignments.get(principal) ?? [], action) ||
        grantedByAzureRbac(this.#options.roleAssignments, principal, action, request);
      if (!granted) {
        const appId = typeof claims.appid === 'string' ? claims.appid : typeof claims.azp === 'string' ? claims.azp : '';
        return error({
          status: 403,
          code: 'Forbidden',
          message:
            'Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
            `Caller: appid=${appId};oid=${principal}\r\nAction: '${action}'\r\nResource: '${request.path}'\r\nAssignment: (not found)\r\nVault: emulator;location=local\r\n`,
          innererror: { code: 'ForbiddenByRbac' },
        });
      }
    }
    return serve();
  }

  #importCertificate(request: EmulatorRequest): EmulatorResponse {
    const name = request.params.name!;
    if (!NAME.test(name)) {
      return badParameter(
        `The request URI contains an invalid name: ${name}. Follow this link for more information on valid names: https://aka.ms/kvnames`,
      );
    }
    const parsed = parseImport(request.json, this.#now());
    if ('error' in parsed) return badParameter(parsed.error);
    const { x509 } = parsed;

    const key = name.toLowerCase();
    const { sha1, x5t } = thumbprintsOf(parsed.der);
    const stored: StoredCertificateVersion = {
      name: this.#certificatesByName.get(key)?.[0]?.name ?? name,
      version: randomBytes(16).toString('hex'),
      der: parsed.der,
      privateKey: parsed.privateKey,
      thumbprint: sha1,
      x5t,
      tags: parsed.tags,
      contentType: parsed.contentType,
      notBefore: x509.validFromDate,
      notAfter: x509.validToDate,
      created: this.#now(),
    };
    this.#certificatesByName.set(key, [...(this.#certificatesByName.get(key) ?? []), stored]);
    return { status: 200, body: certificateBundle(this.vaultUrl, stored) };
  }
  #find(request: EmulatorRequest, kind: 'certificate' | 'secret'): StoredCertificateVersion | ApiError {
    const { name, version } = request.params as { name: string; version?: string };
    const versions = this.#certificatesByName.get(name.toLowerCase()) ?? [];
    const found = version === undefined ? versions.at(-1) : versions.find((v) => v.version === version.toLowerCase());
    if (found) return found;
    const what = version === undefined ? name : `${name}/${version}`;
    return kind === 'certificate'
      ? {
          status: 404,
          code: 'CertificateNotFound',
          message: `A certificate with (name/id) ${what} was not found in this key vault. ${NOT_FOUND_HELP}`,
        }
      : {
          status: 404,
          code: 'SecretNotFound',
          message: `A secret with (name/id) ${what} was not found in this key vault. ${NOT_FOUND_HELP.replace('certificate', 'secret')}`,
        };
  }

  #getCertificate(request: EmulatorRequest): EmulatorResponse {
    const found = this.#find(request, 'certificate');
    return 'status' in found ? error(found) : { status: 200, body: certificateBundle(this.vaultUrl, found) };
  }

  #listVersions(request: EmulatorRequest): EmulatorResponse {
    const name = request.params.name!;
    const versions = this.#certificatesByName.get(name.toLowerCase()) ?? [];
    const max = Number(request.url.searchParams.get('maxresults') ?? 25);
    if (!Number.isInteger(max) || max < 1 || max > 25) return badParameter('maxresults must be an integer from 1 to 25.');
    const pageSize = Math.min(max, this.#options.pageSize ?? 25);
    const skip = Number(request.url.searchParams.get('$skiptoken') ?? 0);
    const page = versions.slice(skip, skip + pageSize);
    const next = skip + pageSize < versions.length ? skip + pageSize : undefined;
    const nextLink =
      next === undefined
        ? null
        : `${this.vaultUrl}certificates/${encodeURIComponent(name)}/versions?api-version=${request.url.searchParams.get('api-version')}&$skiptoken=${next}&maxresults=${max}`;
    return { status: 200, body: { value: page.map((v) => certificateItem(this.vaultUrl, v)), nextLink } };
  }

  async #getSecret(request: EmulatorRequest): Promise<EmulatorResponse> {
    const found = this.#find(request, 'secret');
    if ('status' in found) return error(found);
    const value = await this.#secretValue(found);
    return {
      status: 200,
      body: {
        value,
        contentType: found.contentType,
        id: `${this.vaultUrl}secrets/${found.name}/${found.version}`,
        kid: `${this.vaultUrl}keys/${found.name}/${found.version}`,
        managed: true,
        attributes: certificateAttributes(found),
        tags: found.tags,
      },
    };
  }

  /**
   * A version's secret is the same bytes on every read (Key Vault versions are immutable), so it is
   * packed once, on the first read (a PFX costs ~1 ms of KDF work; the same bytes also let a test
   * compare two reads).
   */
  #secretValue(v: StoredCertificateVersion): Promise<string> {
    let value = this.#secretValues.get(v);
    if (value === undefined) {
      value = certificateSecretValue(v);
      this.#secretValues.set(v, value);
    }
    return value;
  }
}
