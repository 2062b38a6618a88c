import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * TLS material for the loopback emulators: a throwaway CA and a server certificate for
 * 127.0.0.1 / localhost / ::1 signed by it. The Azure SDKs insist on https for Key Vault and the
 * authority, so the emulators serve TLS and the processes that talk to them trust the CA through
 * NODE_EXTRA_CA_CERTS (read by Node at start-up only, so it is set before any worker or child starts).
 */
export interface EmulatorTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** The CA file: the value for NODE_EXTRA_CA_CERTS. */
  readonly caPath: string;
}

function toForgeKeys() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

function baseCertificate(publicKey: forge.pki.PublicKey, days: number) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + days * 24 * 60 * 60 * 1000);
  return cert;
}

export function createEmulatorTls(): Omit<EmulatorTls, 'caPath'> {
  const ca = toForgeKeys();
  const caCert = baseCertificate(ca.publicKey, 3650);
  const caName = [{ shortName: 'CN', value: 'Entra Cert Rotator emulator CA' }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const leaf = toForgeKeys();
  const leafCert = baseCertificate(leaf.publicKey, 3650);
  leafCert.setSubject([{ shortName: 'CN', value: 'localhost' }]);
  leafCert.setIssuer(caName);
  leafCert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
  ]);
  leafCert.sign(ca.privateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(caCert), certPem: forge.pki.certificateToPem(leafCert), keyPem: leaf.keyPem };
}

/** Reuses the material in `dir` when present (the sandbox keeps it across restarts), else creates it. */
export function loadOrCreateEmulatorTls(dir: string): EmulatorTls {
  const caPath = join(dir, 'emulator-ca.pem');
  const certPath = join(dir, 'emulator-cert.pem');
  const keyPath = join(dir, 'emulator-key.pem');
  if (existsSync(caPath) && existsSync(certPath) && existsSync(keyPath)) {
    return { caPem: readFileSync(caPath, 'utf8'), certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8'), caPath };
  }
  const tls = createEmulatorTls();
  mkdirSync(dir, { recursive: true });
  writeFileSync(certPath, tls.certPem);
  writeFileSync(keyPath, tls.keyPem, { mode: 0o600 });
  writeFileSync(caPath, tls.caPem);
  return { ...tls, caPath };
}
