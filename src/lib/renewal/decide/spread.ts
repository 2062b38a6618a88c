import { createHash } from 'node:crypto';

/**
 * A fraction in [0, 1) fixed by a key: where one app (or one renewal) falls in a spread, the same on
 * every instance and every run, so two apps created together land apart and one app never moves.
 * The first 48 bits of SHA-256 of the key, which spread evenly whatever the keys have in common.
 */
export function spreadFraction(key: string): number {
  return createHash('sha256').update(key).digest().readUIntBE(0, 6) / 2 ** 48;
}
