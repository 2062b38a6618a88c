import type { HttpRequest } from '@azure/functions';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { RetriableError } from '../errors.js';
import { AuthenticationError, ForbiddenError } from './httpErrors.js';

/**
 * Validates Entra ID access tokens for the API (docs/http-api.md) with jose: signature against the
 * JWKS named by the tenant's v2.0 OpenID metadata, issuer (v2 from that metadata, v1
 * `https://sts.windows.net/{tenant}/`), one of the API's audiences, lifetime with 5 minutes of
 * skew, RS256 only (so `alg: none` and HMAC tricks fail), then the app roles.
 */

export const ROLES = ['CertRotator.Reader', 'CertRotator.Operator', 'CertRotator.Admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, as use cases record it in history. */
export interface Caller {
  readonly oid: string;
  readonly name: string;
  readonly tenantId: string;
  readonly roles: readonly string[];
}

export interface BearerAuthenticatorOptions {
  /** `AZURE_AUTHORITY_HOST`, without a trailing slash. */
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly audiences: readonly string[];
  readonly clockToleranceSeconds?: number;
}

const CLOCK_TOLERANCE_SECONDS = 5 * 60;

const metadataSchema = z.object({ issuer: z.url(), jwks_uri: z.url() });

const claimsSchema = z.object({
  oid: z.string().min(1, 'has no oid claim'),
  tid: z.string().optional(),
  name: z.string().optional(),
  preferred_username: z.string().optional(),
  azp: z.string().optional(),
  appid: z.string().optional(),
  roles: z.array(z.string()).default([]),
});

/** Admin implies Operator implies Reader. */
export function hasRole(caller: Caller, required: Role): boolean {
  const rank = ROLES.indexOf(required);
  return caller.roles.some((role) => ROLES.indexOf(role as Role) >= rank);
}

export class BearerAuthenticator {
  readonly #options: BearerAuthenticatorOptions;
  readonly #metadataUrl: string;
  #keys: Promise<{ issuer: string; jwks: JWTVerifyGetKey }> | undefined;

  constructor(options: BearerAuthenticatorOptions) {
    this.#options = options;
    this.#metadataUrl = `${options.authorityHost}/${options.tenantId}/v2.0/.well-known/openid-configuration`;
  }

  /** For WWW-Authenticate: where a client gets a token. */
  get authorizationUri(): string {
    return `${this.#options.authorityHost}/${this.#options.tenantId}/oauth2/v2.0/authorize`;
  }

  /**
   * The metadata is fetched once and kept (jose caches and refreshes the JWKS itself, re-fetching
   * on an unknown `kid` after its cooldown); a failed fetch is forgotten so the next call retries.
   */
  #discover(): Promise<{ issuer: string; jwks: JWTVerifyGetKey }> {
    this.#keys ??= (async () => {
      const response = await fetch(this.#metadataUrl, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const metadata = metadataSchema.parse(await response.json());
      return { issuer: metadata.issuer, jwks: createRemoteJWKSet(new URL(metadata.jwks_uri)) };
    })().catch((error: unknown) => {
      this.#keys = undefined;
      throw new RetriableError(`Cannot read the token issuer's metadata at ${this.#metadataUrl}: ${(error as Error).message}`, {
        cause: error,
        retryAfterSeconds: 5,
      });
    });
    return this.#keys;
  }

  async authenticate(request: HttpRequest): Promise<Caller> {
    const header = request.headers.get('authorization');
    if (header === null || header.trim() === '') throw new AuthenticationError('A bearer token is required', { tokenPresent: false });
    const match = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(header);
    if (!match) throw new AuthenticationError('The Authorization header must be "Bearer {token}"', { tokenPresent: true });
    const { issuer, jwks } = await this.#discover();
    const tenantId = this.#options.tenantId;
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(match[1]!, jwks, {
        issuer: [issuer, `https://sts.windows.net/${tenantId}/`],
        audience: [...this.#options.audiences],
        algorithms: ['RS256'],
        clockTolerance: this.#options.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iss', 'aud'],
      }));
    } catch (error) {
      // The issuer's keys being unreachable is our outage, not the caller's bad token. jose (6.2)
      // reports a key-set answer that is not 200, or not JSON, as a bare JOSEError (code
      // ERR_JOSE_GENERIC); every verdict on the token itself has a subclass with its own code.
      const keysUnavailable =
        error instanceof joseErrors.JWKSTimeout ||
        error instanceof joseErrors.JWKSInvalid ||
        !(error instanceof joseErrors.JOSEError) ||
        error.code === joseErrors.JOSEError.code;
      if (keysUnavailable) {
        throw new RetriableError(`Cannot read the token issuer's signing keys: ${(error as Error).message}`, {
          cause: error,
          retryAfterSeconds: 5,
        });
      }
      throw new AuthenticationError(this.#inPlainWords(error), { tokenPresent: true });
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success)
      throw new AuthenticationError(`The token is not valid: ${claims.error.issues[0]!.message}`, { tokenPresent: true });
    // The issuer already names the tenant; checking tid too keeps a v1/v2 issuer mix-up from ever
    // admitting another tenant's token.
    if (claims.data.tid !== undefined && claims.data.tid.toLowerCase() !== tenantId) {
      throw new AuthenticationError('The token was issued for another tenant', { tokenPresent: true });
    }
    const claimed = claims.data;
    return {
      oid: claimed.oid,
      name: claimed.name ?? claimed.preferred_username ?? `app ${claimed.azp ?? claimed.appid ?? claimed.oid}`,
      tenantId,
      roles: claimed.roles,
    };
  }

  /** What is wrong with a token, as a person can act on it (jose's own words name a claim check). */
  #inPlainWords(error: InstanceType<typeof joseErrors.JOSEError>): string {
    const at = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : 'an unknown time');
    const now = new Date().toISOString();
    if (error instanceof joseErrors.JWTExpired) return `The token expired at ${at(error.payload.exp)} (it is now ${now}): get a new one`;
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      const { claim, payload } = error;
      if (claim === 'aud') {
        const aud = Array.isArray(payload.aud) ? payload.aud.join(', ') : String(payload.aud ?? 'none');
        return `The token is for audience ${aud}; this API accepts ${this.#options.audiences.join(' or ')}: ask for a token for the rotator's API`;
      }
      if (claim === 'iss')
        return `The token was issued by ${String(payload.iss ?? 'no issuer')}; this API accepts tokens of tenant ${this.#options.tenantId} only`;
      if (claim === 'nbf')
        return `The token is not valid before ${at(payload.nbf)} (it is now ${now}): check the clock of the machine that made it`;
      return `The token's ${claim} claim is missing or not acceptable (${error.reason})`;
    }
    if (error instanceof joseErrors.JWSSignatureVerificationFailed)
      return "The token's signature does not verify with the issuer's signing keys";
    if (error instanceof joseErrors.JWKSNoMatchingKey)
      return 'The token is signed with a key the issuer does not publish (a token from another cloud or tenant?)';
    if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The token is signed with an algorithm this API does not accept (RS256 only)';
    if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid) return 'The token is not a well-formed JWT';
    return `The token is not valid (${error.message})`;
  }

  /** Authenticates, then requires the role (403 naming it when missing). */
  async authorize(request: HttpRequest, required: Role): Promise<Caller> {
    const caller = await this.authenticate(request);
    if (!hasRole(caller, required)) {
      throw new ForbiddenError(`This needs the app role ${required} (or a higher one) on the rotator's API app registration`);
    }
    return caller;
  }
}
