import type { CertificateSigner, CertificateVault, GraphWriteMode } from '../domain/ports.js';
import type { StoredApp } from '../domain/storedApp.js';
import { PreconditionError } from '../errors.js';

type KeyReader = (vaultUrl: string) => Pick<CertificateVault, 'getCertificateWithPrivateKey'>;

/**
 * The app's current certificate with its key, from Key Vault: what signs the app in (self mode,
 * the sign-in check, a certificate attached to an email). `missing` words the refusal when there is
 * no valid one.
 */
export async function signerFromVault(
  app: StoredApp,
  options: { readonly vaultFor: KeyReader; readonly now: Date; readonly version?: string; readonly missing: string },
): Promise<CertificateSigner> {
  const { config, state } = app;
  const version = options.version ?? state.keyVaultVersion;
  if (
    !config.keyVault.enabled ||
    version === undefined ||
    state.notAfter === undefined ||
    Date.parse(state.notAfter) <= options.now.getTime()
  ) {
    throw new PreconditionError(options.missing);
  }
  const stored = await options
    .vaultFor(config.keyVault.vaultUrl)
    .getCertificateWithPrivateKey(config.keyVault.certificateName, { version });
  return { der: stored.der, privateKey: stored.privateKey };
}

/**
 * How a write reaches the app's registration: as the rotator (owner), or signed in as the app with
 * its current certificate from Key Vault (self). `missing` says what to do when self mode has none.
 */
export async function graphWriteModeFor(
  app: StoredApp,
  options: { readonly vaultFor: KeyReader; readonly now: Date; readonly missing: string },
): Promise<GraphWriteMode> {
  if (app.config.graphMode === 'owner') return { graphMode: 'owner' };
  return { graphMode: 'self', signer: await signerFromVault(app, options) };
}
