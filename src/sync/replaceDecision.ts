import type { CertificateWithKey } from './pemBundle.js';

/** What the replace decision needs to know about a certificate and its key. */
export interface CertificateFacts {
  /** SHA-1 thumbprint, upper-case hex. */
  readonly thumbprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The private key is the certificate's (X509Certificate.checkPrivateKey). */
  readonly keyMatches: boolean;
}

export type RejectionReason = 'key-mismatch' | 'not-yet-valid' | 'expired' | 'not-later';

export type ReplaceDecision =
  | { readonly action: 'unchanged' }
  | { readonly action: 'replace' }
  | { readonly action: 'reject'; readonly reason: RejectionReason; readonly message: string };

export function factsOf(certificate: CertificateWithKey): CertificateFacts {
  return {
    thumbprint: certificate.thumbprint,
    notBefore: certificate.x509.validFromDate,
    notAfter: certificate.x509.validToDate,
    keyMatches: certificate.x509.checkPrivateKey(certificate.privateKey),
  };
}

/**
 * Whether the vault's latest version may replace the file (docs/consumers.md): only a certificate whose
 * key is its own, valid now (X.509 validity is inclusive at both ends) and expiring later than the
 * file's. `current` is undefined only when there is no file yet (the default credential's first run).
 * The same certificate is "unchanged" before anything else, so a file is never rewritten with itself.
 */
export function decideReplacement(current: CertificateFacts | undefined, candidate: CertificateFacts, now: Date): ReplaceDecision {
  if (current !== undefined && candidate.thumbprint === current.thumbprint) return { action: 'unchanged' };
  const reject = (reason: RejectionReason, why: string): ReplaceDecision => ({
    action: 'reject',
    reason,
    message: `The vault's latest version (thumbprint ${candidate.thumbprint}) ${why}; the file is kept`,
  });
  if (!candidate.keyMatches) return reject('key-mismatch', 'holds a private key that does not match its certificate');
  if (now.getTime() < candidate.notBefore.getTime()) {
    return reject('not-yet-valid', `is not valid before ${candidate.notBefore.toISOString()}`);
  }
  if (now.getTime() > candidate.notAfter.getTime()) return reject('expired', `expired at ${candidate.notAfter.toISOString()}`);
  if (current !== undefined && candidate.notAfter.getTime() <= current.notAfter.getTime()) {
    return reject(
      'not-later',
      `expires at ${candidate.notAfter.toISOString()}, not later than the file's certificate (${current.thumbprint}, ${current.notAfter.toISOString()})`,
    );
  }
  return { action: 'replace' };
}
