import { renewalDueAt, renewalSpreadOffsetMs } from './schedule.js';

/**
 * The renewal decision as a chain of small pure policies, after cert-manager: each looks at the
 * app's config, its recorded state, what was observed in Entra and Key Vault (for the drift check),
 * and the clock, and either decides or passes to the next. The first policy that decides wins, so
 * the order is the precedence: a disabled app is never renewed, drift beats "not yet due", etc.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/** The slice of an app's config the policies read (the full config type satisfies it). */
export interface PolicyConfig {
  /** Fixes the app's place in the spread of renewal times (schedule.ts). */
  readonly appId: string;
  readonly enabled: boolean;
  /** Created with `bootstrap: true`: the first certificate is the scheduler's to make. */
  readonly bootstrap?: boolean;
  readonly lifetimeDays: number;
  readonly renewBeforeDays: number;
  readonly keySize: number;
  readonly keyVault: { readonly enabled: boolean };
}

/** The slice of the recorded renewal state the policies read. */
export interface PolicyState {
  /** The current managed certificate, when there is one. */
  readonly current?: {
    readonly thumbprint: string;
    readonly keyId: string;
    readonly notBefore: Date;
    readonly notAfter: Date;
    readonly keySize: number;
    /** The Key Vault version holding it, when Key Vault is enabled. */
    readonly keyVaultVersion?: string;
    /** It came from a renewal that failed before verifying it: it may not work. */
    readonly failedUnverified?: boolean;
  };
}

/** What the drift check saw in Entra and Key Vault; absent for the scheduler's due scan. */
export interface ObservedFacts {
  /** keyIds of the certificates on the app registration. */
  readonly entraKeyIds: ReadonlySet<string>;
  /** Key Vault versions of the app's certificate; undefined when Key Vault was not read. */
  readonly keyVaultVersions?: ReadonlySet<string>;
}

export interface PolicyInput {
  readonly config: PolicyConfig;
  readonly state: PolicyState;
  readonly observed?: ObservedFacts;
  readonly now: Date;
}

export type RenewalReason =
  | 'disabled'
  | 'bootstrap'
  | 'no-managed-certificate'
  | 'unverified-after-failure'
  | 'certificate-missing-from-entra'
  | 'key-vault-version-missing'
  | 'key-size-changed'
  | 'lifetime-changed'
  | 'expired'
  | 'inside-renew-before-days'
  | 'not-yet-due';

export interface RenewalDecision {
  readonly renew: boolean;
  readonly reason: RenewalReason;
  readonly detail: string;
}

/** A policy decides, or returns undefined to let the next one look. */
export type RenewalPolicy = (input: PolicyInput) => RenewalDecision | undefined;

const iso = (d: Date) => d.toISOString();

export const appIsDisabled: RenewalPolicy = ({ config }) =>
  config.enabled ? undefined : { renew: false, reason: 'disabled', detail: 'certificate management is off for this app' };

export const bootstrapIsPending: RenewalPolicy = ({ config, state }) =>
  config.bootstrap === true && !state.current
    ? { renew: true, reason: 'bootstrap', detail: 'created with bootstrap: the first certificate is still to be made' }
    : undefined;

/** Like the seed product, the scheduler renews only what it already manages; the first comes from a manual generation or bootstrap. */
export const hasNoManagedCertificate: RenewalPolicy = ({ state }) =>
  state.current
    ? undefined
    : {
        renew: false,
        reason: 'no-managed-certificate',
        detail: 'no managed certificate yet: generate the first one (POST /certificates) or create with bootstrap',
      };

/** A failed renewal left an unverified certificate current: try again (the due time carries the backoff). */
export const currentIsUnverifiedAfterFailure: RenewalPolicy = ({ state }) =>
  state.current?.failedUnverified
    ? {
        renew: true,
        reason: 'unverified-after-failure',
        detail: `the current certificate ${state.current.thumbprint} comes from a renewal that failed before it signed in`,
      }
    : undefined;

export const certificateMissingFromEntra: RenewalPolicy = ({ state, observed }) =>
  observed && state.current && !observed.entraKeyIds.has(state.current.keyId)
    ? {
        renew: true,
        reason: 'certificate-missing-from-entra',
        detail: `the current certificate ${state.current.thumbprint} (keyId ${state.current.keyId}) is no longer on the app registration`,
      }
    : undefined;

export const keyVaultVersionMissing: RenewalPolicy = ({ config, state, observed }) => {
  const version = state.current?.keyVaultVersion;
  if (!config.keyVault.enabled || !observed?.keyVaultVersions || !state.current) return undefined;
  if (version !== undefined && observed.keyVaultVersions.has(version)) return undefined;
  return {
    renew: true,
    reason: 'key-vault-version-missing',
    detail:
      version === undefined
        ? 'Key Vault is enabled but the current certificate was never imported'
        : `Key Vault version ${version} of the current certificate is missing`,
  };
};

export const keySizeChanged: RenewalPolicy = ({ config, state, observed }) =>
  observed && state.current && state.current.keySize !== config.keySize
    ? { renew: true, reason: 'key-size-changed', detail: `key size changed from ${state.current.keySize} to ${config.keySize} bits` }
    : undefined;

export const lifetimeChanged: RenewalPolicy = ({ config, state, observed }) => {
  if (!observed || !state.current) return undefined;
  const days = Math.round((state.current.notAfter.getTime() - state.current.notBefore.getTime()) / DAY_MS);
  return days === config.lifetimeDays
    ? undefined
    : { renew: true, reason: 'lifetime-changed', detail: `lifetime changed from ${days} to ${config.lifetimeDays} days` };
};

export const hasExpired: RenewalPolicy = ({ state, now }) =>
  state.current && state.current.notAfter.getTime() <= now.getTime()
    ? { renew: true, reason: 'expired', detail: `the current certificate expired at ${iso(state.current.notAfter)}` }
    : undefined;

export const isInsideRenewBeforeDays: RenewalPolicy = ({ config, state, now }) => {
  if (!state.current) return undefined;
  const due = renewalDueAt(state.current.notAfter, config);
  const earlier = Math.round(renewalSpreadOffsetMs(config) / 60_000);
  const when = `${config.renewBeforeDays} days before expiry${earlier > 0 ? `, less ${earlier} min for the app's place in the fleet's spread` : ''}`;
  return due.getTime() <= now.getTime()
    ? { renew: true, reason: 'inside-renew-before-days', detail: `renewal was due at ${iso(due)} (${when})` }
    : { renew: false, reason: 'not-yet-due', detail: `renewal is due at ${iso(due)}` };
};

/** The precedence of the chain. Drift policies only speak when facts were observed. */
export const RENEWAL_POLICIES: readonly RenewalPolicy[] = [
  appIsDisabled,
  bootstrapIsPending,
  hasNoManagedCertificate,
  currentIsUnverifiedAfterFailure,
  certificateMissingFromEntra,
  keyVaultVersionMissing,
  keySizeChanged,
  lifetimeChanged,
  hasExpired,
  isInsideRenewBeforeDays,
];

export function decideRenewal(input: PolicyInput, policies: readonly RenewalPolicy[] = RENEWAL_POLICIES): RenewalDecision {
  for (const policy of policies) {
    const decision = policy(input);
    if (decision) return decision;
  }
  // isInsideRenewBeforeDays always decides when there is a current certificate, and
  // hasNoManagedCertificate when there is none, so this is only reached with a custom chain.
  return { renew: false, reason: 'not-yet-due', detail: 'no policy asked for a renewal' };
}
