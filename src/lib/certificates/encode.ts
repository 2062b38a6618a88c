import type { KeyObject } from 'node:crypto';

/** PEM armour for DER bytes, 64 characters a line as RFC 7468 asks. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export type CerEncoding = 'der' | 'pem';

/** The public certificate: DER (`.cer`, `application/pkix-cert`) or PEM. */
export function encodeCer(der: Buffer, encoding: CerEncoding = 'der'): Buffer {
  return encoding === 'der' ? der : Buffer.from(derToPem(der, 'CERTIFICATE'), 'ascii');
}

/**
 * Certificate and PKCS#8 private key in one PEM file: the form `AZURE_CLIENT_CERTIFICATE_PATH`,
 * `ClientCertificateCredential` and msal-node accept. Contains the private key: handle as a secret.
 */
export function encodePemBundle(der: Buffer, privateKey: KeyObject): string {
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return derToPem(der, 'CERTIFICATE') + key;
}
