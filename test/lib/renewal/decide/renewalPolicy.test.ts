import { describe, expect, it } from 'vitest';
import { decideRenewal, type PolicyConfig, type PolicyInput, type PolicyState } from '../../../../src/lib/renewal/decide/renewalPolicy.js';
import { renewalDueAt, renewalSpreadOffsetMs } from '../../../../src/lib/renewal/decide/schedule.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-22T12:00:00Z');
const daysFromNow = (days: number) => new Date(NOW.getTime() + days * DAY);

const config: PolicyConfig = {
  appId: '5a4db0c5-0000-4000-8000-000000000001',
  enabled: true,
  lifetimeDays: 365,
  renewBeforeDays: 30,
  keySize: 2048,
  keyVault: { enabled: true },
};
/** notAfter − renewBeforeDays: what docs/renewal.md calls due; an app falls due up to a day before it. */
const latestDue = (notAfter: Date) => new Date(notAfter.getTime() - 30 * DAY);
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
  ['one second before the due time', { now: new Date(renewalDueAt(current.notAfter, config).getTime() - 1000) }, false, 'not-yet-due'],
  ['exactly at the due time', { now: renewalDueAt(current.notAfter, config) }, true, 'inside-renew-before-days'],
  [
    'a second before notAfter − renewBeforeDays: due already, inside the app’s spread',
    { now: new Date(latestDue(current.notAfter).getTime() - 1000) },
    true,
    'inside-renew-before-days',
  ],
  [
    'a day before notAfter − renewBeforeDays: not yet, the spread is under a day',
    { now: new Date(latestDue(current.notAfter).getTime() - DAY) },
    false,
    'not-yet-due',
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
  it('has an app whose place in the spread is more than a second (the cases above rely on it)', () => {
    expect(renewalSpreadOffsetMs(config)).toBeGreaterThan(1000);
  });

  it.each(cases)('%s', (_name, overrides, renew, reason) => {
    const decision = decideRenewal({ config, state, now: NOW, ...overrides });
    expect(decision).toMatchObject({ renew, reason });
    expect(decision.detail).not.toBe('');
  });

  it('renews every app by notAfter − renewBeforeDays at the latest, each at its own time before it', () => {
    const apps = Array.from({ length: 200 }, (_, i) => ({ ...config, appId: `5a4db0c5-0000-4000-8000-${String(i).padStart(12, '0')}` }));
    const at = (now: Date) => apps.filter((app) => decideRenewal({ config: app, state, now }).renew).length;
    expect(at(latestDue(current.notAfter))).toBe(200);
    expect(at(new Date(latestDue(current.notAfter).getTime() - DAY))).toBe(0);
    const halfway = at(new Date(latestDue(current.notAfter).getTime() - DAY / 2));
    expect(halfway).toBeGreaterThan(60);
    expect(halfway).toBeLessThan(140);
  });

  it('says when a due app fell due and why earlier than renewBeforeDays', () => {
    const decision = decideRenewal({ config, state, now: latestDue(current.notAfter) });
    const minutes = Math.round(renewalSpreadOffsetMs(config) / 60_000);
    expect(decision.detail).toBe(
      `renewal was due at ${renewalDueAt(current.notAfter, config).toISOString()} (30 days before expiry, less ${minutes} min for the app's place in the fleet's spread)`,
    );
  });
});
