import type { RenewalMessage } from '../domain/ports.js';
import type { RotationApp, RotationAppStage, RotationSelector } from '../domain/rotation.js';
import type { StoredApp } from '../domain/storedApp.js';

/**
 * The pure rules of a bulk rotation (docs/http-api.md): which managed apps a selector takes, how each starts,
 * and where an app's renewal for the rotation stands given the app's stored state. The rotation
 * service gathers the state; these decide.
 */

/** Whether the selector takes the app (criteria combine: the app meets each one given). */
export function selects(selector: RotationSelector, app: StoredApp): boolean {
  if (selector.all) return true;
  const { state } = app;
  if (selector.appIds && !selector.appIds.includes(app.config.appId)) return false;
  if (selector.thumbprints) {
    const current = state.currentThumbprint?.toUpperCase();
    if (current === undefined || !selector.thumbprints.some((t) => t.toUpperCase() === current)) return false;
  }
  if (selector.issuedBefore !== undefined) {
    if (state.notBefore === undefined || Date.parse(state.notBefore) >= Date.parse(selector.issuedBefore)) return false;
  }
  if (selector.keySizeBelow !== undefined) {
    if (state.keySize === undefined || state.keySize >= selector.keySizeBelow) return false;
  }
  return true;
}

/** Why a selected app gets no renewal for the rotation, if so. */
export function skipReason(app: StoredApp): string | undefined {
  if (!app.config.enabled) return 'certificate management is off for this app (enabled: false); turn it on, or generate by hand';
  if (app.state.currentThumbprint === undefined) return 'the app has no managed certificate yet; generate its first one';
  return undefined;
}

/** The app's row as the rotation starts. */
export function startingApp(app: StoredApp, renewalId: string, now: Date): RotationApp {
  const skip = skipReason(app);
  return {
    appId: app.config.appId,
    displayName: app.config.displayName,
    stage: skip === undefined ? 'queued' : 'skipped',
    renewalId: skip === undefined ? renewalId : undefined,
    detail: skip,
    updatedAt: now.toISOString(),
  };
}

/** The renewal message of one app of a rotation; requestedAt is when the rotation was asked for. */
export function rotationMessage(
  rotation: { id: string; reason: string; createdAt: string },
  appId: string,
  renewalId: string,
): RenewalMessage {
  return {
    appId,
    renewalId,
    stage: 'deploy',
    trigger: 'rotation',
    rotationId: rotation.id,
    reason: rotation.reason,
    requestedAt: rotation.createdAt,
  };
}

/**
 * Where the app's renewal for the rotation stands, from the app's state. The rotation's own renewal
 * counts, and so does any other renewal deployed after the rotation was asked for (a scheduled one
 * that ran at the same moment): its key was made after the request, which is what the rotation is
 * for, and the rotation's own message then finds the need answered and makes no second
 * certificate (decide/deliveryAlreadyAnswered.ts). The answer found is kept as the row's renewalId,
 * so that renewal's later failure is the rotation's failure. An app deleted since is skipped.
 */
export function progressOf(
  row: Pick<RotationApp, 'stage' | 'renewalId'>,
  app: StoredApp | undefined,
  requestedAt: string,
): { stage: RotationAppStage; renewalId?: string; detail?: string } {
  if (row.stage === 'skipped') return { stage: 'skipped' };
  if (!app) return { stage: 'skipped', renewalId: row.renewalId, detail: 'the app is no longer managed' };
  const renewal = app.state.renewal;
  // A failed renewal of another answers nothing: the rotation's own message then still renews.
  const answers =
    renewal !== undefined &&
    (renewal.id === row.renewalId ||
      (renewal.stage !== 'failed' && renewal.deployedAt !== undefined && Date.parse(renewal.deployedAt) >= Date.parse(requestedAt)));
  if (!answers) return { stage: 'queued', renewalId: row.renewalId };
  if (renewal.stage === 'completed') return { stage: 'verified', renewalId: renewal.id };
  if (renewal.stage === 'failed') return { stage: 'failed', renewalId: renewal.id, detail: app.state.lastError };
  return { stage: 'deployed', renewalId: renewal.id };
}
