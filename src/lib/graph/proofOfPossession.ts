import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { thumbprintsOf } from '../certificates/thumbprints.js';

/** The audience Graph requires in an addKey/removeKey proof (the Azure AD Graph app id, per the docs). */
export const PROOF_AUDIENCE = '00000002-0000-0000-c000-000000000000';
/** Graph accepts a proof valid for at most 10 minutes; 5 leaves room for clock skew. */
const PROOF_LIFETIME_SECONDS = 300;

/** A certificate the app already has on its registration, with its private key (from Key Vault). */
export interface SigningCertificate {
  readonly der: Buffer;
  readonly privateKey: KeyObject;
}

/**
 * The proof-of-possession JWT of https://learn.microsoft.com/graph/application-rollkey-prooftoken:
 * signed (RS256) by a currently valid certificate of the application, naming it by `x5t`,
 * aud = 00000002-0000-0000-c000-000000000000, iss = the application's object id.
 */
export async function createProofOfPossession(objectId: string, signer: SigningCertificate, now: Date = new Date()): Promise<string> {
  const nbf = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5t: thumbprintsOf(signer.der).x5t })
    .setAudience(PROOF_AUDIENCE)
    .setIssuer(objectId)
    .setNotBefore(nbf)
    .setExpirationTime(nbf + PROOF_LIFETIME_SECONDS)
    .sign(signer.privateKey);
}
