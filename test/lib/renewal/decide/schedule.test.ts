import { describe, expect, it } from 'vitest';
import type { RenewalState, RenewalStateInput } from '../../../../src/lib/domain/appConfig.js';
import { renewalStateSchema } from '../../../../src/lib/domain/appConfig.js';
import {
  BOOTSTRAP_DUE_AT,
  enqueueDecision,
  failureRetryDelayMs,
  MAX_RENEWAL_SPREAD_MS,
  QUEUED_STALE_MS,
  renewalSpreadMs,
  renewalSpreadOffsetMs,
  scheduledRenewalAt,
} from '../../../../src/lib/renewal/decide/schedule.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const NOW = new Date('2026-11-22T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();
const state = (input: RenewalStateInput): RenewalState => renewalStateSchema.parse(input);

describe('failureRetryDelayMs', () => {
  it.each([
    ['first failure: an hour', 1, HOUR],
    ['no failure counted yet: still an hour', 0, HOUR],
    ['second: two hours', 2, 2 * HOUR],
    ['fifth: sixteen hours', 5, 16 * HOUR],
    ['sixth: capped at a day', 6, DAY],
    ['fortieth: still a day', 40, DAY],
  ])('%s', (_name, failures, delay) => {
    expect(failureRetryDelayMs(failures)).toBe(delay);
  });
});

/** Fixed, GUID-shaped app ids: the tests are the same on every run. */
const appIds = (count: number) => Array.from({ length: count }, (_, i) => `5a4db0c5-0000-4000-8000-${String(i).padStart(12, '0')}`);

describe('renewalSpreadMs', () => {
  it.each([
    ['renewBeforeDays 30 of 365: a day', 30, 365, DAY],
    ['renewBeforeDays 5: a tenth of the window', 5, 365, DAY / 2],
    ['renewBeforeDays 1: a tenth of the window', 1, 30, DAY / 10],
    ['31 days of which 30 before expiry: a tenth of the one day between renewals', 30, 31, DAY / 10],
    ['renewBeforeDays 300 of 1095: still a day', 300, 1095, MAX_RENEWAL_SPREAD_MS],
  ])('%s', (_name, renewBeforeDays, lifetimeDays, spread) => {
    expect(renewalSpreadMs({ renewBeforeDays, lifetimeDays })).toBeCloseTo(spread, 3);
  });
});

describe('renewalSpreadOffsetMs', () => {
  it.each([
    ['a day', 30, 365],
    ['half a day', 5, 365],
    ['2.4 hours', 1, 30],
  ])('fills its spread (%s) and never leaves it', (_name, renewBeforeDays, lifetimeDays) => {
    const spread = renewalSpreadMs({ renewBeforeDays, lifetimeDays });
    const offsets = appIds(500).map((appId) => renewalSpreadOffsetMs({ appId, renewBeforeDays, lifetimeDays }));
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThan(spread);
    expect(Math.min(...offsets)).toBeLessThan(spread * 0.05);
    expect(Math.max(...offsets)).toBeGreaterThan(spread * 0.95);
  });

  it('is fixed by the appId, whatever its case, and by nothing else of the app', () => {
    const timing = { appId: '5A4DB0C5-0000-4000-8000-0000000000AB', renewBeforeDays: 30, lifetimeDays: 365 };
    const offset = renewalSpreadOffsetMs(timing);
    expect(renewalSpreadOffsetMs({ ...timing, appId: timing.appId.toLowerCase() })).toBe(offset);
    expect(renewalSpreadOffsetMs({ ...timing, lifetimeDays: 730 })).toBe(offset);
  });

  it('spreads a fleet whose certificates expire at one moment over the quarter-hour ticks of a day', () => {
    // 200 apps created together: without the spread all 200 fall due in one tick of the default schedule.
    const notAfter = at(365 * DAY);
    const config = { enabled: true, bootstrap: false, renewBeforeDays: 30, lifetimeDays: 365 };
    const ticks = new Map<number, number>();
    for (const appId of appIds(200)) {
      const due = scheduledRenewalAt({ ...config, appId }, state({ notAfter }))!.getTime();
      const tick = Math.floor(due / (15 * 60_000));
      ticks.set(tick, (ticks.get(tick) ?? 0) + 1);
    }
    expect(ticks.size).toBeGreaterThanOrEqual(70);
    expect(Math.max(...ticks.values())).toBeLessThanOrEqual(8);
  });
});

