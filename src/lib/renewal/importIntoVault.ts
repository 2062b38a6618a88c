import type { KeyObject } from 'node:crypto';
import { encodePfx, IMPORT_PFX_ITERATIONS } from '../certificates/pfx.js';
import type { CertificateVault, VaultVersion } from '../domain/ports.js';

/** Every Key Vault version the rotator imports carries `managedBy` with this value. */
export const MANAGED_TAG = 'entra-cert-rotator';

/**
 * Imports a certificate and key as a new Key Vault version, tagged so that a retry finds it. The PFX
 * that carries the key uses a random password and few iterations (IMPORT_PFX_ITERATIONS says why).
 */
export async function importIntoVault(
  vault: CertificateVault,
  name: string,
  certificate: { readonly der: Buffer; readonly privateKey: KeyObject; readonly displayName: string },
  tags: Readonly<Record<string, string>>,
): Promise<VaultVersion> {
  const { pfx, password } = await encodePfx(certificate.der, certificate.privateKey, {
    friendlyName: certificate.displayName,
    iterations: IMPORT_PFX_ITERATIONS,
  });
  return vault.importCertificate(name, { pfx, password, tags: { managedBy: MANAGED_TAG, ...tags } });
}
