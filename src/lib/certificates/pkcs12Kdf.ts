import { hash } from 'node:crypto';
import { iteratedSha1 } from './iteratedSha1.js';
import { iteratedSha256 } from './iteratedSha256.js';

/**
 * The PKCS#12 key derivation function of RFC 7292 Appendix B.2.
 *
 * Written here because neither Node (no binding for OpenSSL's PKCS12_key_gen) nor node-forge (its
 * `pkcs12.generateKey` hashes in JavaScript over binary strings, about ten times slower) offers a
 * fast one, and OpenSSL 3's default `pkcs12 -export` still derives the MAC key with it. The first
 * hash is Node's native SHA; the SHA-256 and SHA-1 rounds after it run in `iteratedSha256` and
 * `iteratedSha1` (the SHA-2 digests of the rarer MACs call the native hash per round). Tests check the output against node-forge and OpenSSL.
 */
export type Pkcs12Purpose = 1 | 2 | 3; // 1 = encryption key, 2 = IV, 3 = MAC key

export type Pkcs12Digest = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** u: each digest's output size, which is also its HMAC key size in a PKCS#12 MAC. */
export const PKCS12_DIGEST_BYTES: Readonly<Record<Pkcs12Digest, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};
/** v: each digest's input block size. */
const BLOCK_BYTES: Readonly<Record<Pkcs12Digest, number>> = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

/**
 * The password as PKCS#12 wants it: BMPString (UTF-16BE) with a two-byte NUL terminator. `null` is
 * "no password", which RFC 7292 B.1 keeps apart from the empty one: zero bytes, where '' is the
 * terminator alone. Both occur in the wild for files "without a password".
 */
export function bmpPassword(password: string | null): Buffer {
  if (password === null) return Buffer.alloc(0);
  const le = Buffer.from(`${password}\0`, 'utf16le');
  return le.swap16();
}

function fill(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += source.length) source.copy(out, i, 0, Math.min(source.length, length - i));
  return out;
}

export function pkcs12Kdf(
  digest: Pkcs12Digest,
  password: string | null,
  salt: Buffer,
  purpose: Pkcs12Purpose,
  iterations: number,
  length: number,
): Buffer {
  const u = PKCS12_DIGEST_BYTES[digest];
  const v = BLOCK_BYTES[digest];
  const p = bmpPassword(password);
  const d = Buffer.alloc(v, purpose);
  const s = salt.length === 0 ? Buffer.alloc(0) : fill(salt, v * Math.ceil(salt.length / v));
  const pw = p.length === 0 ? Buffer.alloc(0) : fill(p, v * Math.ceil(p.length / v));
  const i = Buffer.concat([s, pw]);
  const blocks = Math.ceil(length / u);
  const out = Buffer.alloc(blocks * u);

  for (let block = 0; block < blocks; block++) {
    let a: Buffer = hash(digest, Buffer.concat([d, i]), 'buffer');
    if (digest === 'sha256') a = iteratedSha256(a, iterations - 1);
    else if (digest === 'sha1') a = iteratedSha1(a, iterations - 1);
    else for (let n = 1; n < iterations; n++) a = hash(digest, a, 'buffer');
    a.copy(out, block * u);
    if (block === blocks - 1) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, with B = A repeated to v bytes.
    const b = fill(a, v);
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = i[j + k]! + b[k]! + carry;
        i[j + k] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
  }
  return out.subarray(0, length);
}