describe('scheduledRenewalAt', () => {
  const config = { appId: '5a4db0c5-0000-4000-8000-000000000001', enabled: true, renewBeforeDays: 30, lifetimeDays: 365, bootstrap: false };
  const notAfter = at(100 * DAY);
  // notAfter − renewBeforeDays, less this app's place in the spread (tested above).
  const dueOfNotAfter = new Date(NOW.getTime() + 70 * DAY - renewalSpreadOffsetMs(config));
  const failedRenewal = { id: 'r1', trigger: 'scheduled', stage: 'failed' } as const;
  it.each<[string, Partial<typeof config>, RenewalStateInput, Date | undefined]>([
    ['notAfter − renewBeforeDays, less the app’s place in the spread', {}, { notAfter }, dueOfNotAfter],
    ['a disabled app is never due', { enabled: false }, { notAfter }, undefined],
    ['no certificate yet: due only when it bootstraps', {}, {}, undefined],
    ['a bootstrap app without a certificate is due at once', { bootstrap: true }, {}, BOOTSTRAP_DUE_AT],
    ['a disabled bootstrap app is not due', { bootstrap: true, enabled: false }, {}, undefined],
    ['a bootstrap app with a certificate follows notAfter', { bootstrap: true }, { notAfter }, dueOfNotAfter],
    [
      'a failure that left an unverified certificate: after the failure backoff',
      {},
      { notAfter, renewal: failedRenewal, lastOutcomeAt: at(0), consecutiveFailures: 2 },
      new Date(NOW.getTime() + 2 * HOUR),
    ],
    [
      'a failure after the certificate was verified: notAfter again',
      {},
      { notAfter, renewal: failedRenewal, lastOutcomeAt: at(0), verifiedAt: at(-DAY), consecutiveFailures: 2 },
      dueOfNotAfter,
    ],
  ])('%s', (_name, overrides, input, due) => {
    expect(scheduledRenewalAt({ ...config, ...overrides }, state(input))).toEqual(due);
  });
});

describe('enqueueDecision', () => {
  const forDueAt = at(-DAY);
  const fresh = () => 'fresh-id';
  const queued = (queuedAt: string, dueAt = forDueAt) => ({ renewalId: 'queued-id', forDueAt: dueAt, at: queuedAt });
  it.each<[string, RenewalStateInput, ReturnType<typeof enqueueDecision>]>([
    ['never queued: a fresh renewal', {}, { enqueue: true, renewalId: 'fresh-id' }],
    [
      'queued for an earlier due time: a fresh renewal',
      { queued: queued(at(-HOUR), at(-100 * DAY)) },
      { enqueue: true, renewalId: 'fresh-id' },
    ],
    ['queued a minute ago for this due time: not again', { queued: queued(at(-60_000)) }, { enqueue: false }],
    ['queued just under the stale age: not yet', { queued: queued(at(-QUEUED_STALE_MS + 1)) }, { enqueue: false }],
    [
      'queued at the stale age without a deploy: re-sent under its id',
      { queued: queued(at(-QUEUED_STALE_MS)) },
      { enqueue: true, renewalId: 'queued-id' },
    ],
    [
      'the queued renewal failed, inside its backoff: not yet',
      {
        queued: queued(at(-3 * HOUR)),
        renewal: { id: 'queued-id', trigger: 'scheduled', stage: 'failed' },
        lastOutcomeAt: at(-30 * 60_000),
        consecutiveFailures: 1,
      },
      { enqueue: false },
    ],
    [
      'the queued renewal failed, past its backoff: a fresh renewal',
      {
        queued: queued(at(-3 * HOUR)),
        renewal: { id: 'queued-id', trigger: 'scheduled', stage: 'failed' },
        lastOutcomeAt: at(-HOUR),
        consecutiveFailures: 1,
      },
      { enqueue: true, renewalId: 'fresh-id' },
    ],
    [
      'the backoff doubles with consecutive failures',
      {
        queued: queued(at(-3 * HOUR)),
        renewal: { id: 'queued-id', trigger: 'scheduled', stage: 'failed' },
        lastOutcomeAt: at(-HOUR),
        consecutiveFailures: 2,
      },
      { enqueue: false },
    ],
    [
      'another renewal failed, not the queued one: the stale rule applies',
      { queued: queued(at(-60_000)), renewal: { id: 'other-id', trigger: 'manual', stage: 'failed' }, lastOutcomeAt: at(-DAY) },
      { enqueue: false },
    ],
  ])('%s', (_name, input, decision) => {
    expect(enqueueDecision(state(input), forDueAt, NOW, fresh)).toEqual(decision);
  });
});
