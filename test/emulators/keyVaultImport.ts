import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { Pkcs12ReadError, readPkcs12 } from './pfxCodec.js';

/**
 * The body of Import Certificate as Key Vault checks it, for the Key Vault emulator:
 * https://learn.microsoft.com/rest/api/keyvault/certificates/import-certificate/import-certificate
 * (`value` base64 PFX with `pwd`, or PEM text when the policy's secret_props.contentType is
 * application/x-pem-file; PKCS#8 keys only), with the messages the service writes.
 */

export interface ImportedCertificate {
  readonly der: Buffer;
  readonly privateKey: KeyObject;
  readonly x509: X509Certificate;
  readonly tags: Record<string, string>;
  readonly contentType: 'application/x-pkcs12' | 'application/x-pem-file';
}

/** The certificate an import carries, or the message of Key Vault's BadParameter for it. */
export function parseImport(json: unknown, now: Date): ImportedCertificate | { error: string } {
  const body = json as { value?: unknown; pwd?: unknown; tags?: unknown; policy?: { secret_props?: { contentType?: unknown } } };
  if (typeof body !== 'object' || body === null || typeof body.value !== 'string' || body.value === '') {
    return { error: 'Property value is required.' };
  }
  if (body.pwd !== undefined && typeof body.pwd !== 'string') return { error: 'Property pwd must be a string.' };
  const tags = body.tags ?? {};
  if (typeof tags !== 'object' || tags === null || Object.values(tags).some((v) => typeof v !== 'string')) {
    return { error: 'Tags must be an object of string values.' };
  }
  if (Object.keys(tags).length > 15) return { error: 'The number of tags exceeds the maximum of 15.' };
  const contentType =
    body.policy?.secret_props?.contentType === 'application/x-pem-file' ? 'application/x-pem-file' : 'application/x-pkcs12';

  const parsed = contentType === 'application/x-pem-file' ? parsePem(body.value) : parsePfx(body.value, body.pwd ?? '');
  if ('error' in parsed) return { error: parsed.error };
  const x509 = new X509Certificate(parsed.der);
  if (!x509.checkPrivateKey(parsed.privateKey)) {
    return { error: 'The specified X.509 certificate content is invalid. Error: the private key does not match the certificate.' };
  }
  const notAfter = x509.validToDate;
  if (notAfter.getTime() <= now.getTime()) {
    return { error: 'The specified X.509 certificate content is invalid. Error: the certificate has expired.' };
  }
  return { der: parsed.der, privateKey: parsed.privateKey, x509, tags: { ...(tags as Record<string, string>) }, contentType };
}

type ParsedImport = { der: Buffer; privateKey: KeyObject } | { error: string };

/**
 * Read with the emulator's own PKCS#12 reader (./pfxCodec.ts, node-forge), never the product's, so a
 * bug the product's writer and reader share cannot pass. The MAC is checked with the password, so a
 * wrong password fails here as it does in Key Vault.
 */
function parsePfx(value: string, password: string): ParsedImport {
  const unreadable = {
    error: 'The specified PKCS#12 X.509 certificate content can not be read. Please check if certificate is in valid PKCS#12 format.',
  };
  if (!/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(value)) return unreadable;
  let contents;
  try {
    contents = readPkcs12(Buffer.from(value, 'base64'), password);
  } catch (error) {
    if (error instanceof Pkcs12ReadError) return unreadable;
    throw error;
  }
  if (!contents.privateKey) {
    return {
      error:
        'Private key is not specified in the specified X.509 PKCS#12 certificate content. Please specify private key in the PKCS#12 content.',
    };
  }
  return { der: contents.certificate, privateKey: contents.privateKey };
}

function parsePem(value: string): ParsedImport {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(value)?.[0];
  if (!cert)
    return {
      error: 'The specified PEM X.509 certificate content is in an unexpected format. Please check if certificate is in valid PEM format.',
    };
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(value)?.[0];
  if (!key) {
    return {
      error:
        'Private key is not specified in the specified X.509 PEM certificate content. Please specify private key in the X.509 PEM certificate content.',
    };
  }
  try {
    return { der: new X509Certificate(cert).raw, privateKey: createPrivateKey(key) };
  } catch {
    return {
      error: 'The specified PEM X.509 certificate content is in an unexpected format. Please check if certificate is in valid PEM format.',
    };
  }
}
