import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_MS,
  commonNameFor,
  createSelfSignedCertificate,
  generateCertificate,
  generateRsaKeyPair,
} from '../../../src/lib/certificates/generateCertificate.js';
import { ValidationError } from '../../../src/lib/errors.js';

const NOW = new Date('2026-11-22T10:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((i) => i.path);
  }
  throw new Error('expected a ValidationError');
}

async function asyncFieldsOf(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => i.path);
}

describe('generateCertificate', () => {
  it('makes a self-signed v3 certificate with the fields of docs/renewal.md', async () => {
    const cert = await generateCertificate({ displayName: 'Payroll API', lifetimeDays: 365, now: NOW });
    const parsed = forge.pki.certificateFromAsn1(forge.asn1.fromDer(cert.der.toString('binary')));

    expect(parsed.version).toBe(2);
    expect(parsed.siginfo.algorithmOid).toBe(forge.pki.oids.sha256WithRSAEncryption);
    expect((parsed.subject.getField('CN') as { value: string }).value).toBe('Payroll API');
    expect((parsed.issuer.getField('CN') as { value: string }).value).toBe('Payroll API');
    expect(parsed.validity.notBefore.getTime()).toBe(NOW.getTime() - CLOCK_SKEW_MS);
    expect(parsed.validity.notAfter.getTime()).toBe(NOW.getTime() - CLOCK_SKEW_MS + 365 * DAY);
    expect(cert.notBefore).toEqual(parsed.validity.notBefore);
    expect(cert.notAfter).toEqual(parsed.validity.notAfter);

    // Serial: 16 bytes, positive (top bit clear), minimally encoded.
    expect(parsed.serialNumber).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(parsed.serialNumber).not.toMatch(/^00/);
    expect(cert.serialNumber).toBe(parsed.serialNumber.toUpperCase());

    const ext = (name: string) => parsed.getExtension(name) as Record<string, unknown> | undefined;
    expect(ext('basicConstraints')).toMatchObject({ cA: false });
    expect(ext('keyUsage')).toMatchObject({
      critical: true,
      digitalSignature: true,
      keyEncipherment: true,
      dataEncipherment: false,
      keyCertSign: false,
    });
    expect(ext('extKeyUsage')).toMatchObject({ clientAuth: true });
    expect(ext('extKeyUsage')).not.toHaveProperty('serverAuth');
    expect(ext('subjectKeyIdentifier')).toBeDefined();
    expect(parsed.verifySubjectKeyIdentifier()).toBe(true);

    // Self-signed with the key we hold: the signature verifies under the certificate's own key.
    expect(new X509Certificate(cert.der).verify(new X509Certificate(cert.der).publicKey)).toBe(true);
    expect(new X509Certificate(cert.der).checkPrivateKey(cert.privateKey)).toBe(true);
  });

  it.each([2048, 3072, 4096] as const)('makes a %i-bit RSA key when asked', async (keySize) => {
    const cert = await generateCertificate({ displayName: 'x', lifetimeDays: 30, keySize });
    expect(cert.keySize).toBe(keySize);
    expect(new X509Certificate(cert.der).publicKey.asymmetricKeyDetails?.modulusLength).toBe(keySize);
  });

  it('defaults to RSA 2048', async () => {
    const cert = await generateCertificate({ displayName: 'x', lifetimeDays: 30 });
    expect(cert.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('uses a fresh key and serial every time', async () => {
    const [a, b] = await Promise.all([
      generateCertificate({ displayName: 'x', lifetimeDays: 30 }),
      generateCertificate({ displayName: 'x', lifetimeDays: 30 }),
    ]);
    const spki = (der: Buffer) => new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
    expect(spki(a.der)).not.toBe(spki(b.der));
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.thumbprints.sha1).not.toBe(b.thumbprints.sha1);
  });

  it('accepts the lifetime bounds 30 and 1095 days', async () => {
    const keyPair = await generateRsaKeyPair();
    const short = createSelfSignedCertificate(keyPair, { displayName: 'x', lifetimeDays: 30, now: NOW });
    const long = createSelfSignedCertificate(keyPair, { displayName: 'x', lifetimeDays: 1095, now: NOW });
    expect(short.notAfter.getTime() - short.notBefore.getTime()).toBe(30 * DAY);
    expect(long.notAfter.getTime() - long.notBefore.getTime()).toBe(1095 * DAY);
  });

  it('truncates a displayName over 64 characters for the CN at a character boundary', async () => {
    const long = `${'A'.repeat(63)}😀tail`;
    expect([...commonNameFor(long)]).toHaveLength(64);
    expect(commonNameFor(long)).toBe(`${'A'.repeat(63)}😀`);
    // A grapheme of two code points that would straddle the limit is dropped whole.
    const accented = `${'B'.repeat(63)}e\u0301xyz`;
    expect(commonNameFor(accented)).toBe('B'.repeat(63));
    const cert = await generateCertificate({ displayName: long, lifetimeDays: 30 });
    expect(new X509Certificate(cert.der).subject).toBe(`CN=${'A'.repeat(63)}😀`);
    expect(commonNameFor('Short name')).toBe('Short name');
  });

  it.each([
    ['a lifetime of 29 days', { displayName: 'x', lifetimeDays: 29 }, ['lifetimeDays']],
    ['a lifetime of 1096 days', { displayName: 'x', lifetimeDays: 1096 }, ['lifetimeDays']],
    ['a fractional lifetime', { displayName: 'x', lifetimeDays: 30.5 }, ['lifetimeDays']],
    ['an empty CN', { displayName: '   ', lifetimeDays: 30 }, ['displayName']],
    ['an unknown key size', { displayName: 'x', lifetimeDays: 30, keySize: 1024 }, ['keySize']],
    ['several bad fields', { displayName: '', lifetimeDays: 0, keySize: 512 }, ['displayName', 'lifetimeDays', 'keySize']],
  ])('rejects %s naming the field', async (_name, request, fields) => {
    expect(await asyncFieldsOf(generateCertificate(request))).toEqual(fields);
  });

  it('rejects bad input to the synchronous builder too', async () => {
    const keyPair = await generateRsaKeyPair();
    expect(fieldsOf(() => createSelfSignedCertificate(keyPair, { displayName: '', lifetimeDays: 1096 }))).toEqual([
      'displayName',
      'lifetimeDays',
    ]);
    await expect(generateRsaKeyPair(1024)).rejects.toThrow(/keySize/);
  });
});
