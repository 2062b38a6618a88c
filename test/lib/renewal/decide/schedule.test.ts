import { describe, expect, it } from 'vitest';
import type { RenewalState, RenewalStateInput } from '../../../../src/lib/domain/appConfig.js';
import { renewalStateSchema } from '../../../../src/lib/domain/appConfig.js';
import {
  BOOTSTRAP_DUE_AT,
  enqueueDecision,
  failureRetryDelayMs,
  QUEUED_STALE_MS,
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

describe('scheduledRenewalAt', () => {
  const config = { enabled: true, renewBeforeDays: 30, bootstrap: false };
  const notAfter = at(100 * DAY);
  const failedRenewal = { id: 'r1', trigger: 'scheduled', stage: 'failed' } as const;
  it.each<[string, Partial<typeof config>, RenewalStateInput, Date | undefined]>([
    ['notAfter − renewBeforeDays', {}, { notAfter }, new Date(NOW.getTime() + 70 * DAY)],
    ['a disabled app is never due', { enabled: false }, { notAfter }, undefined],
    ['no certificate yet: due only when it bootstraps', {}, {}, undefined],
    ['a bootstrap app without a certificate is due at once', { bootstrap: true }, {}, BOOTSTRAP_DUE_AT],
    ['a disabled bootstrap app is not due', { bootstrap: true, enabled: false }, {}, undefined],
    ['a bootstrap app with a certificate follows notAfter', { bootstrap: true }, { notAfter }, new Date(NOW.getTime() + 70 * DAY)],
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
      new Date(NOW.getTime() + 70 * DAY),
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
