import { describe, expect, it } from 'vitest';
import {
  afterWrite,
  IDLE_WRITES,
  nextWrite,
  usageOf,
  writeIntervalMs,
  type WriteAnswer,
  type WritePacingState,
} from '../../../src/lib/graph/writePacing.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const options = { slowIntervalMs: 1000, throttledWaitMs: 30_000 };
const state = (overrides: Partial<WritePacingState> = {}): WritePacingState => ({ ...IDLE_WRITES, ...overrides });

describe('usageOf (x-ms-throttle-limit-percentage)', () => {
  it.each<[string, string | null | undefined, number]>([
    ['absent: below 0.8', null, 0],
    ['missing header', undefined, 0],
    ['a fraction, as Graph documents it', '0.85', 0.85],
    ['the top of its documented range', '1.8', 1.8],
    ['written in percent', '85', 0.85],
    ['with spaces', ' 0.9 ', 0.9],
    ['unreadable', 'high', 0],
    ['negative', '-1', 0],
  ])('%s', (_name, header, usage) => {
    expect(usageOf(header)).toBeCloseTo(usage, 10);
  });
});

describe('writeIntervalMs', () => {
  it.each([
    ['below 0.8: no gap', 0.79, 0],
    ['at 0.8: the slow interval', 0.8, 1000],
    ['at 0.9: twice it', 0.9, 2000],
    ['at 1.0 (a 429): three times', 1, 3000],
    ['at 1.8: eleven times', 1.8, 11_000],
  ])('%s', (_name, usage, interval) => {
    expect(writeIntervalMs(usage, options)).toBeCloseTo(interval, 6);
  });
});

describe('nextWrite', () => {
  it.each<[string, WritePacingState, number]>([
    ['idle: at once', state(), NOW],
    ['below 0.8, a write a moment ago: at once', state({ lastStart: NOW - 1 }), NOW],
    ['at 0.8, the last write 200 ms ago: 800 ms later', state({ usage: 0.8, lastStart: NOW - 200 }), NOW + 800],
    ['at 0.8, the last write long ago: at once', state({ usage: 0.8, lastStart: NOW - 5000 }), NOW],
    ['at 0.9: two seconds after the last', state({ usage: 0.9, lastStart: NOW }), NOW + 2000],
    ['held by a Retry-After: not before it', state({ notBefore: NOW + 4000 }), NOW + 4000],
    ['a Retry-After already past: at once', state({ notBefore: NOW - 1 }), NOW],
    ['the later of Retry-After and the gap', state({ usage: 1, notBefore: NOW + 1000, lastStart: NOW }), NOW + 3000],
  ])('%s', (_name, before, startAt) => {
    const booked = nextWrite(before, NOW, options);
    expect(booked.startAt).toBeCloseTo(startAt, 6);
    expect(booked.state).toEqual({ ...before, lastStart: booked.startAt });
  });

  it('queues concurrent writers behind each other while slowed down', () => {
    let current = state({ usage: 0.8, lastStart: NOW - 10_000 });
    const starts = [];
    for (let i = 0; i < 4; i += 1) {
      const booked = nextWrite(current, NOW, options);
      starts.push(booked.startAt - NOW);
      current = booked.state;
    }
    expect(starts).toEqual([0, 1000, 2000, 3000]);
  });
});

describe('afterWrite', () => {
  it.each<[string, WritePacingState, WriteAnswer, WritePacingState]>([
    ['a write under 0.8 (no header)', state({ usage: 0.9 }), { status: 204 }, state({ usage: 0 })],
    ['a write reporting 0.85', state(), { status: 204, limitPercentage: '0.85' }, state({ usage: 0.85 })],
    ['a refused write still reports usage', state(), { status: 400, limitPercentage: '0.95' }, state({ usage: 0.95 })],
    [
      'a 429 holds writes for its Retry-After and counts as a full bucket',
      state({ usage: 0.85 }),
      { status: 429, retryAfterMs: 2128 },
      state({ usage: 1, notBefore: NOW + 2128 }),
    ],
    ['a 429 without Retry-After holds writes for the default wait', state(), { status: 429 }, state({ usage: 1, notBefore: NOW + 30_000 })],
    [
      'a shorter Retry-After never shortens a longer hold',
      state({ usage: 1, notBefore: NOW + 9000 }),
      { status: 429, retryAfterMs: 1000 },
      state({ usage: 1, notBefore: NOW + 9000 }),
    ],
    ['a 1.2 report after a 429 is kept', state({ usage: 1 }), { status: 204, limitPercentage: '1.2' }, state({ usage: 1.2 })],
    ['a 503 says nothing about the limits', state({ usage: 0.9 }), { status: 503 }, state({ usage: 0.9 })],
    ['no answer says nothing either', state({ usage: 0.9 }), { status: 0 }, state({ usage: 0.9 })],
  ])('%s', (_name, before, answer, after) => {
    expect(afterWrite(before, answer, NOW, options)).toEqual(after);
  });
});
