import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificate, type GeneratedCertificate } from '../../src/lib/certificates/generateCertificate.js';
import { IMPORT_PFX_ITERATIONS, writePfx } from '../../src/lib/certificates/pfx.js';
import { readPfx } from '../../src/lib/certificates/readPfx.js';
import { Pkcs12ReadError, readPkcs12, writePkcs12 } from './pfxCodec.js';

/**
 * The Key Vault emulator's own PKCS#12 code, held to the openssl CLI (a third implementation) so that
 * it is a real check on the product's writer and reader, not a copy of them.
 */

let dir: string;
let leaf: GeneratedCertificate;
let other: GeneratedCertificate;
const PASSWORD = 'a-password-of-enough-length-123';
const pkcs8 = (certificate: GeneratedCertificate) => certificate.privateKey.export({ type: 'pkcs8', format: 'der' });

function pkcs12Info(file: string, password: string): string {
  return execFileSync('sh', ['-c', 'openssl pkcs12 -info -in "$0" -passin env:PFX_PASSWORD -nodes 2>&1', file], {
    encoding: 'utf8',
    env: { ...process.env, PFX_PASSWORD: password },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-pfx-codec-'));
  [leaf, other] = await Promise.all([
    generateCertificate({ displayName: 'Codec leaf', lifetimeDays: 30 }),
    generateCertificate({ displayName: 'Codec other', lifetimeDays: 30 }),
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the emulator writes what Key Vault serves', () => {
  it('a PFX under the empty password that openssl opens, holding the certificate and its key', async () => {
    const pfx = await writePkcs12(leaf.der, leaf.privateKey, '');
    const file = join(dir, 'served.pfx');
    writeFileSync(file, pfx);
    const info = pkcs12Info(file, '');
    expect(info).toMatch(/MAC: sha1, Iteration 2048/);
    expect(info).toMatch(/Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
    const certificate = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(info)![0]);
    expect(certificate.raw.equals(leaf.der)).toBe(true);
    const key = createPrivateKey(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(info)![0]);
    expect(key.export({ type: 'pkcs8', format: 'der' }).equals(pkcs8(leaf))).toBe(true);
    // And the product's reader opens it: the layout it must take from Key Vault is not its own.
    const read = readPfx(pfx, '');
    expect(read.certificate.equals(leaf.der)).toBe(true);
    expect(read.privateKey!.export({ type: 'pkcs8', format: 'der' }).equals(pkcs8(leaf))).toBe(true);
  });
});

describe('the emulator reads what Key Vault imports', () => {
  it.each([
    ['the product’s default layout', {}],
    ['the product’s legacy layout', { legacy: true }],
    ['the product’s import layout (1 iteration)', { iterations: IMPORT_PFX_ITERATIONS }],
  ])('%s', async (_name, options) => {
    const pfx = await writePfx(leaf.der, leaf.privateKey, PASSWORD, options);
    const read = readPkcs12(pfx, PASSWORD);
    expect(read.certificate.equals(leaf.der)).toBe(true);
    expect(read.privateKey!.export({ type: 'pkcs8', format: 'der' }).equals(pkcs8(leaf))).toBe(true);
  });

  it('a file openssl wrote, with a chain in which the key’s certificate is not first', () => {
    const files = { key: join(dir, 'key.pem'), leaf: join(dir, 'leaf.pem'), chain: join(dir, 'chain.pem'), out: join(dir, 'openssl.pfx') };
    writeFileSync(files.key, leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(files.leaf, new X509Certificate(leaf.der).toString());
    writeFileSync(files.chain, new X509Certificate(other.der).toString());
    execFileSync(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-inkey',
        files.key,
        '-in',
        files.leaf,
        '-certfile',
        files.chain,
        '-out',
        files.out,
        '-passout',
        'env:PFX_PASSWORD',
      ],
      { stdio: 'pipe', env: { ...process.env, PFX_PASSWORD: PASSWORD } },
    );
    const read = readPkcs12(readFileSync(files.out), PASSWORD);
    expect(read.certificate.equals(leaf.der)).toBe(true);
    expect(read.privateKey!.export({ type: 'pkcs8', format: 'der' }).equals(pkcs8(leaf))).toBe(true);
  });

  it('refuses a wrong password, bytes that are not a PFX, and a PFX with trailing bytes', async () => {
    const pfx = await writePfx(leaf.der, leaf.privateKey, PASSWORD, {});
    expect(() => readPkcs12(pfx, `${PASSWORD}x`)).toThrow(Pkcs12ReadError);
    expect(() => readPkcs12(Buffer.from('not a pfx'), PASSWORD)).toThrow(Pkcs12ReadError);
    expect(() => readPkcs12(Buffer.concat([pfx, Buffer.from([0])]), PASSWORD)).toThrow(Pkcs12ReadError);
  });

  it('opens a PFX under the empty password, its own and one openssl wrote', async () => {
    const pfx = await writePkcs12(leaf.der, leaf.privateKey, '');
    expect(readPkcs12(pfx, '').certificate.equals(leaf.der)).toBe(true);
    const file = join(dir, 'nopass.pfx');
    const files = { key: join(dir, 'k.pem'), leaf: join(dir, 'l.pem') };
    writeFileSync(files.key, leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(files.leaf, new X509Certificate(leaf.der).toString());
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', files.key, '-in', files.leaf, '-out', file, '-passout', 'pass:'], {
      stdio: 'pipe',
    });
    expect(readPkcs12(readFileSync(file), '').certificate.equals(leaf.der)).toBe(true);
  });
});
