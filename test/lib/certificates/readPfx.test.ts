import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomBytes, randomInt, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificate, type GeneratedCertificate } from '../../../src/lib/certificates/generateCertificate.js';
import { encodePfx, writePfx } from '../../../src/lib/certificates/pfx.js';
import { PfxReadError, readPfx, type PfxContents, type PfxReadFailure } from '../../../src/lib/certificates/readPfx.js';

/**
 * The reader against files written by three independent writers (ours, the openssl CLI, node-forge),
 * and against node-forge's reader on the same files.
 */
let dir: string;
/** The certificate and key every file carries. */
let leaf: GeneratedCertificate;
/** A second certificate (its own key) for chains, where it must not be taken for the leaf. */
let other: GeneratedCertificate;
const PASSWORD = 'correct horse battery staple';

type Asn1 = forge.asn1.Asn1;
const fromDer = (bytes: Buffer) => forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')));
const toDer = (node: Asn1) => Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
const child = (node: Asn1, ...path: number[]) => path.reduce((at, i) => (at.value as Asn1[])[i]!, node);

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}
function pkcs12Info(file: string, password: string, legacy = false): string {
  const command = `openssl pkcs12 -info ${legacy ? '-legacy ' : ''}-in "$0" -passin env:PFX_PASSWORD -nodes 2>&1`;
  return execFileSync('sh', ['-c', command, file], {
    encoding: 'utf8',
    env: { ...process.env, PFX_PASSWORD: password },
  });
}
/** OpenSSL 3 writes RC2 (`-legacy`) only when its legacy provider module is installed. */
function opensslHasLegacyProvider(): boolean {
  try {
    openssl(['list', '-cipher-algorithms', '-provider', 'legacy']);
    return true;
  } catch {
    return false;
  }
}
const LEGACY_PROVIDER = opensslHasLegacyProvider();

function pem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}
function forgeKey(key: KeyObject): forge.pki.rsa.PrivateKey {
  return forge.pki.privateKeyFromPem(key.export({ type: 'pkcs8', format: 'pem' }) as string);
}
function forgeCertificate(der: Buffer): forge.pki.Certificate {
  return forge.pki.certificateFromAsn1(fromDer(der));
}
function forgeWrite(certs: Buffer[], password: string | null, options: Parameters<typeof forge.pkcs12.toPkcs12Asn1>[3] = {}): Buffer {
  return toDer(forge.pkcs12.toPkcs12Asn1(forgeKey(leaf.privateKey), certs.map(forgeCertificate), password, options));
}

function failure(read: () => unknown): PfxReadFailure | 'no error' {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(PfxReadError);
    return (error as PfxReadError).reason;
  }
  return 'no error';
}

function expectLeafAndKey(contents: PfxContents, certificates: Buffer[] = [leaf.der]): void {
  expect(contents.certificate.equals(leaf.der)).toBe(true);
  expect(contents.certificates.map((c) => c.toString('hex'))).toEqual(certificates.map((c) => c.toString('hex')));
  expect(contents.privateKey).toBeDefined();
  expect(new X509Certificate(contents.certificate).checkPrivateKey(contents.privateKey!)).toBe(true);
}

/** The PFX with one byte of its MAC digest flipped (MacData is the PFX's third field). */
function withMacFlipped(pfx: Buffer): Buffer {
  const root = fromDer(pfx);
  const digest = child(root, 2, 0, 1);
  const bytes = Buffer.from(digest.value as string, 'binary');
  bytes[bytes.length - 1]! ^= 0x01;
  digest.value = bytes.toString('binary');
  return toDer(root);
}

