import { randomUUID } from 'node:crypto';
import { format } from 'node:util';
import functions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { invocationLog, structuredLine } from '../../../src/lib/logging/invocationLog.js';

/** The real InvocationContext: its log calls reach the handler as the worker gets them, joined by util.format. */
function traces(): { log: ReturnType<typeof invocationLog>; written: { level: string; message: string }[] } {
  const written: { level: string; message: string }[] = [];
  const context = new functions.InvocationContext({
    invocationId: randomUUID(),
    functionName: 'renewalScheduler',
    logHandler: (level, ...args) => void written.push({ level, message: format(...args) }),
  });
  return { log: invocationLog(context), written };
}

describe('invocationLog', () => {
  it('writes the fields as JSON after the message, which a query can parse back', () => {
    const { log, written } = traces();
    log('scheduler: drift check failed for app a1: denied', {
      appId: 'a1',
      renewalId: undefined,
      stage: 'drift check',
      outcome: 'failed',
      cause: 'denied',
    });
    expect(written).toEqual([
      {
        level: 'error',
        message:
          'scheduler: drift check failed for app a1: denied {"appId":"a1","stage":"drift check","outcome":"failed","cause":"denied"}',
      },
    ]);
    const message = written[0]!.message;
    expect(JSON.parse(message.slice(message.indexOf('{')))).toEqual({
      appId: 'a1',
      stage: 'drift check',
      outcome: 'failed',
      cause: 'denied',
    });
  });

  it('logs at the level the outcome calls for: failed an error, at-risk a warning, the rest information', () => {
    const { log, written } = traces();
    log('a', { outcome: 'failed' });
    log('b', { outcome: 'at-risk' });
    log('c', { outcome: 'ok' });
    log('d');
    expect(written.map((w) => [w.level, w.message])).toEqual([
      ['error', 'a {"outcome":"failed"}'],
      ['warning', 'b {"outcome":"at-risk"}'],
      ['information', 'c {"outcome":"ok"}'],
      ['information', 'd'],
    ]);
  });

  it('leaves a line without fields as it is', () => {
    expect(structuredLine('scheduler tick', {})).toBe('scheduler tick');
    expect(structuredLine('scheduler tick')).toBe('scheduler tick');
  });
});
