/**
 * `SHA-1^n(x)` for a 20-byte x: the inner loop of the PKCS#12 KDF for the legacy PBE (3DES) and
 * SHA-1 MACs: 2048 rounds per derivation, seven derivations to read a legacy PFX.
 *
 * Why hand-written: for the same reason as `iteratedSha256`, each call into Node's native hash costs
 * about 0.8 µs of binding overhead for one block, 12 ms for a legacy PFX. A 20-byte message is always
 * exactly one padded block (FIPS 180-4 §5.1.1: the message in words 0-4, the padding bit in word 5,
 * its length in bits in word 15), so the rounds run on 32-bit integers without leaving JavaScript. A
 * test checks it against `crypto.hash` for many inputs and counts.
 */

const W = new Int32Array(80);

export function iteratedSha1(input: Uint8Array, iterations: number): Buffer {
  if (input.length !== 20) throw new RangeError('iteratedSha1 takes a 20-byte input');
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let h0 = bytes.readInt32BE(0),
    h1 = bytes.readInt32BE(4),
    h2 = bytes.readInt32BE(8),
    h3 = bytes.readInt32BE(12),
    h4 = bytes.readInt32BE(16);
  for (let n = 0; n < iterations; n++) {
    W[0] = h0;
    W[1] = h1;
    W[2] = h2;
    W[3] = h3;
    W[4] = h4;
    W[5] = 0x80000000 | 0;
    W.fill(0, 6, 15);
    W[15] = 160;
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    // Each round hashes a fresh message, so every one starts from the initial hash value (§5.3.1).
    let a = 0x67452301,
      b = 0xefcdab89 | 0,
      c = 0x98badcfe | 0,
      d = 0x10325476,
      e = 0xc3d2e1f0 | 0;
    let t = 0;
    for (; t < 20; t++) {
      const next = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    for (; t < 40; t++) {
      const next = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    for (; t < 60; t++) {
      const next = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    for (; t < 80; t++) {
      const next = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    h0 = (a + 0x67452301) | 0;
    h1 = (b + (0xefcdab89 | 0)) | 0;
    h2 = (c + (0x98badcfe | 0)) | 0;
    h3 = (d + 0x10325476) | 0;
    h4 = (e + (0xc3d2e1f0 | 0)) | 0;
  }
  const out = Buffer.alloc(20);
  out.writeInt32BE(h0, 0);
  out.writeInt32BE(h1, 4);
  out.writeInt32BE(h2, 8);
  out.writeInt32BE(h3, 12);
  out.writeInt32BE(h4, 16);
  return out;
}
