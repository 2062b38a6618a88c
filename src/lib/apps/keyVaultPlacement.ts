import { isLoopbackUrl, vaultNameOfResourceId, vaultNameOfUrl } from '../domain/identifiers.js';
import type { AppRepository } from '../domain/storedApp.js';
import { ConflictError, ValidationError } from '../errors.js';
import { deriveCertificateName, type AppConfig, type AppSettingsInput } from '../domain/appConfig.js';

export interface KeyVaultPlacementOptions {
  readonly store: Pick<AppRepository, 'findCertificateNameOwner'>;
  readonly defaultKeyVaultUrl: string;
  readonly defaultKeyVaultResourceId?: string | undefined;
  readonly allowLoopbackVaultUrls: boolean;
}

/** A resource id of another vault would grant readers the wrong vault. */
export function checkResourceId(vaultUrl: string, resourceId: string | undefined): void {
  if (resourceId === undefined || isLoopbackUrl(vaultUrl) || vaultNameOfResourceId(resourceId) === vaultNameOfUrl(vaultUrl)) return;
  throw new ValidationError([
    {
      path: 'keyVault.resourceId',
      message: `names vault "${vaultNameOfResourceId(resourceId)}", but keyVault.vaultUrl is vault "${vaultNameOfUrl(vaultUrl)}": both must be the same vault`,
    },
  ]);
}

/** Where an app's certificate goes in Key Vault: the config's keyVault settings with the vault, name and resource id filled in. */
export class KeyVaultPlacement {
  readonly #options: KeyVaultPlacementOptions;

  constructor(options: KeyVaultPlacementOptions) {
    this.#options = options;
  }

  /** The vault asked for, else the default; a loopback one only when the rotator runs against emulators. */
  vaultUrl(input: AppSettingsInput): string {
    const requested = input.keyVault.vaultUrl;
    if (requested !== undefined && !this.#options.allowLoopbackVaultUrls && isLoopbackUrl(requested)) {
      throw new ValidationError([
        {
          path: 'keyVault.vaultUrl',
          message:
            'is a loopback URL, which this rotator accepts only when it runs against emulators; use https://{vault-name}.vault.azure.net/',
        },
      ]);
    }
    return requested ?? this.#options.defaultKeyVaultUrl;
  }

  /** A new app's settings in `vaultUrl` (from vaultUrl()). */
  async forCreate(appId: string, displayName: string, input: AppSettingsInput, vaultUrl: string): Promise<AppConfig['keyVault']> {
    const certificateName = await this.#certificateName(appId, displayName, vaultUrl, input.keyVault.certificateName);
    return this.#settings(input, vaultUrl, certificateName, input.keyVault.resourceId);
  }

  /** A replace/patch: the current name stays unless asked otherwise or the vault changes. */
  async forReplace(input: AppSettingsInput, current: AppConfig): Promise<AppConfig['keyVault']> {
    const vaultUrl = this.vaultUrl(input);
    const sameVault = vaultUrl === current.keyVault.vaultUrl;
    const certificateName =
      input.keyVault.certificateName ??
      (sameVault ? current.keyVault.certificateName : await this.#certificateName(current.appId, current.displayName, vaultUrl, undefined));
    // A patch carries the stored resource id along; once the vault changes it is the old vault's.
    const carriedOver = !sameVault && input.keyVault.resourceId === current.keyVault.resourceId;
    return this.#settings(input, vaultUrl, certificateName, carriedOver ? undefined : input.keyVault.resourceId);
  }

  /**
   * The stored keyVault settings. The resource id (the scope of access grants, docs/consumers.md) defaults to
   * DEFAULT_KEYVAULT_RESOURCE_ID for the default vault only; one given must name the vault of vaultUrl.
   */
  #settings(input: AppSettingsInput, vaultUrl: string, certificateName: string, resourceId: string | undefined): AppConfig['keyVault'] {
    checkResourceId(vaultUrl, resourceId);
    const { enabled, grantAppRead, readers } = input.keyVault;
    const { defaultKeyVaultUrl, defaultKeyVaultResourceId } = this.#options;
    const resolved = resourceId ?? (vaultUrl === defaultKeyVaultUrl ? defaultKeyVaultResourceId : undefined);
    return { enabled, vaultUrl, certificateName, ...(resolved === undefined ? {} : { resourceId: resolved }), grantAppRead, readers };
  }

  /**
   * A name the caller chose must be free in the vault (409 otherwise). A derived one that collides
   * gets the appId appended, so two apps with the same display name can both be added.
   * The store's transaction enforces uniqueness again at write time; this read only words the error.
   */
  async #certificateName(appId: string, displayName: string, vaultUrl: string, requested: string | undefined): Promise<string> {
    const candidates = requested !== undefined ? [requested] : [deriveCertificateName(displayName, appId)];
    if (requested === undefined) candidates.push(`${candidates[0]!.slice(0, 127 - appId.length - 1)}-${appId}`);
    for (const name of candidates) {
      const owner = await this.#options.store.findCertificateNameOwner(vaultUrl, name);
      if (owner === undefined || owner === appId) return name;
    }
    throw new ConflictError(
      `keyVault.certificateName "${candidates[0]}" is already used by another app in ${vaultUrl}; choose another name`,
    );
  }
}
