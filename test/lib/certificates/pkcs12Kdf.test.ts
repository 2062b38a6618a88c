import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { bmpPassword, pkcs12Kdf } from '../../../src/lib/certificates/pkcs12Kdf.js';

describe('pkcs12Kdf', () => {
  // node-forge's independent implementation of RFC 7292 B.2 is the reference.
  const reference = (
    digest: 'sha1' | 'sha256' | 'sha384' | 'sha512',
    password: string | null,
    salt: Buffer,
    id: number,
    iterations: number,
    length: number,
  ) =>
    Buffer.from(
      forge.pkcs12
        // forge's typings say string; its code takes null as "no password" (zero bytes).
        .generateKey(
          password as string,
          forge.util.createBuffer(salt.toString('binary')),
          id,
          iterations,
          length,
          forge.md[digest].create(),
        )
        .getBytes(),
      'binary',
    );

  it.each([
    ['sha256', 3, 32],
    ['sha1', 3, 20],
    ['sha1', 1, 24], // 3DES key: two hash blocks, exercising the I_j update
    ['sha1', 2, 8],
    ['sha256', 1, 70],
    ['sha384', 3, 48], // v = 128 bytes from here on
    ['sha512', 3, 64],
    ['sha512', 1, 130], // three blocks
  ] as const)('matches node-forge for %s, purpose %i, %i bytes', (digest, id, length) => {
    for (const password of ['p', 'a-long-random-password-of-32-chars', 'pässwörd€']) {
      const salt = randomBytes(8);
      expect(pkcs12Kdf(digest, password, salt, id, 2048, length).toString('hex')).toBe(
        reference(digest, password, salt, id, 2048, length).toString('hex'),
      );
    }
  });

  // The rounds run on Node's hash, written over one buffer in place: any count must agree.
  // node-forge has no SHA-224; readPfx's tests check it against files openssl wrote.
  it.each(['sha1', 'sha256', 'sha384', 'sha512'] as const)('matches node-forge for %s at any iteration count', (digest) => {
    for (const iterations of [1, 2, 7, 64, 2047]) {
      const salt = randomBytes(8);
      expect(pkcs12Kdf(digest, 'p', salt, 3, iterations, 40).toString('hex')).toBe(
        reference(digest, 'p', salt, 3, iterations, 40).toString('hex'),
      );
    }
  });

  it('encodes the password as BMPString with a NUL terminator; no password as no bytes', () => {
    expect(bmpPassword('ab').toString('hex')).toBe('006100620000');
    expect(bmpPassword('').toString('hex')).toBe('0000');
    expect(bmpPassword(null).toString('hex')).toBe('');
  });

  it.each(['sha1', 'sha256', 'sha512'] as const)('keeps the empty password apart from no password (%s)', (digest) => {
    const salt = randomBytes(8);
    const empty = pkcs12Kdf(digest, '', salt, 3, 100, 20);
    const none = pkcs12Kdf(digest, null, salt, 3, 100, 20);
    expect(empty.equals(none)).toBe(false);
    expect(empty.toString('hex')).toBe(reference(digest, '', salt, 3, 100, 20).toString('hex'));
    expect(none.toString('hex')).toBe(reference(digest, null, salt, 3, 100, 20).toString('hex'));
  });
});
