import { X509Certificate, type KeyObject } from 'node:crypto';
import type { StoredCertificateVersion } from './keyVault.js';
import { writePkcs12 } from './pfxCodec.js';

/**
 * A certificate version as Key Vault answers it, for the Key Vault emulator: the CertificateBundle
 * and CertificateItem of Get Certificate / Get Certificate Versions
 * (https://learn.microsoft.com/rest/api/keyvault/certificates/get-certificate/get-certificate,
 * https://learn.microsoft.com/rest/api/keyvault/certificates/get-certificate-versions/get-certificate-versions)
 * and the value of its addressable secret, which holds the key
 * (https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret).
 */

export function certificateAttributes(v: StoredCertificateVersion) {
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  return {
    enabled: true,
    nbf: seconds(v.notBefore),
    exp: seconds(v.notAfter),
    created: seconds(v.created),
    updated: seconds(v.created),
    recoveryLevel: 'Recoverable+Purgeable',
    recoverableDays: 90,
  };
}

export function certificateItem(vaultUrl: string, v: StoredCertificateVersion) {
  return { id: `${vaultUrl}certificates/${v.name}/${v.version}`, x5t: v.x5t, attributes: certificateAttributes(v), tags: v.tags };
}

export function certificateBundle(vaultUrl: string, v: StoredCertificateVersion) {
  const x509 = new X509Certificate(v.der);
  const keySize = x509.publicKey.asymmetricKeyDetails?.modulusLength;
  const months = Math.max(1, Math.round((v.notAfter.getTime() - v.notBefore.getTime()) / (30.44 * 24 * 3600 * 1000)));
  return {
    ...certificateItem(vaultUrl, v),
    kid: `${vaultUrl}keys/${v.name}/${v.version}`,
    sid: `${vaultUrl}secrets/${v.name}/${v.version}`,
    cer: v.der.toString('base64'),
    policy: {
      id: `${vaultUrl}certificates/${v.name}/policy`,
      key_props: {
        exportable: true,
        kty: x509.publicKey.asymmetricKeyType === 'rsa' ? 'RSA' : 'EC',
        key_size: keySize,
        reuse_key: false,
      },
      secret_props: { contentType: v.contentType },
      x509_props: { subject: x509.subject.split('\n').join(', '), ekus: x509.keyUsage ?? [], key_usage: [], validity_months: months },
      lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'EmailContacts' } }],
      issuer: { name: 'Unknown' },
      attributes: { enabled: true, created: certificateAttributes(v).created, updated: certificateAttributes(v).updated },
    },
  };
}

/**
 * The secret's value: PEM (key and certificate) for a PEM import, else a PFX re-packed without a
 * password, as Key Vault serves a certificate's secret.
 */
export function certificateSecretValue(v: StoredCertificateVersion): Promise<string> {
  return v.contentType === 'application/x-pem-file'
    ? Promise.resolve((v.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string) + derToPemCertificate(v.der))
    : unprotectedPfx(v.der, v.privateKey).then((pfx) => pfx.toString('base64'));
}

function derToPemCertificate(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * A PFX under the empty password (what `openssl pkcs12 -passin pass:` opens), the form of a
 * certificate's secret value. Key Vault does not document its PBE choices, so readers must take any
 * layout; this one (3DES-shrouded key, plain certificate bag, SHA-1 MAC) is written by the emulator's
 * own writer (./pfxCodec.ts), unlike the product's, whose reader must open it.
 */
function unprotectedPfx(der: Buffer, privateKey: KeyObject): Promise<Buffer> {
  return writePkcs12(der, privateKey, '');
}
