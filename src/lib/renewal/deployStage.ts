import { createHash, type KeyObject } from 'node:crypto';
import { generateCertificate } from '../certificates/generateCertificate.js';
import { parseCertificate } from '../certificates/parseCertificate.js';
import type { Actor } from '../domain/appConfig.js';
import type { AppCertificate, DeployedCertificate, VaultVersion } from '../domain/ports.js';
import { graphWriteModeFor } from './graphWriteMode.js';
import type { LeasedApp } from './leasedApp.js';
import type { RenewalContext, RenewalStep } from './renewalContext.js';
import { writeRenewalState } from './writeRenewalState.js';
import { importIntoVault } from './importIntoVault.js';
import { rotationFieldsOf } from '../domain/renewalMessage.js';

/** The keyId of a renewal's credential: a UUID derived from the renewal id, so a retry finds its own work. */
export function keyIdForRenewal(renewalId: string): string {
  const hex = createHash('sha256').update(`entra-cert-rotator/keyId/${renewalId}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** self mode's refusal when the app has no valid certificate in Key Vault to sign in with. */
export function selfModeNeedsCertificate(appId: string): string {
  return `graphMode "self" signs in as the app with its current certificate from Key Vault, and app ${appId} has no valid one: generate one in graphMode "owner" (or let an admin add one to Key Vault), then switch back to "self"`;
}

interface Recorded {
  readonly keyId: string;
  readonly thumbprint: string;
  readonly thumbprintSha256: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keySize: number | undefined;
}

/**
 * The deploy stage: generate (or reuse what an earlier attempt of this renewal made) → Key Vault
 * import tagged with the renewal id → add to the app registration under a keyId derived from the
 * renewal id → record `deployed` (releasing the lease in the same write) → queue the confirm stage.
 * Every step can be repeated: a redelivery finds the Key Vault version by its tag and the credential
 * by its keyId and carries on from there, so a crash between two steps costs a retry, never a second
 * certificate or a lost credential.
 */
export async function deployStage(context: RenewalContext, held: LeasedApp, actor: Actor | undefined): Promise<DeployedCertificate> {
  const { message } = held;
  const { config } = held.app;
  const step = (name: RenewalStep) => context.afterStep?.(name, message);
  await step('leased');
  const keyId = keyIdForRenewal(message.renewalId);
  const vault = config.keyVault.enabled ? context.vaultFor(config.keyVault.vaultUrl) : undefined;
  const name = config.keyVault.certificateName;

  // What an earlier attempt of this renewal already made, if anything: with Key Vault, the version
  // tagged with the renewal id; without it, the credential under the renewal's keyId (whose key
  // went out by email before it was added, so it is adopted, not replaced). A first attempt has
  // nothing to find and skips the look-up.
  let der: Buffer | undefined;
  let privateKey: KeyObject | undefined;
  let version: VaultVersion | undefined;
  let adopted: AppCertificate | undefined;
  if (!held.firstAttempt) {
    if (vault) {
      version = await vault.findVersionByTag(name, 'renewalId', message.renewalId);
      if (version) ({ der, privateKey } = await vault.getCertificateWithPrivateKey(name, { version: version.version }));
    } else {
      adopted = (await context.credentials.listCertificates(config.appId)).find((c) => c.keyId === keyId);
    }
  }
  if (!der && !adopted) {
    const generated = await generateCertificate({
      displayName: config.displayName,
      lifetimeDays: config.lifetimeDays,
      keySize: config.keySize,
      now: context.now(),
    });
    ({ der, privateKey } = generated);
    await step('generated');
    if (vault) {
      version = await importIntoVault(
        vault,
        name,
        { der: generated.der, privateKey: generated.privateKey, displayName: config.displayName },
        { appId: config.appId, renewalId: message.renewalId, thumbprint: generated.thumbprints.sha1 },
      );
    } else {
      // Without Key Vault the email is the only place the key lands, so it must go out before the
      // certificate is trusted anywhere; if it cannot, nothing has changed and the attempt fails.
      await context.notifications.sendKeyByEmail(held.app, generated.der, generated.privateKey, message.renewalId);
    }
    await step('imported');
  }

  const recorded = der ? await addToAppRegistration(context, held, der, keyId) : adoptedAsRecorded(adopted!, config.keySize);
  await step('added');

  const already = held.app.state.renewal?.id === message.renewalId && held.app.state.renewal.stage !== 'failed';
  if (!already || held.app.state.currentThumbprint !== recorded.thumbprint) {
    // One write records the deployment, its history row, and gives the lease back; each attempt
    // reads the clock afresh, so a write retried after an ETag conflict carries its own time.
    held.app = await writeRenewalState(
      context.store,
      held.app,
      held.owner,
      () => {
        const now = context.now().toISOString();
        return {
          currentThumbprint: recorded.thumbprint,
          currentThumbprintSha256: recorded.thumbprintSha256,
          keyId: recorded.keyId,
          notBefore: recorded.notBefore.toISOString(),
          notAfter: recorded.notAfter.toISOString(),
          keySize: recorded.keySize,
          keyVaultVersion: version?.version,
          keyVaultId: version?.id,
          verifiedAt: undefined,
          lastOutcome: 'deployed',
          lastOutcomeAt: now,
          lastError: undefined,
          queued: undefined,
          lease: undefined,
          renewal: {
            id: message.renewalId,
            trigger: message.trigger,
            stage: 'deployed',
            deployedAt: now,
            reason: message.reason,
            rotationId: message.rotationId,
            requestedBy: actor,
          },
        };
      },
      {
        action: 'renewal.deploy',
        trigger: message.trigger,
        outcome: 'succeeded',
        thumbprint: recorded.thumbprint,
        actor,
        ...rotationFieldsOf(message),
      },
      actor,
    );
    held.released = true;
  }
  await step('recorded');

  // The put-back counts were this stage's: the confirm stage starts its own.
  const { deferrals: _deferrals, throttled: _throttled, ...confirm } = message;
  await context.queue.enqueue({ ...confirm, stage: 'confirm' }, { visibilityDelaySeconds: context.settings.confirmDelaySeconds });
  await step('queued');
  context.log?.('certificate deployed', {
    appId: config.appId,
    renewalId: message.renewalId,
    thumbprint: recorded.thumbprint,
    trigger: message.trigger,
  });

  return {
    appId: config.appId,
    renewalId: message.renewalId,
    keyId: recorded.keyId,
    thumbprint: recorded.thumbprint,
    thumbprintSha256: recorded.thumbprintSha256,
    notBefore: recorded.notBefore,
    notAfter: recorded.notAfter,
    keyVault: version ? { id: version.id, version: version.version } : undefined,
    certificate: der ? { der, privateKey } : undefined,
  };
}

async function addToAppRegistration(context: RenewalContext, held: LeasedApp, der: Buffer, keyId: string): Promise<Recorded> {
  const info = parseCertificate(der);
  const mode = await graphWriteModeFor(held.app, {
    vaultFor: context.vaultFor,
    now: context.now(),
    missing: selfModeNeedsCertificate(held.app.config.appId),
  });
  const result = await context.credentials.addCertificate(held.app.config.appId, {
    certificate: { der, notBefore: info.notBefore, notAfter: info.notAfter },
    keyId,
    mode,
  });
  return {
    keyId: result.keyId,
    thumbprint: info.thumbprints.sha1,
    thumbprintSha256: info.thumbprints.sha256,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    keySize: info.keySize,
  };
}

function adoptedAsRecorded(adopted: AppCertificate, keySize: number): Recorded {
  return {
    keyId: adopted.keyId,
    thumbprint: adopted.thumbprint,
    thumbprintSha256: undefined,
    notBefore: adopted.validFrom,
    notAfter: adopted.validUntil,
    keySize,
  };
}
