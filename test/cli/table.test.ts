import { describe, expect, it } from 'vitest';
import { cell, daysLeft, table } from '../../src/cli/table.js';

describe('the CLI tables', () => {
  it('drop control characters from tenant text, so a display name cannot drive the terminal', () => {
    expect(cell('Evil\u001b[2J\u001b]0;owned\u0007 app\r\n')).toBe('Evil[2J]0;owned app');
    expect(cell(undefined)).toBe('-');
    expect(cell({ a: 1 })).toBe('{"a":1}');
  });

  it('pad columns to their widest cell and count days left', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xyz', 1],
          [undefined, 'b'],
        ],
      ),
    ).toBe('A    LONGER\nxyz  1\n-    b\n');
    const now = Date.parse('2026-12-01T00:00:00Z');
    expect([daysLeft('2026-12-11T12:00:00Z', now), daysLeft('2026-11-30T00:00:00Z', now), daysLeft(undefined, now)]).toEqual([
      '10',
      '-1',
      '-',
    ]);
  });
});
