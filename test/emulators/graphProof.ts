import { createHash, X509Certificate } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { GraphApplication } from './graph.js';
import { badRequest, GraphFailure } from './graphFailure.js';

/**
 * The proof of possession addKey and removeKey require, for the Graph emulator:
 * https://learn.microsoft.com/graph/api/application-addkey, https://learn.microsoft.com/graph/api/application-removekey,
 * https://learn.microsoft.com/graph/application-rollkey-prooftoken (aud 00000002-0000-0000-c000-000000000000,
 * iss = the application's object id, signed by a currently valid certificate of the app, valid for
 * at most 10 minutes; an app without a valid certificate cannot use addKey). A bad proof answers
 * 401 Authentication_MissingOrMalformed, as Graph does.
 */

/** The audience of an addKey/removeKey proof: the (legacy) Azure AD Graph's app id, as the docs require. */
export const PROOF_AUDIENCE = '00000002-0000-0000-c000-000000000000';
const PROOF_MAX_LIFETIME_SECONDS = 600;
const CLOCK_SKEW_SECONDS = 300;

/** Checks the proof-of-possession JWT of addKey / removeKey against the app's valid certificates. */
export async function verifyProof(app: GraphApplication, proof: unknown): Promise<void> {
  const malformed = new GraphFailure(401, 'Authentication_MissingOrMalformed', 'Access Token missing or malformed.');
  if (typeof proof !== 'string' || proof === '') throw malformed;
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw malformed;
  }
  const now = Date.now();
  const valid = app.keyCredentials.filter(
    (c) => c.type === 'AsymmetricX509Cert' && c.startDateTime.getTime() <= now && c.endDateTime.getTime() > now,
  );
  if (valid.length === 0) {
    throw badRequest('The application has no valid certificate to prove possession of; use Update application (PATCH) instead.');
  }
  // The signing certificate is named by x5t (base64url SHA-1) or by kid (its hex thumbprint), as .NET's X509SigningCredentials writes it.
  const byHeader = valid.filter((c) => {
    const sha1 = createHash('sha1').update(c.key).digest();
    return (
      header.x5t === sha1.toString('base64url') ||
      (typeof header.kid === 'string' && header.kid.toUpperCase() === sha1.toString('hex').toUpperCase())
    );
  });
  if (byHeader.length === 0) throw malformed;
  let payload: Record<string, unknown> | undefined;
  for (const credential of byHeader) {
    try {
      ({ payload } = await jwtVerify(proof, new X509Certificate(credential.key).publicKey, {
        algorithms: ['RS256'],
        audience: PROOF_AUDIENCE,
        issuer: app.id,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['nbf', 'exp'],
      }));
      break;
    } catch {
      payload = undefined;
    }
  }
  if (!payload) throw malformed;
  if ((payload.exp as number) - (payload.nbf as number) > PROOF_MAX_LIFETIME_SECONDS) throw malformed;
}
