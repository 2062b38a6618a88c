import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { encodePemBundle } from '../lib/certificates/encode.js';
import { PfxReadError, readPfx } from '../lib/certificates/readPfx.js';
import { thumbprintsOf } from '../lib/certificates/thumbprints.js';

/**
 * The PEM bundle `entra-cert-sync` maintains (certificate + PKCS#8 private key), read from the file
 * or from a Key Vault certificate's secret, and written back in one canonical form.
 */
export interface CertificateWithKey {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  /** A KeyObject, so that it is never logged or serialised by accident (JSON gives `{}`). */
  readonly privateKey: KeyObject;
  /** SHA-1 thumbprint, upper-case hex (what Entra shows). */
  readonly thumbprint: string;
}

/** Why a text is not a usable bundle, for the log; never quotes the text. */
export type Unreadable = { readonly unreadable: string };

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/;

/**
 * A PEM text holding certificates and one unencrypted private key. Of several certificates, the one
 * whose public key is the key's is taken (else the first, which the replace decision then rejects as
 * a mismatch).
 */
export function readPemBundle(text: string): CertificateWithKey | Unreadable {
  const certificates = text.match(CERTIFICATE_BLOCK) ?? [];
  if (certificates.length === 0) return { unreadable: 'it holds no PEM certificate' };
  const keyBlock = KEY_BLOCK.exec(text)?.[0];
  if (keyBlock === undefined) {
    return {
      unreadable: text.includes('ENCRYPTED PRIVATE KEY')
        ? 'its private key is encrypted (a PEM bundle for AZURE_CLIENT_CERTIFICATE_PATH has an unencrypted PKCS#8 key)'
        : 'it holds no private key',
    };
  }
  let privateKey: KeyObject;
  let parsed: X509Certificate[];
  try {
    privateKey = createPrivateKey(keyBlock);
  } catch {
    return { unreadable: 'its private key cannot be read' };
  }
  try {
    parsed = certificates.map((pem) => new X509Certificate(pem));
  } catch {
    return { unreadable: 'a certificate in it cannot be read' };
  }
  const x509 = parsed.find((candidate) => candidate.checkPrivateKey(privateKey)) ?? parsed[0]!;
  return bundle(x509, privateKey);
}

/**
 * The value of a Key Vault certificate's secret: PEM text (content type application/x-pem-file) or a
 * base64 PFX under the empty password (application/x-pkcs12, how Key Vault serves an imported PFX).
 */
export function readSecretValue(value: string | undefined, contentType: string | undefined): CertificateWithKey | Unreadable {
  if (value === undefined || value === '') return { unreadable: 'the secret is empty' };
  if (contentType === 'application/x-pem-file') return readPemBundle(value);
  if (contentType === 'application/x-pkcs12') {
    try {
      const { certificate, privateKey } = readPfx(Buffer.from(value, 'base64'), '');
      if (!privateKey) return { unreadable: 'its PFX holds no private key (not exportable)' };
      return bundle(new X509Certificate(certificate), privateKey);
    } catch (error) {
      return { unreadable: `its PFX cannot be read${error instanceof PfxReadError ? ` (${error.reason})` : ''}` };
    }
  }
  return {
    unreadable: `the secret has content type '${contentType ?? ''}', not a certificate's (application/x-pem-file or application/x-pkcs12)`,
  };
}

/** The file's content: the certificate, then its key as PKCS#8, as the rotator's own PEM downloads are. */
export function writePemBundle(certificate: CertificateWithKey): string {
  return encodePemBundle(certificate.der, certificate.privateKey);
}

export function isUnreadable(value: CertificateWithKey | Unreadable): value is Unreadable {
  return 'unreadable' in value;
}

function bundle(x509: X509Certificate, privateKey: KeyObject): CertificateWithKey {
  return { der: x509.raw, x509, privateKey, thumbprint: thumbprintsOf(x509.raw).sha1 };
}
