import { X509Certificate } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { thumbprintsOf, type Thumbprints } from './thumbprints.js';

export interface CertificateInfo {
  readonly der: Buffer;
  /** The subject as OpenSSL prints it, one RDN per line joined by `, `. */
  readonly subject: string;
  readonly commonName: string | undefined;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType: string | undefined;
  readonly keySize: number | undefined;
  /** Extended key usage OIDs (Node calls this `keyUsage`). */
  readonly extendedKeyUsage: readonly string[];
  readonly thumbprints: Thumbprints;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/;

/**
 * Reads a certificate as it arrives from outside: DER bytes, a PEM text, or the base64 text Graph
 * returns as a keyCredential's `key` (which some tools fill with base64 of a PEM file instead of
 * the DER). Parsing is Node's (OpenSSL's), not forge's, because certificates on an app registration
 * may carry EC keys, which forge cannot read.
 */
export function parseCertificate(input: Uint8Array | string): CertificateInfo {
  const der = certificateDer(input);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (error) {
    throw ValidationError.forField('certificate', `is not a valid X.509 certificate (${(error as Error).message})`);
  }
  const subject = x509.subject.split('\n').join(', ');
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1];
  const details = x509.publicKey.asymmetricKeyDetails;
  return {
    der,
    subject,
    commonName: cn,
    issuer: x509.issuer.split('\n').join(', '),
    serialNumber: x509.serialNumber.toUpperCase(),
    notBefore: x509.validFromDate,
    notAfter: x509.validToDate,
    keyType: x509.publicKey.asymmetricKeyType,
    keySize: details?.modulusLength,
    extendedKeyUsage: x509.keyUsage ?? [],
    thumbprints: thumbprintsOf(der),
  };
}

/**
 * The DER bytes of a certificate given in any of the forms parseCertificate reads, without parsing
 * it: where the bytes are already DER (the common case) this is a check of the first byte.
 */
export function certificateDer(input: Uint8Array | string): Buffer {
  if (typeof input !== 'string') {
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    // DER starts with a SEQUENCE tag; anything else is taken as text (PEM).
    return bytes[0] === 0x30 ? bytes : certificateDer(bytes.toString('latin1'));
  }
  const pem = PEM_CERTIFICATE.exec(input);
  if (pem) return Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64');
  const text = input.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw ValidationError.forField('certificate', 'must be DER bytes, PEM text, or base64 of either');
  }
  const decoded = Buffer.from(text, 'base64');
  if (decoded[0] === 0x30) return decoded;
  const inner = PEM_CERTIFICATE.exec(decoded.toString('latin1'));
  if (inner) return Buffer.from(inner[1]!.replace(/\s+/g, ''), 'base64');
  throw ValidationError.forField('certificate', 'must be DER bytes, PEM text, or base64 of either');
}
