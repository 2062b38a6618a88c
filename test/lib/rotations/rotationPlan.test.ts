import { describe, expect, it } from 'vitest';
import type { RenewalStateInput } from '../../../src/lib/domain/appConfig.js';
import { rotationRequestSchema, type RotationSelector } from '../../../src/lib/domain/rotation.js';
import { progressOf, selects, skipReason } from '../../../src/lib/rotations/rotationPlan.js';
import { FIXTURE_APP_ID, storedAppFixture } from '../../support/storedAppFixture.js';

/** The pure rules of a bulk rotation (issue 19.1): which apps a selector takes, and where each stands. */

const REQUESTED = '2026-11-22T12:00:00.000Z';
const before = '2026-11-22T11:00:00.000Z';
const after = '2026-11-22T13:00:00.000Z';
const THUMB = 'AB'.repeat(20);
const certified: RenewalStateInput = {
  currentThumbprint: THUMB,
  keyId: 'k',
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2027-01-01T00:00:00.000Z',
  keySize: 2048,
};

describe('selects', () => {
  const app = storedAppFixture({ state: certified });
  it.each<[string, RotationSelector, boolean]>([
    ['all', { all: true }, true],
    ['named', { appIds: [FIXTURE_APP_ID] }, true],
    ['not named', { appIds: ['99999999-2222-4333-8444-555555555555'] }, false],
    ['its thumbprint, any case', { thumbprints: [THUMB.toLowerCase()] }, true],
    ['another thumbprint', { thumbprints: ['CD'.repeat(20)] }, false],
    ['issued before', { issuedBefore: '2026-06-01T00:00:00Z' }, true],
    ['issued after', { issuedBefore: '2025-06-01T00:00:00Z' }, false],
    ['smaller key', { keySizeBelow: 3072 }, true],
    ['key as large', { keySizeBelow: 2048 }, false],
    ['criteria combine: named and a smaller key', { appIds: [FIXTURE_APP_ID], keySizeBelow: 3072 }, true],
    ['criteria combine: named but key as large', { appIds: [FIXTURE_APP_ID], keySizeBelow: 2048 }, false],
  ])('%s', (_name, selector, expected) => {
    expect(selects(selector, app)).toBe(expected);
  });

  it('an app without a certificate meets no certificate criterion', () => {
    const bare = storedAppFixture();
    expect([{ thumbprints: [THUMB] }, { issuedBefore: after }, { keySizeBelow: 4096 }].map((s) => selects(s, bare))).toEqual([
      false,
      false,
      false,
    ]);
    expect(skipReason(bare)).toMatch(/no managed certificate yet/);
    expect(skipReason(storedAppFixture({ config: { enabled: false }, state: certified }))).toMatch(/management is off/);
    expect(skipReason(storedAppFixture({ state: certified }))).toBeUndefined();
  });
});

describe('the request schema', () => {
  it.each<[string, unknown, string[]]>([
    ['no criterion', { selector: {}, reason: 'x' }, ['selector']],
    ['all with another', { selector: { all: true, keySizeBelow: 3072 }, reason: 'x' }, ['selector.all']],
    ['all: false', { selector: { all: false }, reason: 'x' }, ['selector.all']],
    [
      'a bad appId and thumbprint',
      { selector: { appIds: ['nope'], thumbprints: ['12'] }, reason: 'x' },
      ['selector.appIds.0', 'selector.thumbprints.0'],
    ],
    ['an unknown criterion', { selector: { tags: ['a'] }, reason: 'x' }, ['selector']],
    ['no reason', { selector: { all: true } }, ['reason']],
    ['a blank reason', { selector: { all: true }, reason: '   ' }, ['reason']],
  ])('%s', (_name, body, paths) => {
    const result = rotationRequestSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect([...new Set(result.error!.issues.map((i) => i.path.join('.')))].sort()).toEqual(paths.sort());
  });
});

describe('progressOf', () => {
  const row = { stage: 'queued' as const, renewalId: 'mine' };
  const withRenewal = (renewal: RenewalStateInput['renewal'], extra: RenewalStateInput = {}) =>
    storedAppFixture({ state: { ...certified, renewal, lastError: 'boom', ...extra } });
  it.each<[string, ReturnType<typeof storedAppFixture> | undefined, ReturnType<typeof progressOf>]>([
    ['the app was deleted', undefined, { stage: 'skipped', renewalId: 'mine', detail: 'the app is no longer managed' }],
    ['no renewal yet', storedAppFixture({ state: certified }), { stage: 'queued', renewalId: 'mine' }],
    [
      'an older renewal',
      withRenewal({ id: 'old', trigger: 'scheduled', stage: 'completed', deployedAt: before }),
      { stage: 'queued', renewalId: 'mine' },
    ],
    [
      'its own, deployed',
      withRenewal({ id: 'mine', trigger: 'rotation', stage: 'deployed', deployedAt: after }),
      { stage: 'deployed', renewalId: 'mine' },
    ],
    [
      'its own, completed',
      withRenewal({ id: 'mine', trigger: 'rotation', stage: 'completed', deployedAt: after }),
      { stage: 'verified', renewalId: 'mine' },
    ],
    [
      'its own, failed before deploying',
      withRenewal({ id: 'mine', trigger: 'rotation', stage: 'failed' }),
      { stage: 'failed', renewalId: 'mine', detail: 'boom' },
    ],
    [
      'another deployed after the request: adopted',
      withRenewal({ id: 'sched', trigger: 'scheduled', stage: 'completed', deployedAt: after }),
      { stage: 'verified', renewalId: 'sched' },
    ],
    [
      'another deployed after the request that failed since: still its own to come',
      withRenewal({ id: 'sched', trigger: 'scheduled', stage: 'failed', deployedAt: after }),
      { stage: 'queued', renewalId: 'mine' },
    ],
  ])('%s', (_name, app, expected) => {
    expect(progressOf(row, app, REQUESTED)).toEqual(expected);
  });

  it('an adopted renewal that fails later is the rotation failing', () => {
    const app = withRenewal({ id: 'sched', trigger: 'scheduled', stage: 'failed', deployedAt: after });
    expect(progressOf({ stage: 'deployed', renewalId: 'sched' }, app, REQUESTED)).toEqual({
      stage: 'failed',
      renewalId: 'sched',
      detail: 'boom',
    });
  });
  it('a skipped row stays skipped', () => {
    expect(progressOf({ stage: 'skipped', renewalId: undefined }, undefined, REQUESTED)).toEqual({ stage: 'skipped' });
  });
});
