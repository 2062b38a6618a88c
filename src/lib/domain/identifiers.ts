import { createHash } from 'node:crypto';

/** Pure checks of the identifiers settings and app configs carry: GUIDs, Key Vault URLs, loopback URLs. */

/** Key Vault DNS suffixes of the Azure clouds (public, China, US Gov, Germany). */
const KEY_VAULT_SUFFIXES = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.vault.microsoftazure.de'];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const VAULT_NAME = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/i;
/** An Azure Resource Manager vault id, as the portal's JSON view and `az keyvault show --query id` give it. */
const KEY_VAULT_RESOURCE_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.KeyVault\/vaults\/[a-z0-9-]{3,24}$/i;

/** True for an https URL on this machine's loopback: an emulator, never an Azure service. */
export function isLoopbackUrl(value: string): boolean {
  try {
    return isLoopback(new URL(value));
  } catch {
    return false;
  }
}

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * A Key Vault URL as an app's config may name it: `https://{name}.vault.azure.net/` or a sovereign
 * cloud's suffix; a loopback https URL is accepted too so that the sandbox and tests can point the
 * real SDK at an emulator. Returns the normalised URL (origin with a trailing slash) or an error.
 */
export function parseKeyVaultUrl(value: string): { url: string } | { error: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: 'must be a URL such as https://my-vault.vault.azure.net/' };
  }
  if (url.protocol !== 'https:') return { error: 'must use https' };
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    return { error: 'must be the vault origin only, such as https://my-vault.vault.azure.net/' };
  }
  if (!isLoopback(url)) {
    const host = url.hostname.toLowerCase();
    const suffix = KEY_VAULT_SUFFIXES.find((s) => host.endsWith(s));
    const name = suffix ? host.slice(0, -suffix.length) : '';
    if (!suffix || !VAULT_NAME.test(name) || name.includes('--') || url.port) {
      return {
        error: `must be https://{vault-name}${KEY_VAULT_SUFFIXES[0]}/ (or ${KEY_VAULT_SUFFIXES.slice(1).join(', ')}), with a vault name of 3-24 letters, digits and hyphens`,
      };
    }
  }
  return { url: `${url.origin}/` };
}

export function isKeyVaultResourceId(value: string): boolean {
  return KEY_VAULT_RESOURCE_ID.test(value);
}

/** The vault name a resource id ends with, lower-case (ARM ids compare case-insensitively). */
export function vaultNameOfResourceId(resourceId: string): string {
  return resourceId.slice(resourceId.lastIndexOf('/') + 1).toLowerCase();
}

/** The vault name of a Key Vault URL (its first DNS label), lower-case. */
export function vaultNameOfUrl(vaultUrl: string): string {
  return new URL(vaultUrl).hostname.split('.')[0]!.toLowerCase();
}

/**
 * A GUID derived from a text (SHA-256, shaped as a version-4 GUID): the same text always gives the
 * same GUID, so a retry names what it creates as the first attempt did.
 */
export function guidFromText(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
