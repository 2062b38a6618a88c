/** Pure checks of the identifiers settings and app configs carry: GUIDs, Key Vault URLs, loopback URLs. */

/** Key Vault DNS suffixes of the Azure clouds (public, China, US Gov, Germany). */
const KEY_VAULT_SUFFIXES = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.vault.microsoftazure.de'];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const VAULT_NAME = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/i;

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