/** The PFX without its MacData: what a writer asked for no integrity check produces. */
function withoutMac(pfx: Buffer): Buffer {
  const root = fromDer(pfx);
  (root.value as Asn1[]).splice(2, 1);
  return toDer(root);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-readpfx-'));
  [leaf, other] = await Promise.all([
    generateCertificate({ displayName: 'Payroll leaf', lifetimeDays: 90 }),
    generateCertificate({ displayName: 'Another certificate', lifetimeDays: 90 }),
  ]);
  writeFileSync(join(dir, 'leaf.pem'), pem(leaf.der));
  writeFileSync(join(dir, 'other.pem'), pem(other.der));
  writeFileSync(join(dir, 'key.pem'), leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readPfx on our own files', () => {
  it.each([
    ['modern (PBES2 AES-256, SHA-256 MAC)', false],
    ['legacy (3DES, SHA-1 MAC)', true],
  ])('reads the %s layout', async (_, legacy) => {
    const { pfx, password } = await encodePfx(leaf.der, leaf.privateKey, { legacy, friendlyName: 'Payroll' });
    expectLeafAndKey(readPfx(pfx, password));
    expect(failure(() => readPfx(pfx, `${password}x`))).toBe('password');
    expect(failure(() => readPfx(withMacFlipped(pfx), password))).toBe('password');
    expect(failure(() => readPfx(pfx.subarray(0, pfx.length - 40), password))).toBe('malformed');
  });

  it('takes a Uint8Array view into a larger buffer', async () => {
    const pfx = await writePfx(leaf.der, leaf.privateKey, PASSWORD);
    const padded = Buffer.concat([randomBytes(13), pfx, randomBytes(7)]);
    expectLeafAndKey(readPfx(new Uint8Array(padded.buffer, padded.byteOffset + 13, pfx.length), PASSWORD));
  });

  it('tells an altered AuthenticatedSafe by its MAC', async () => {
    const pfx = await writePfx(leaf.der, leaf.privateKey, PASSWORD);
    const altered = Buffer.from(pfx);
    altered[200]! ^= 0x01; // inside the encrypted certificate bag
    expect(failure(() => readPfx(altered, PASSWORD))).toBe('password');
  });

  it('calls garbage, an empty input and a bare certificate malformed', () => {
    expect(failure(() => readPfx(randomBytes(300), PASSWORD))).toBe('malformed');
    expect(failure(() => readPfx(Buffer.alloc(0), PASSWORD))).toBe('malformed');
    expect(failure(() => readPfx(leaf.der, PASSWORD))).toBe('malformed');
  });

  it('reads BER: chunked (constructed) OCTET STRINGs for the authSafe and the encrypted content', async () => {
    // No MAC, so that the AuthenticatedSafe can be re-encoded; the reader then decrypts on trust.
    const root = fromDer(withoutMac(await writePfx(leaf.der, leaf.privateKey, PASSWORD)));
    const chunked = (bytes: Buffer, tagClass: forge.asn1.Class, type: number) =>
      forge.asn1.create(tagClass, type, true, [
        forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, bytes.subarray(0, 100).toString('binary')),
        forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, bytes.subarray(100).toString('binary')),
      ]);
    const authSafeHolder = child(root, 1, 1);
    const authSafe = fromDer(Buffer.from(child(authSafeHolder, 0).value as string, 'binary'));
    // AuthenticatedSafe[0] is the certificates' EncryptedData: its EncryptedContentInfo's [0] IMPLICIT content.
    const encryptedContentInfo = child(authSafe, 0, 1, 0, 1);
    const encrypted = child(encryptedContentInfo, 2);
    (encryptedContentInfo.value as Asn1[])[2] = chunked(
      Buffer.from(encrypted.value as string, 'binary'),
      forge.asn1.Class.CONTEXT_SPECIFIC,
      0,
    );
    (authSafeHolder.value as Asn1[])[0] = chunked(toDer(authSafe), forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING);
    const ber = toDer(root);
    expectLeafAndKey(readPfx(ber, PASSWORD));
    expect(failure(() => readPfx(ber, 'wrong'))).toBe('password');
  });

  it('hands algorithms Node cannot run to node-forge, and says unsupported when forge cannot either', async () => {
    // RC4 for the certificates (pbeWithSHAAnd128BitRC4): neither Node's OpenSSL 3 nor forge has it.
    const root = fromDer(withoutMac(await writePfx(leaf.der, leaf.privateKey, PASSWORD)));
    const authSafeHolder = child(root, 1, 1);
    const authSafe = fromDer(Buffer.from(child(authSafeHolder, 0).value as string, 'binary'));
    const algorithm = child(authSafe, 0, 1, 0, 1, 1);
    (algorithm.value as Asn1[])[0] = forge.asn1.create(
      forge.asn1.Class.UNIVERSAL,
      forge.asn1.Type.OID,
      false,
      forge.asn1.oidToDer('1.2.840.113549.1.12.1.1').getBytes(),
    );
    (authSafeHolder.value as Asn1[])[0] = forge.asn1.create(
      forge.asn1.Class.UNIVERSAL,
      forge.asn1.Type.OCTETSTRING,
      false,
      forge.asn1.toDer(authSafe).getBytes(),
    );
    expect(failure(() => readPfx(toDer(root), PASSWORD))).toBe('unsupported');

    // A MAC by PBMAC1 (RFC 9579), which neither reads.
    const pfx = fromDer(await writePfx(leaf.der, leaf.privateKey, PASSWORD));
    const macAlgorithm = child(pfx, 2, 0, 0);
    (macAlgorithm.value as Asn1[])[0] = forge.asn1.create(
      forge.asn1.Class.UNIVERSAL,
      forge.asn1.Type.OID,
      false,
      forge.asn1.oidToDer('1.2.840.113549.1.5.14').getBytes(),
    );
    expect(failure(() => readPfx(toDer(pfx), PASSWORD))).toBe('unsupported');
  });
});

