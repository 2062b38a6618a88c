import { hash } from 'node:crypto';

export interface Thumbprints {
  /** SHA-1 of the DER certificate, upper-case hex: what Entra shows as the thumbprint. */
  readonly sha1: string;
  /** SHA-256 of the DER certificate, upper-case hex. */
  readonly sha256: string;
  /** SHA-1 in base64url: the JWS `x5t` header of a client assertion. */
  readonly x5t: string;
  /** SHA-256 in base64url: the JWS `x5t#S256` header. */
  readonly x5tS256: string;
}

export function thumbprintsOf(der: Uint8Array): Thumbprints {
  const sha1 = hash('sha1', der, 'buffer');
  const sha256 = hash('sha256', der, 'buffer');
  return {
    sha1: sha1.toString('hex').toUpperCase(),
    sha256: sha256.toString('hex').toUpperCase(),
    x5t: sha1.toString('base64url'),
    x5tS256: sha256.toString('base64url'),
  };
}

/** Normalises a thumbprint as people paste it (`ab:cd…`, spaces, lower case) to Entra's form. */
export function normalizeThumbprint(value: string): string {
  return value.replace(/[\s:]/g, '').toUpperCase();
}
