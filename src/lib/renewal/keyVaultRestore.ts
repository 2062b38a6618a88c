import type { RenewalMessage } from '../domain/ports.js';
import { errorText } from '../errors.js';
import { leaseForDelivery, releaseLease, type LeasedApp } from './leasedApp.js';
import type { RenewalContext } from './renewalContext.js';
import { writeRenewalState } from './writeRenewalState.js';
import { importIntoVault } from './importIntoVault.js';

/**
 * A renewal that failed after its Key Vault import but before its certificate was recorded (the app
 * registration refused it, say) leaves Key Vault's latest version naming a certificate Entra does not
 * have, while whatever reads "the certificate" from Key Vault takes the latest version. The current
 * certificate is imported again on top, so that Key Vault, Entra and the state agree on the
 * certificate in use. Under the app's lease, like every renewal's writes: a renewal that holds it,
 * or began since, owns Key Vault's latest version. Best effort: a failure here is logged, the
 * renewal's failure stands.
 */
export async function restoreKeyVaultLatest(context: RenewalContext, message: RenewalMessage): Promise<void> {
  let held: LeasedApp;
  try {
    held = await leaseForDelivery(context, message, `restore:${message.renewalId}`);
  } catch (error) {
    context.log?.('key vault restore skipped', { appId: message.appId, renewalId: message.renewalId, error: errorText(error) });
    return;
  }
  try {
    await restoreKeyVaultLatestUnder(context, held);
  } finally {
    await releaseLease(context, held);
  }
}

/** The restore, by a delivery that holds the app's lease already. */
export async function restoreKeyVaultLatestUnder(context: RenewalContext, held: LeasedApp): Promise<void> {
  const { message } = held;
  const { config, state } = held.app;
  if (!config.keyVault.enabled || state.keyVaultVersion === undefined || state.currentThumbprint === undefined) return;
  const vault = context.vaultFor(config.keyVault.vaultUrl);
  const name = config.keyVault.certificateName;
  try {
    const orphan = await vault.findVersionByTag(name, 'renewalId', message.renewalId);
    if (!orphan || orphan.thumbprint === state.currentThumbprint) return;
    // Only while it is still the latest: a version imported after it is a later renewal's.
    if ((await vault.getLatest(name))?.version !== orphan.version) return;
    const current = await vault.getCertificateWithPrivateKey(name, { version: state.keyVaultVersion });
    const restored = await importIntoVault(
      vault,
      name,
      { der: current.der, privateKey: current.privateKey, displayName: config.displayName },
      { appId: config.appId, restoredAfter: message.renewalId, thumbprint: state.currentThumbprint },
    );
    held.app = await writeRenewalState(context.store, held.app, held.owner, () => ({
      keyVaultVersion: restored.version,
      keyVaultId: restored.id,
    }));
    context.log?.('key vault latest restored to the current certificate', { appId: config.appId, renewalId: message.renewalId });
  } catch (error) {
    context.log?.('key vault restore failed', { appId: config.appId, renewalId: message.renewalId, error: errorText(error) });
  }
}
