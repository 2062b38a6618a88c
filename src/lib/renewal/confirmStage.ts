import type { AppCertificate } from '../domain/ports.js';
import type { HistoryInput, StoredApp } from '../domain/storedApp.js';
import { errorText, RetriableError } from '../errors.js';
import { verificationRetryDelayMs, verificationStopsAt } from './decide/verificationWindow.js';
import { selfModeNeedsCertificate } from './deployStage.js';
import { graphWriteModeFor, signerFromVault } from './graphWriteMode.js';
import type { LeasedApp } from './leasedApp.js';
import { certificateFacts, withPending } from './notificationSender.js';
import { accessFacts, notificationId, type NotificationFacts, type NotificationKind } from './notifications.js';
import type { RenewalContext, RenewalStep } from './renewalContext.js';
import { FUNCTION_TIMEOUT_SECONDS, rotationFieldsOf } from '../domain/renewalMessage.js';
import { writeRenewalState } from './writeRenewalState.js';

const DEFAULT_VERIFY_RETRY_MAX_DELAY_MS = 30_000;

/**
 * The confirm stage: sign in as the app with the new certificate until Entra accepts it → email →
 * event → remove expired managed certificates → record `completed`. Nothing older is removed before
 * the new certificate has signed in. Every step can be repeated, so the stage's outcome is written
 * once, at the end, with the lease released: a crash in between costs a repeat (the same event id,
 * the same email Operation-Id), never a lost step.
 */
export async function confirmStage(context: RenewalContext, held: LeasedApp): Promise<void> {
  const { message } = held;
  const step = (name: RenewalStep) => context.afterStep?.(name, message);
  const progress = held.app.state.renewal;
  if (!progress || progress.id !== message.renewalId) {
    // A newer renewal replaced this one before it was confirmed; that one confirms itself.
    context.log?.('confirm skipped: superseded', { appId: message.appId, renewalId: message.renewalId });
    return;
  }
  if (progress.stage !== 'deployed') return;
  const { config } = held.app;

  await verify(context, held);
  const verifiedAt = context.now().toISOString();
  const verified: StoredApp = { ...held.app, state: { ...held.app.state, verifiedAt } };
  await step('verified');

  const kind: NotificationKind = message.trigger === 'manual' ? 'generated' : 'renewed';
  const failures = await context.notifications.send(verified, certificateFacts(verified, kind, message), {
    // Without Key Vault the renewal email (with its key) already went out at deploy.
    withAttachment: config.keyVault.enabled,
    skipEmail: !config.keyVault.enabled && config.notifications.includeCertificate,
  });
  await step('notified');

  // Best effort: the new certificate is verified and the admins told, and an expired certificate
  // signs nothing in, so a refusal here (an owner removed, Graph down past its retries) is recorded
  // and left to the next renewal's cleanup. Failing the renewal for it would put the app due again
  // within the hour, adding a certificate each time and removing none.
  let removed: AppCertificate[] = [];
  let cleanupError: string | undefined;
  try {
    const mode = await graphWriteModeFor(held.app, {
      vaultFor: context.vaultFor,
      now: context.now(),
      missing: selfModeNeedsCertificate(config.appId),
    });
    removed = await context.credentials.removeExpiredManagedCertificates(config.appId, mode);
  } catch (error) {
    cleanupError = errorText(error);
    context.log?.('expired certificates not removed', { appId: config.appId, renewalId: message.renewalId, error: cleanupError });
  }
  for (const certificate of removed) {
    const facts: NotificationFacts = {
      kind: 'removed',
      id: notificationId('removed', `${message.renewalId}:${certificate.keyId}`),
      appId: config.appId,
      displayName: config.displayName,
      thumbprint: certificate.thumbprint,
      keyId: certificate.keyId,
      notBefore: certificate.validFrom.toISOString(),
      notAfter: certificate.validUntil.toISOString(),
      trigger: message.trigger,
    };
    failures.push(...(await context.notifications.send(verified, facts)));
  }
  await step('cleaned');

  // The certificate's name, not its version, is what a grant is scoped to: checked again now, so a
  // grant that was refused, or a reader added since, is settled before the next renewal is needed.
  const review = await context.access?.review(config, held.app.state);
  if (review?.notify && review.access) failures.push(...(await context.notifications.send(verified, accessFacts(config, review.access))));

  if (failures.length > 0) await context.store.markPendingNotifications(config.appId);
  const history: HistoryInput[] = [
    {
      action: 'renewal.confirm',
      trigger: message.trigger,
      outcome: 'succeeded',
      thumbprint: held.app.state.currentThumbprint,
      ...rotationFieldsOf(message),
    },
  ];
  if (removed.length > 0) {
    const thumbprints = removed.map((certificate) => certificate.thumbprint).join(',');
    history.push({ action: 'renewal.cleanup', trigger: message.trigger, outcome: 'succeeded', thumbprint: thumbprints });
  }
  if (cleanupError !== undefined) {
    history.push({ action: 'renewal.cleanup', trigger: message.trigger, outcome: 'failed', error: cleanupError });
  }
  held.app = await writeRenewalState(
    context.store,
    held.app,
    held.owner,
    (state) => ({
      verifiedAt,
      lastOutcome: 'verified',
      lastOutcomeAt: verifiedAt,
      lastError: undefined,
      renewal: { ...state.renewal!, stage: 'completed' },
      consecutiveFailures: 0,
      pendingNotifications: withPending(state.pendingNotifications, failures),
      lease: undefined,
      ...(review ? { access: review.access } : {}),
    }),
    history,
  );
  held.released = true;
  context.log?.('renewal completed', { appId: config.appId, renewalId: message.renewalId, outcome: 'completed', removed: removed.length });
}

