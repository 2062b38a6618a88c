import { describe, expect, it } from 'vitest';
import { retryAfterMsOf, retryAfterSecondsOf, toRotatorError } from '../../src/lib/azureErrors.js';
import { RetriableError, ThrottledError } from '../../src/lib/errors.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] });

describe('retryAfterMsOf', () => {
  it.each<[string, Record<string, string>, number | undefined, number | undefined]>([
    ['whole seconds', { 'retry-after': '7' }, 7000, 7],
    ['fractional seconds, as Graph sends them', { 'retry-after': '2.128' }, 2128, 3],
    ['an HTTP date', { 'retry-after': new Date(NOW + 90_000).toUTCString() }, 90_000, 90],
    ['a date already past', { 'retry-after': new Date(NOW - 5000).toUTCString() }, 0, 0],
    ['retry-after-ms first', { 'retry-after-ms': '1500', 'retry-after': '60' }, 1500, 2],
    ['x-ms-retry-after-ms', { 'x-ms-retry-after-ms': '250' }, 250, 1],
    ['none', {}, undefined, undefined],
    ['unreadable', { 'retry-after': 'soon' }, undefined, undefined],
    ['empty retry-after-ms falls through to retry-after', { 'retry-after-ms': '', 'retry-after': '3' }, 3000, 3],
  ])('%s', (_name, values, ms, seconds) => {
    expect(retryAfterMsOf(headers(values), NOW)).toBe(ms);
    expect(retryAfterSecondsOf(headers(values), NOW)).toBe(seconds);
  });
});

describe('toRotatorError on an Azure SDK RestError', () => {
  const restError = (statusCode: number, retryAfter?: string) =>
    Object.assign(new Error(`status ${statusCode}`), {
      name: 'RestError',
      statusCode,
      response: { headers: headers(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) },
    });
  const context = { operation: 'importing certificate', roleToGrant: 'Key Vault Certificates Officer', scope: 'the vault' };

  it('is a ThrottledError for a 429, carrying its Retry-After', () => {
    const error = toRotatorError(restError(429, '12'), context);
    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as ThrottledError).retryAfterSeconds).toBe(12);
  });

  it('is a RetriableError but not a throttle for a 503', () => {
    const error = toRotatorError(restError(503, '5'), context);
    expect(error).toBeInstanceOf(RetriableError);
    expect(error).not.toBeInstanceOf(ThrottledError);
    expect((error as RetriableError).retryAfterSeconds).toBe(5);
  });
});
