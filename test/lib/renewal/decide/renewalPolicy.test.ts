import { describe, expect, it } from 'vitest';
import { decideRenewal, type PolicyConfig, type PolicyInput, type PolicyState } from '../../../../src/lib/renewal/decide/renewalPolicy.js';
import { renewalDueAt } from '../../../../src/lib/renewal/decide/schedule.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-22T12:00:00Z');
const daysFromNow = (days: number) => new Date(NOW.getTime() + days * DAY);

const config: PolicyConfig = { enabled: true, lifetimeDays: 365, renewBeforeDays: 30, keySize: 2048, keyVault: { enabled: true } };
/** A certificate issued 100 days ago for 365 days: renewal due in 235 days. */
const current = {
  thumbprint: 'AA',
  keyId: 'key-1',
  notBefore: daysFromNow(-100),
  notAfter: daysFromNow(265),
  keySize: 2048,
  keyVaultVersion: 'v1',
};
const state: PolicyState = { current };
const observedOk = { entraKeyIds: new Set(['key-1', 'someone-elses']), keyVaultVersions: new Set(['v0', 'v1']) };

const cases: Array<[name: string, input: Partial<PolicyInput>, renew: boolean, reason: string]> = [
  [
    'disabled app, even when overdue',
    { config: { ...config, enabled: false }, state: { current: { ...current, notAfter: daysFromNow(1) } } },
    false,
    'disabled',
  ],
  ['no managed certificate yet', { state: {} }, false, 'no-managed-certificate'],
  [
    'a renewal failed before its certificate signed in',
    { state: { current: { ...current, failedUnverified: true } } },
    true,
    'unverified-after-failure',
  ],
  ['bootstrap app without its first certificate', { config: { ...config, bootstrap: true }, state: {} }, true, 'bootstrap'],
  ['bootstrap app that has its certificate: ordinary rules', { config: { ...config, bootstrap: true } }, false, 'not-yet-due'],
  ['disabled bootstrap app', { config: { ...config, bootstrap: true, enabled: false }, state: {} }, false, 'disabled'],
  ['not yet due', {}, false, 'not-yet-due'],
  ['one second before the due time', { now: new Date(renewalDueAt(current.notAfter, 30).getTime() - 1000) }, false, 'not-yet-due'],
  [
    'exactly at the due time (notAfter − renewBeforeDays <= now)',
    { now: renewalDueAt(current.notAfter, 30) },
    true,
    'inside-renew-before-days',
  ],
  ['inside renewBeforeDays', { state: { current: { ...current, notAfter: daysFromNow(10) } } }, true, 'inside-renew-before-days'],
  ['renewBeforeDays raised so that it is now due', { config: { ...config, renewBeforeDays: 300 } }, true, 'inside-renew-before-days'],
  ['already expired', { state: { current: { ...current, notAfter: daysFromNow(-1) } } }, true, 'expired'],
  ['drift: nothing drifted', { observed: observedOk }, false, 'not-yet-due'],
  ['drift: key size changed', { config: { ...config, keySize: 4096 }, observed: observedOk }, true, 'key-size-changed'],
  [
    'drift: lifetime changed',
    { config: { ...config, lifetimeDays: 90, renewBeforeDays: 30 }, observed: observedOk },
    true,
    'lifetime-changed',
  ],
  [
    'drift: certificate missing from Entra',
    { observed: { ...observedOk, entraKeyIds: new Set(['someone-elses']) } },
    true,
    'certificate-missing-from-entra',
  ],
  [
    'drift: Key Vault version missing',
    { observed: { ...observedOk, keyVaultVersions: new Set(['v0']) } },
    true,
    'key-vault-version-missing',
  ],
  [
    'drift: Key Vault version never recorded',
    { state: { current: { ...current, keyVaultVersion: undefined } }, observed: observedOk },
    true,
    'key-vault-version-missing',
  ],
  [
    'drift: Key Vault off, its versions ignored',
    { config: { ...config, keyVault: { enabled: false } }, observed: { ...observedOk, keyVaultVersions: new Set() } },
    false,
    'not-yet-due',
  ],
  ['drift: Key Vault not read, no verdict on it', { observed: { entraKeyIds: observedOk.entraKeyIds } }, false, 'not-yet-due'],
  [
    'drift: disabled app is not renewed for drift',
    { config: { ...config, enabled: false }, observed: { ...observedOk, entraKeyIds: new Set() } },
    false,
    'disabled',
  ],
  [
    'drift: missing from Entra beats key size change',
    { config: { ...config, keySize: 3072 }, observed: { ...observedOk, entraKeyIds: new Set() } },
    true,
    'certificate-missing-from-entra',
  ],
  [
    'without observed facts, config changes wait for the due time',
    { config: { ...config, keySize: 4096, lifetimeDays: 90 } },
    false,
    'not-yet-due',
  ],
];

describe('decideRenewal', () => {
  it.each(cases)('%s', (_name, overrides, renew, reason) => {
    const decision = decideRenewal({ config, state, now: NOW, ...overrides });
    expect(decision).toMatchObject({ renew, reason });
    expect(decision.detail).not.toBe('');
  });
});
