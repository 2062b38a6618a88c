import { describe, expect, it } from 'vitest';
import { spreadFraction } from '../../../../src/lib/renewal/decide/spread.js';

describe('spreadFraction', () => {
  const keys = Array.from({ length: 2000 }, (_, i) => `5a4db0c5-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const fractions = keys.map(spreadFraction);

  it('is in [0, 1) and the same for the same key', () => {
    expect(fractions.every((f) => f >= 0 && f < 1)).toBe(true);
    expect(keys.map(spreadFraction)).toEqual(fractions);
  });

  it('spreads keys that differ in one character evenly: every tenth of the range holds 7 to 13 % of them', () => {
    const tenths = Array.from({ length: 10 }, (_, i) => fractions.filter((f) => Math.floor(f * 10) === i).length / keys.length);
    for (const share of tenths) {
      expect(share).toBeGreaterThan(0.07);
      expect(share).toBeLessThan(0.13);
    }
  });
});
