/** Where a sync cycle reads the vault's latest version and proves a candidate: Key Vault and Entra (vaultCertificateSource.ts). */
export interface CertificateSource {
  /**
   * The latest version of the certificate's secret, read signed in as the app with `currentPem` (the
   * certificate credential) or as the host's identity (the default credential).
   */
  readLatest(currentPem: string | undefined, signal: AbortSignal): Promise<LatestSecret>;
  /**
   * Signs in as the app with the candidate, for the resource the vault asked for, so that a file is
   * only replaced by a certificate Entra accepts. Undefined where the app is not known (the default credential).
   */
  readonly proveSignIn?: (candidatePem: string, signal: AbortSignal) => Promise<void>;
}

export interface LatestSecret {
  readonly version: string;
  readonly contentType: string | undefined;
  /** The secret's value: holds the private key; never logged. */
  readonly value: string | undefined;
}

/**
 * Why a cycle could not refresh, said so that an operator knows what to do; exit status 1.
 * `not-accepted`: Entra refused the new certificate (not on the app registration yet, or propagating).
 */
export type SyncFailureKind = 'sign-in' | 'forbidden' | 'not-found' | 'unavailable' | 'not-accepted' | 'file';

export class SyncFailure extends Error {
  constructor(
    readonly kind: SyncFailureKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SyncFailure';
  }
}
