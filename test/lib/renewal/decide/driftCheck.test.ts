import { describe, expect, it } from 'vitest';
import type { RenewalStateInput } from '../../../../src/lib/domain/appConfig.js';
import { confirmIsStuck, driftCheckIsWanted, isDriftRenewal, STUCK_CONFIRM_MS } from '../../../../src/lib/renewal/decide/driftCheck.js';
import { policyStateOf } from '../../../../src/lib/renewal/decide/policyStateOf.js';
import type { RenewalDecision } from '../../../../src/lib/renewal/decide/renewalPolicy.js';
import { storedAppFixture } from '../../../support/storedAppFixture.js';

const DAY = 24 * 3600_000;
const NOW = new Date('2026-11-22T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();

const certified = { currentThumbprint: 'AA'.repeat(20), keyId: 'key-1', notBefore: at(-100 * DAY), notAfter: at(265 * DAY) };
const lease = (until: string) => ({ owner: 'worker', renewalId: 'r1', until });
const deployedAgo = (ms: number) => ({ id: 'r1', trigger: 'manual', stage: 'deployed', deployedAt: at(-ms) }) as const;

describe('driftCheckIsWanted', () => {
  it.each<[string, Record<string, unknown>, RenewalStateInput, boolean]>([
    ['a settled certificate far from its due time', {}, certified, true],
    ['management off', { enabled: false }, certified, false],
    ['no certificate yet', {}, {}, false],
    ['a renewal holds the lease', {}, { ...certified, lease: lease(at(60_000)) }, false],
    ['a lease that expired no longer counts', {}, { ...certified, lease: lease(at(-60_000)) }, true],
    ['a renewal deployed and not yet confirmed', {}, { ...certified, renewal: deployedAgo(60_000) }, false],
    ['due: the due index has it', {}, { ...certified, notAfter: at(10 * DAY) }, false],
    ['expired: the due index has it', {}, { ...certified, notAfter: at(-DAY) }, false],
  ])('%s', (_name, config, state, wanted) => {
    expect(driftCheckIsWanted(storedAppFixture({ config, state }), NOW)).toBe(wanted);
  });
});

describe('isDriftRenewal', () => {
  it.each<[string, RenewalDecision, boolean]>([
    ['key size changed', { renew: true, reason: 'key-size-changed', detail: '' }, true],
    ['missing from Entra', { renew: true, reason: 'certificate-missing-from-entra', detail: '' }, true],
    ['due: the index renews it', { renew: true, reason: 'inside-renew-before-days', detail: '' }, false],
    ['expired: the index renews it', { renew: true, reason: 'expired', detail: '' }, false],
    ['nothing to renew', { renew: false, reason: 'not-yet-due', detail: '' }, false],
  ])('%s', (_name, decision, drift) => {
    expect(isDriftRenewal(decision)).toBe(drift);
  });
});

describe('confirmIsStuck', () => {
  it.each<[string, RenewalStateInput, boolean]>([
    ['deployed three hours ago, never confirmed', { ...certified, renewal: deployedAgo(STUCK_CONFIRM_MS) }, true],
    ['deployed just under three hours ago', { ...certified, renewal: deployedAgo(STUCK_CONFIRM_MS - 1) }, false],
    ['stuck, but a delivery holds the lease', { ...certified, renewal: deployedAgo(STUCK_CONFIRM_MS), lease: lease(at(60_000)) }, false],
    ['completed long ago', { ...certified, renewal: { ...deployedAgo(DAY), stage: 'completed' } }, false],
    ['no renewal recorded', certified, false],
  ])('%s', (_name, state, stuck) => {
    expect(confirmIsStuck(storedAppFixture({ state }), NOW)).toBe(stuck);
  });
});

describe('policyStateOf', () => {
  it('has no current certificate until thumbprint, notBefore and notAfter are all recorded', () => {
    expect(policyStateOf(storedAppFixture({ state: { currentThumbprint: 'AA', notAfter: at(DAY) } }))).toEqual({});
  });

  it('reads the current certificate, the config key size standing in for an unrecorded one', () => {
    const app = storedAppFixture({ config: { keySize: 3072 }, state: { ...certified, keyVaultVersion: 'v1' } });
    expect(policyStateOf(app)).toEqual({
      current: {
        thumbprint: certified.currentThumbprint,
        keyId: 'key-1',
        notBefore: new Date(certified.notBefore),
        notAfter: new Date(certified.notAfter),
        keySize: 3072,
        keyVaultVersion: 'v1',
        failedUnverified: false,
      },
    });
  });

  it('marks a current certificate a failed renewal left unverified', () => {
    const state = { ...certified, renewal: { id: 'r1', trigger: 'manual', stage: 'failed' }, lastOutcomeAt: at(-60_000) } as const;
    expect(policyStateOf(storedAppFixture({ state })).current?.failedUnverified).toBe(true);
  });
});
