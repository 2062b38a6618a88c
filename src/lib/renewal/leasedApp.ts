import type { RenewalMessage } from '../domain/ports.js';
import type { StoredApp } from '../domain/storedApp.js';
import { errorText, NotFoundError } from '../errors.js';
import { takeAppLease } from './appLease.js';
import type { RenewalContext } from './renewalContext.js';
import { writeRenewalState } from './writeRenewalState.js';

/** Renewal ids kept in `deployAttempts`: far more than can be in flight for one app at once. */
const DEPLOY_ATTEMPTS_KEPT = 20;

/** An app whose lease one delivery of a renewal message holds. */
export interface LeasedApp {
  app: StoredApp;
  readonly owner: string;
  readonly message: RenewalMessage;
  /**
   * Deploy stage only: no earlier attempt of this renewal ever took the lease, so there is no
   * earlier work (Key Vault version, credential) to look for.
   */
  readonly firstAttempt: boolean;
  /** Set once a state write has also released the lease, so no separate release is needed. */
  released: boolean;
  /** When this delivery took the lease (epoch ms): its invocation's time is counted from here. */
  readonly startedAt: number;
}

export async function leaseForDelivery(context: RenewalContext, message: RenewalMessage, holder = message.renewalId): Promise<LeasedApp> {
  let firstAttempt = false;
  const { app, owner } = await takeAppLease(context.store, message.appId, {
    holder,
    leaseSeconds: context.settings.leaseSeconds,
    now: context.now,
    // The deploy stage notes its renewal id with the lease, in the same write: the order in which
    // renewals began, and whether this one began before (then it may have left work to reuse).
    extra: (state) => {
      firstAttempt = message.stage === 'deploy' && holder === message.renewalId && !state.deployAttempts.includes(message.renewalId);
      return firstAttempt ? { deployAttempts: [...state.deployAttempts, message.renewalId].slice(-DEPLOY_ATTEMPTS_KEPT) } : {};
    },
  });
  return { app, owner, message, firstAttempt, released: false, startedAt: context.now().getTime() };
}

export async function releaseLease(context: RenewalContext, held: LeasedApp): Promise<void> {
  if (held.released) return;
  try {
    held.app = await writeRenewalState(context.store, held.app, held.owner, () => ({ lease: undefined }));
    held.released = true;
  } catch (error) {
    // The lease expires by itself; a failed release only delays the next renewal of this app.
    if (!(error instanceof NotFoundError)) context.log?.('lease release failed', { appId: held.message.appId, error: errorText(error) });
  }
}
