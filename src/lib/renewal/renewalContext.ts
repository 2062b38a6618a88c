import type { AppManagementPolicyReader } from '../domain/appManagementPolicy.js';
import type { AppRepository } from '../domain/storedApp.js';
import type { NotificationSender } from './notificationSender.js';
import type {
  AccessReviewer,
  AppCredentials,
  EventSink,
  Mailer,
  RenewalMessage,
  RenewalQueue,
  RotationTracker,
  SignInVerifier,
  VaultFor,
} from '../domain/ports.js';

export type RenewalStep =
  | 'leased'
  | 'generated'
  | 'imported'
  | 'added'
  | 'recorded'
  | 'queued'
  | 'verified'
  | 'notified'
  | 'cleaned'
  /** A failure for good written, its email and event pending, before they are sent. */
  | 'failure-recorded';

/** Where a renewal's progress and failures are reported: the invocation's logger (Application Insights traces). */
export type RenewalLog = (message: string, properties?: Record<string, unknown>) => void;

export interface RenewalSettings {
  readonly leaseSeconds: number;
  readonly verifyWindowMinutes: number;
  /** How long the confirm stage waits for Entra's propagation before its first sign-in. */
  readonly confirmDelaySeconds: number;
  /** Pause between sign-in attempts inside the window (grows to this cap). */
  readonly verifyRetryMaxDelayMs?: number;
  /** The longest wait of a message that found the app's lease taken (DEFAULT_POSTPONE_SECONDS when unset). */
  readonly postponeDelaySeconds?: number;
}

export interface RenewalDependencies {
  readonly store: AppRepository;
  readonly vaultFor: VaultFor;
  readonly credentials: AppCredentials;
  readonly verifier: SignInVerifier;
  readonly queue: RenewalQueue;
  readonly mailer?: Mailer;
  readonly events?: EventSink;
  /** Key Vault read access of the app and its readers (docs/consumers.md), re-checked as each renewal completes. */
  readonly access?: AccessReviewer;
  /** Bulk rotations (docs/http-api.md): told after each delivery of a rotation's renewal, whatever its outcome. */
  readonly rotations?: RotationTracker;
  /** The tenant's app management policies, checked before each deploy (docs/renewal.md, "Preflight"). */
  readonly policies?: AppManagementPolicyReader;
  readonly settings: RenewalSettings;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: RenewalLog;
  /** Called after each step; tests throw here to stand in for a crash between two steps. */
  readonly afterStep?: (step: RenewalStep, message: RenewalMessage) => Promise<void> | void;
}

/** The dependencies with the clock and the pause filled in, and the notification sender: what every stage gets. */
export interface RenewalContext extends RenewalDependencies {
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly notifications: NotificationSender;
}