/** Signs in as the app with the new certificate until Entra accepts it or this delivery's time is up. */
async function verify(context: RenewalContext, held: LeasedApp): Promise<void> {
  const { config, state } = held.app;
  if (!config.keyVault.enabled) {
    // Without Key Vault the key lived only in the creating attempt, so sign-in cannot be tried
    // here; what can be proven is that the app registration carries the certificate.
    const listed = await context.credentials.listCertificates(config.appId);
    if (!listed.some((c) => c.keyId === state.keyId && c.thumbprint === state.currentThumbprint)) {
      throw new RetriableError(`The new certificate ${state.currentThumbprint} is not on the app registration yet`);
    }
    return;
  }
  const signer = await signerFromVault(held.app, {
    vaultFor: context.vaultFor,
    now: context.now(),
    missing: `The current certificate of app ${config.appId} is not in Key Vault`,
  });
  const { deadline, stopAt } = verificationStopsAt({
    deployedAt: new Date(state.renewal?.deployedAt ?? context.now().toISOString()),
    verifyWindowMinutes: context.settings.verifyWindowMinutes,
    leaseUntil: state.lease ? new Date(state.lease.until) : undefined,
    leaseSeconds: context.settings.leaseSeconds,
    startedAt: new Date(held.startedAt),
    functionTimeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
  });
  const maxDelay = context.settings.verifyRetryMaxDelayMs ?? DEFAULT_VERIFY_RETRY_MAX_DELAY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await context.verifier.verify(config.appId, signer);
      return;
    } catch (error) {
      const remaining = stopAt - context.now().getTime();
      if (!(error instanceof RetriableError) || remaining <= 0) {
        const why =
          deadline <= context.now().getTime()
            ? `did not sign in within ${context.settings.verifyWindowMinutes} minutes`
            : 'does not sign in yet';
        throw new RetriableError(`The new certificate ${state.currentThumbprint} ${why}: ${errorText(error)}`, { cause: error });
      }
      await context.sleep(verificationRetryDelayMs(attempt, remaining, maxDelay));
    }
  }
}
