import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfidentialClientApplication, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import { compactVerify, decodeProtectedHeader, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCer, encodePemBundle } from '../../../src/lib/certificates/encode.js';
import { generateCertificate, type GeneratedCertificate } from '../../../src/lib/certificates/generateCertificate.js';
import { parseCertificate } from '../../../src/lib/certificates/parseCertificate.js';
import { IMPORT_PFX_ITERATIONS, MIN_PFX_PASSWORD_LENGTH, encodePfx } from '../../../src/lib/certificates/pfx.js';

/**
 * Our output checked by tools nobody here wrote: the openssl CLI, Node's X509Certificate (OpenSSL
 * underneath), and msal-node building a client assertion from the PEM bundle.
 */
let dir: string;
let cert: GeneratedCertificate;
const NAME = 'Contoso Payroll Ünïcode';

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}
/** `openssl pkcs12 -info` output: the structure (stderr) and the PEM blocks (stdout), merged. */
function pkcs12Info(file: string, password: string): string {
  return execFileSync('sh', ['-c', 'openssl pkcs12 -info -in "$0" -passin env:PFX_PASSWORD -nodes 2>&1', file], {
    encoding: 'utf8',
    env: { ...process.env, PFX_PASSWORD: password },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-interop-'));
  cert = await generateCertificate({ displayName: NAME, lifetimeDays: 90 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openssl x509', () => {
  it('reads the CER and shows the exact fields of docs/renewal.md', () => {
    const file = join(dir, 'cert.cer');
    writeFileSync(file, encodeCer(cert.der));
    const text = openssl(['x509', '-inform', 'der', '-in', file, '-noout', '-text', '-nameopt', 'utf8,sep_comma_plus']);
    expect(text).toContain('Version: 3 (0x2)');
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).toContain(`Subject: CN=${NAME}`);
    expect(text).toContain(`Issuer: CN=${NAME}`);
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/X509v3 Basic Constraints: *\n\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: *\n\s+TLS Web Client Authentication\n/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    const serial = /Serial Number:\s*\n\s+([0-9a-f:]+)/.exec(text)?.[1]?.replace(/:/g, '');
    expect(serial?.toUpperCase()).toBe(cert.serialNumber);
    expect(serial).toHaveLength(32);
  });

  it('reads the PEM encoding and agrees on the thumbprints', () => {
    const file = join(dir, 'cert.pem');
    writeFileSync(file, encodeCer(cert.der, 'pem'));
    expect(openssl(['x509', '-in', file, '-noout', '-fingerprint', '-sha1'])).toContain(
      `=${cert.thumbprints.sha1.match(/../g)!.join(':')}`,
    );
    expect(openssl(['x509', '-in', file, '-noout', '-fingerprint', '-sha256'])).toContain(
      `=${cert.thumbprints.sha256.match(/../g)!.join(':')}`,
    );
    const dates = openssl(['x509', '-in', file, '-noout', '-startdate', '-enddate', '-dateopt', 'iso_8601']);
    expect(dates).toContain(`notBefore=${cert.notBefore.toISOString().replace('T', ' ').replace('.000', '')}`);
    expect(dates).toContain(`notAfter=${cert.notAfter.toISOString().replace('T', ' ').replace('.000', '')}`);
  });
});

describe('openssl pkcs12', () => {
  it('opens the default PFX and shows OpenSSL 3 export parameters (PBES2, AES-256-CBC, SHA-256 MAC, 2048 iterations)', async () => {
    const { pfx, password } = await encodePfx(cert.der, cert.privateKey);
    const file = join(dir, 'default.pfx');
    writeFileSync(file, pfx);
    const structure = pkcs12Info(file, password);
    expect(structure).toContain('MAC: sha256, Iteration 2048');
    expect(structure).toContain('MAC length: 32, salt length: 8');
    expect(structure).toContain('PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256');
    expect(structure).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256');
    expectSameKeyAndCertificate(structure);
  });

  it('opens the legacy PFX (3DES, SHA-1 MAC)', async () => {
    const { pfx, password } = await encodePfx(cert.der, cert.privateKey, { legacy: true });
    const file = join(dir, 'legacy.pfx');
    writeFileSync(file, pfx);
    // OpenSSL 3 reads 3DES without the legacy provider; the MAC line proves SHA-1.
    const structure = pkcs12Info(file, password);
    expect(structure).toContain('MAC: sha1, Iteration 2048');
    expect(structure).toContain('MAC length: 20, salt length: 8');
    expect(structure).toContain('PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048');
    expect(structure).toContain('Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048');
    expectSameKeyAndCertificate(structure);
  });

  it("opens the PFX that carries a key into Key Vault's import (one KDF iteration, as `-noiter -nomaciter` writes)", async () => {
    const { pfx, password } = await encodePfx(cert.der, cert.privateKey, { iterations: IMPORT_PFX_ITERATIONS });
    const file = join(dir, 'import.pfx');
    writeFileSync(file, pfx);
    const structure = pkcs12Info(file, password);
    expect(structure).toContain('MAC: sha256, Iteration 1');
    expect(structure).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 1, PRF hmacWithSHA256');
    expectSameKeyAndCertificate(structure);
  });

  it('refuses the PFX with a wrong password (the MAC really is checked)', async () => {
    const { pfx } = await encodePfx(cert.der, cert.privateKey);
    const file = join(dir, 'wrong.pfx');
    writeFileSync(file, pfx);
    expect(() =>
      execFileSync('openssl', ['pkcs12', '-info', '-in', file, '-passin', 'pass:wrong-password-wrong-password', '-noout'], {
        stdio: 'pipe',
      }),
    ).toThrow();
  });

  it('makes a fresh password of at least 128 bits each time and never reuses it', async () => {
    const first = await encodePfx(cert.der, cert.privateKey);
    const second = await encodePfx(cert.der, cert.privateKey);
    expect(first.password).not.toBe(second.password);
    expect(Buffer.from(first.password, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    expect(first.pfx.equals(second.pfx)).toBe(false);
  });

  it('rejects a given password shorter than the rule, naming the field', async () => {
    await expect(encodePfx(cert.der, cert.privateKey, { password: 'x'.repeat(MIN_PFX_PASSWORD_LENGTH - 1) })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', issues: [expect.objectContaining({ path: 'password' })] }),
    );
    const given = 'correct-horse-battery-staple-42';
    const { pfx, password } = await encodePfx(cert.der, cert.privateKey, { password: given, friendlyName: 'Payroll' });
    expect(password).toBe(given);
    const file = join(dir, 'given.pfx');
    writeFileSync(file, pfx);
    expect(pkcs12Info(file, given)).toContain('friendlyName: Payroll');
  });

  function expectSameKeyAndCertificate(output: string): void {
    const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(output)?.[0];
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(output)?.[0];
    expect(certPem).toBeDefined();
    expect(keyPem).toBeDefined();
    expect(new X509Certificate(certPem!).fingerprint256.replace(/:/g, '')).toBe(cert.thumbprints.sha256);
    expect(new X509Certificate(certPem!).checkPrivateKey(createPrivateKey(keyPem!))).toBe(true);
    expect(output).toContain(`localKeyID: ${cert.thumbprints.sha1.match(/../g)!.join(' ')}`);
  }
});

describe("Node's X509Certificate", () => {
  it('agrees with our parse on subject, validity, key usage and fingerprints', () => {
    const x509 = new X509Certificate(cert.der);
    const parsed = parseCertificate(cert.der);
    expect(x509.subject).toBe(`CN=${NAME}`);
    expect(parsed.subject).toBe(`CN=${NAME}`);
    expect(parsed.commonName).toBe(NAME);
    expect(x509.validFromDate).toEqual(cert.notBefore);
    expect(x509.validToDate).toEqual(cert.notAfter);
    expect(parsed.notBefore).toEqual(cert.notBefore);
    expect(parsed.notAfter).toEqual(cert.notAfter);
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // Node's keyUsage is the extended key usage
    expect(x509.ca).toBe(false);
    expect(x509.fingerprint.replace(/:/g, '')).toBe(cert.thumbprints.sha1);
    expect(x509.fingerprint256.replace(/:/g, '')).toBe(cert.thumbprints.sha256);
    expect(parsed.thumbprints).toEqual(cert.thumbprints);
    expect(x509.checkPrivateKey(cert.privateKey)).toBe(true);
  });

  it('parses the forms Graph and people hand us: DER, PEM, base64 DER, base64 of PEM', () => {
    const pem = encodeCer(cert.der, 'pem').toString('ascii');
    for (const input of [cert.der, pem, cert.der.toString('base64'), Buffer.from(pem).toString('base64'), Buffer.from(pem)]) {
      expect(parseCertificate(input).thumbprints.sha1).toBe(cert.thumbprints.sha1);
    }
    expect(() => parseCertificate('not a certificate!')).toThrow(/certificate/);
    expect(() => parseCertificate(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(/not a valid X.509/);
  });
});

describe('@azure/msal-node', () => {
  it('accepts the PEM bundle as a client certificate and signs an assertion whose x5t is our thumbprint', async () => {
    const tenant = '11111111-2222-3333-4444-555555555555';
    const authority = `https://login.microsoftonline.com/${tenant}`;
    const assertions: string[] = [];
    // msal's documented extension point for HTTP: it lets the test read the token request without
    // any network, while msal-node itself builds and signs the assertion.
    const networkClient: INetworkModule = {
      sendGetRequestAsync<T>(url: string): Promise<NetworkResponse<T>> {
        const body = url.includes('openid-configuration')
          ? {
              token_endpoint: `${authority}/oauth2/v2.0/token`,
              issuer: `${authority}/v2.0`,
              authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
              end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
              jwks_uri: `${authority}/discovery/v2.0/keys`,
            }
          : { tenant_discovery_endpoint: `${authority}/v2.0/.well-known/openid-configuration`, metadata: [] };
        return Promise.resolve({ headers: {}, body: body as T, status: 200 });
      },
      sendPostRequestAsync<T>(_url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
        assertions.push(new URLSearchParams(options?.body).get('client_assertion') ?? '');
        const body = { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: 'eyJ0eXAiOiJKV1QifQ.e30.sig' };
        return Promise.resolve({ headers: {}, body: body as T, status: 200 });
      },
    };
    const bundle = encodePemBundle(cert.der, cert.privateKey);
    const app = new ConfidentialClientApplication({
      auth: {
        clientId: '22222222-3333-4444-5555-666666666666',
        authority,
        clientCertificate: { thumbprint: cert.thumbprints.sha1, privateKey: bundle, x5c: bundle },
      },
      system: { networkClient },
    });
    const result = await app.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
    expect(result?.accessToken).toBeDefined();
    expect(assertions).toHaveLength(1);
    const assertion = assertions[0]!;
    const header = decodeProtectedHeader(assertion);
    expect(header.x5t).toBe(cert.thumbprints.x5t);
    expect(header.alg).toBe('RS256');
    expect(decodeJwt(assertion)).toMatchObject({ iss: '22222222-3333-4444-5555-666666666666', aud: `${authority}/oauth2/v2.0/token` });
    // The signature verifies with the certificate's public key (and with no other).
    await expect(compactVerify(assertion, new X509Certificate(cert.der).publicKey)).resolves.toBeDefined();
    const other = await generateCertificate({ displayName: 'other', lifetimeDays: 30 });
    await expect(compactVerify(assertion, new X509Certificate(other.der).publicKey)).rejects.toThrow();
  });
});