describe('writePfx and readPfx under the empty password (how Key Vault serves a certificate secret)', () => {
  it.each([
    ['modern', false],
    ['legacy', true],
  ])('the %s layout opens in openssl with -passin pass: and in readPfx with ""', async (name, legacy) => {
    const pfx = await writePfx(leaf.der, leaf.privateKey, '', { legacy });
    const file = join(dir, `empty-${name}.pfx`);
    writeFileSync(file, pfx);
    const output = pkcs12Info(file, '');
    expect(output).toContain(legacy ? 'MAC: sha1' : 'MAC: sha256');
    const certificatePem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(output)?.[0];
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(output)?.[0];
    expect(new X509Certificate(certificatePem!).raw.equals(leaf.der)).toBe(true);
    expect(new X509Certificate(certificatePem!).checkPrivateKey(createPrivateKey(keyPem!))).toBe(true);

    expectLeafAndKey(readPfx(pfx, ''));
    expect(failure(() => readPfx(pfx, 'not-empty'))).toBe('password');
  });

  it('still holds encodePfx to the password policy', async () => {
    await expect(encodePfx(leaf.der, leaf.privateKey, { password: '' })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError' }),
    );
  });
});

describe('readPfx on files the openssl CLI wrote', () => {
  const cases: { name: string; args: string[]; password?: string; mac?: false; certfile?: true }[] = [
    { name: 'default export (PBES2 AES-256-CBC, SHA-256 MAC)', args: [] },
    { name: 'PBE-SHA1-3DES bags, SHA-1 MAC', args: ['-certpbe', 'PBE-SHA1-3DES', '-keypbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'] },
    { name: 'PBE-SHA1-2DES bags', args: ['-certpbe', 'PBE-SHA1-2DES', '-keypbe', 'PBE-SHA1-2DES'] },
    { name: 'SHA-512 MAC', args: ['-macalg', 'sha512'] },
    { name: 'SHA-384 MAC', args: ['-macalg', 'sha384'] },
    { name: 'SHA-224 MAC', args: ['-macalg', 'sha224'] },
    { name: 'PBES2 AES-128-CBC bags', args: ['-certpbe', 'AES-128-CBC', '-keypbe', 'AES-128-CBC'] },
    { name: 'PBES2 DES-EDE3-CBC bags', args: ['-certpbe', 'DES-EDE3-CBC', '-keypbe', 'DES-EDE3-CBC'] },
    { name: 'unencrypted bags (plain keyBag), MAC only', args: ['-keypbe', 'NONE', '-certpbe', 'NONE'] },
    { name: 'no MAC', args: ['-nomac'], mac: false },
    { name: 'empty password', args: [], password: '' },
    {
      name: 'empty password, no MAC, 3DES bags',
      args: ['-nomac', '-certpbe', 'PBE-SHA1-3DES', '-keypbe', 'PBE-SHA1-3DES'],
      password: '',
      mac: false,
    },
    { name: 'a chain (leaf and another certificate via -certfile)', args: [], certfile: true },
  ];

  it.each(cases)('reads $name', ({ name, args, password = PASSWORD, mac = true, certfile }) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.pfx`);
    const chain = certfile ? ['-certfile', join(dir, 'other.pem')] : [];
    openssl([
      'pkcs12',
      '-export',
      '-in',
      join(dir, 'leaf.pem'),
      '-inkey',
      join(dir, 'key.pem'),
      ...chain,
      ...args,
      '-passout',
      `pass:${password}`,
      '-out',
      file,
    ]);
    const pfx = readFileSync(file);

    expectLeafAndKey(readPfx(pfx, password), certfile ? [leaf.der, other.der] : [leaf.der]);
    expect(failure(() => readPfx(pfx, `${password}-wrong`))).toBe('password');
    if (mac) expect(failure(() => readPfx(withMacFlipped(pfx), password))).toBe('password');
    expect(failure(() => readPfx(pfx.subarray(0, pfx.length - 1), password))).toBe('malformed');
  });

  it('reads a file with certificates only, and calls one without certificates malformed', () => {
    const certificatesOnly = join(dir, 'nokeys.pfx');
    openssl(['pkcs12', '-export', '-nokeys', '-in', join(dir, 'leaf.pem'), '-passout', `pass:${PASSWORD}`, '-out', certificatesOnly]);
    const contents = readPfx(readFileSync(certificatesOnly), PASSWORD);
    expect(contents.certificate.equals(leaf.der)).toBe(true);
    expect(contents.privateKey).toBeUndefined();

    const keyOnly = join(dir, 'nocerts.pfx');
    openssl(['pkcs12', '-export', '-nocerts', '-inkey', join(dir, 'key.pem'), '-passout', `pass:${PASSWORD}`, '-out', keyOnly]);
    expect(failure(() => readPfx(readFileSync(keyOnly), PASSWORD))).toBe('malformed');
  });

  it('reads -legacy (RC2-40 certificate bag, through the node-forge fallback)', (context) => {
    if (!LEGACY_PROVIDER) context.skip('this openssl has no legacy provider to write RC2 (-legacy)');
    const file = join(dir, 'legacy-rc2.pfx');
    openssl([
      'pkcs12',
      '-export',
      '-legacy',
      '-in',
      join(dir, 'leaf.pem'),
      '-inkey',
      join(dir, 'key.pem'),
      '-passout',
      `pass:${PASSWORD}`,
      '-out',
      file,
    ]);
    expect(pkcs12Info(file, PASSWORD, true)).toContain('PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC');
    const pfx = readFileSync(file);
    expectLeafAndKey(readPfx(pfx, PASSWORD));
    expect(failure(() => readPfx(pfx, 'wrong'))).toBe('password');
    expect(failure(() => readPfx(withMacFlipped(pfx), PASSWORD))).toBe('password');
    // Without the MAC the wrong password surfaces in forge's RC2 decryption.
    expect(failure(() => readPfx(withoutMac(pfx), 'wrong'))).toBe('password');
  });
});

describe('readPfx on files node-forge wrote', () => {
  it.each([
    ['a password, PBES2 AES-128 with the default PRF (hmacWithSHA1)', PASSWORD, { algorithm: 'aes128' as const }],
    ['a password, 3DES', PASSWORD, { algorithm: '3des' as const }],
    ["''", '', {}],
    ['null (no encryption, a plain keyBag)', null, {}],
  ])('reads %s', (_, password, options) => {
    const pfx = forgeWrite([leaf.der], password, options);
    expectLeafAndKey(readPfx(pfx, password ?? ''));
    expect(failure(() => readPfx(pfx, 'wrong'))).toBe('password');
    expect(failure(() => readPfx(withMacFlipped(pfx), password ?? ''))).toBe('password');
  });

  it('takes the certificate that matches the key, wherever it stands', () => {
    const pfx = forgeWrite([other.der, leaf.der], PASSWORD);
    const contents = readPfx(pfx, PASSWORD);
    expect(contents.certificates.map((c) => c.toString('hex'))).toEqual([other.der.toString('hex'), leaf.der.toString('hex')]);
    expect(contents.certificate.equals(leaf.der)).toBe(true);
  });
});

describe('readPfx agrees with node-forge', () => {
  function readByForge(pfx: Buffer, password: string | null) {
    const p12 = forge.pkcs12.pkcs12FromAsn1(fromDer(pfx), false, password ?? undefined);
    const bags = p12.safeContents.flatMap((contents) => contents.safeBags);
    return {
      certificates: bags.filter((bag) => bag.cert).map((bag) => toDer(forge.pki.certificateToAsn1(bag.cert!)).toString('hex')),
      key: bags.find((bag) => bag.key)?.key,
    };
  }
  const printable = () => Array.from({ length: randomInt(0, 33) }, () => String.fromCharCode(randomInt(0x20, 0x7f))).join('');

  it('on random writers, layouts, passwords and chains', async () => {
    for (let sample = 0; sample < 8; sample++) {
      const password = printable();
      const certs = sample % 3 === 2 ? [other.der, leaf.der] : [leaf.der];
      const pfx =
        sample % 2 === 0
          ? forgeWrite(certs, password, {
              algorithm: (['aes128', 'aes192', 'aes256', '3des'] as const)[randomInt(4)]!,
              count: randomInt(1, 3000),
            })
          : await writePfx(leaf.der, leaf.privateKey, password, { legacy: randomInt(2) === 1 });
      const ours = readPfx(pfx, password);
      const theirs = readByForge(pfx, password);
      expect(ours.certificates.map((c) => c.toString('hex'))).toEqual(theirs.certificates);
      expect(ours.privateKey!.export({ type: 'pkcs1', format: 'pem' })).toBe(
        createPrivateKey(forge.pki.privateKeyToPem(theirs.key!)).export({ type: 'pkcs1', format: 'pem' }),
      );
    }
  });
});
