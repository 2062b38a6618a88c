import { randomUUID } from 'node:crypto';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { thumbprintsOf } from '../certificates/thumbprints.js';
import { sharedHttpClient } from './sharedHttpClient.js';
import { RetriableError } from '../errors.js';
import type { CertificateSigner, SignInVerifier } from '../domain/ports.js';

export interface AppSignInVerifierOptions {
  /** The managed apps' tenant (MANAGED_TENANT_ID). */
  readonly tenantId: string;
  /** AZURE_AUTHORITY_HOST, no trailing slash. */
  readonly authorityHost: string;
  /** What the token is asked for: `{GRAPH_BASE_URL}/.default`. */
  readonly scope: string;
  /** Deadline of one sign-in (metadata read included); default 30 s. */
  readonly timeoutInMs?: number;
}

// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#second-case-access-token-request-with-a-certificate
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Entra accepts assertions valid for up to 10 minutes; one sign-in needs seconds. */
const ASSERTION_LIFETIME_SECONDS = 5 * 60;

const metadataSchema = z.object({ token_endpoint: z.url() });
const tokenResponseSchema = z.object({ access_token: z.string().min(1) });
const errorResponseSchema = z.object({ error: z.string().optional(), error_description: z.string().optional() });

/**
 * Proof before trust (docs/renewal.md): signs in as the app with the new certificate, through the client
 * credentials flow with a client assertion (PS256 with `x5t#S256`, the pairing msal-node uses and
 * Entra documents: https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
 * A token means Entra knows the certificate. A refusal right after the certificate was added is
 * usually propagation (AADSTS700027), so every refusal is retriable: the caller's verification
 * window decides when to give up.
 *
 * The assertion is signed with jose and sent in one POST, rather than through a new msal-node client
 * per certificate: a verification is one token request for a certificate used once, so msal's cache,
 * its configuration and the PEM round trip of the key it needs buy nothing (bench/renew.ts profiles:
 * ~1.5 ms of a renewal's CPU through msal-node, ~0.8 ms this way, the signature included). The
 * token endpoint comes from the authority's OpenID metadata, read once per process (and again only
 * after a failure).
 */
export class AppSignInVerifier implements SignInVerifier {
  readonly #options: Required<AppSignInVerifierOptions>;
  // node:https through the Azure SDKs' client rather than fetch: half the CPU per request (graphClient.ts).
  readonly #http = sharedHttpClient();
  #tokenEndpoint: Promise<string> | undefined;

  constructor(options: AppSignInVerifierOptions) {
    this.#options = { timeoutInMs: 30_000, ...options, authorityHost: options.authorityHost.replace(/\/+$/, '') };
  }

  async verify(appId: string, signer: CertificateSigner): Promise<void> {
    const signal = AbortSignal.timeout(this.#options.timeoutInMs);
    const failed = (reason: string, cause?: unknown) =>
      new RetriableError(`Signing in as app ${appId} with the new certificate failed: ${reason}`, { cause });
    let status: number;
    let body: unknown;
    try {
      const tokenEndpoint = await abortable(this.#tokenEndpointOnce(), signal);
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'PS256', typ: 'JWT', 'x5t#S256': thumbprintsOf(signer.der).x5tS256 })
        .setIssuer(appId)
        .setSubject(appId)
        .setAudience(tokenEndpoint)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + ASSERTION_LIFETIME_SECONDS)
        .sign(signer.privateKey);
      const form = new URLSearchParams({
        client_id: appId,
        scope: this.#options.scope,
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
      });
      ({ status, body } = await this.#send(tokenEndpoint, signal, form));
    } catch (error) {
      throw failed(signal.aborted ? `no answer within ${this.#options.timeoutInMs} ms` : firstLine(error), error);
    }
    if (status < 200 || status > 299) {
      const refusal = errorResponseSchema.safeParse(body);
      const reason = refusal.success ? (refusal.data.error_description ?? refusal.data.error) : undefined;
      throw failed(`HTTP ${status}${reason ? `: ${firstLine(reason)}` : ''}`);
    }
    if (!tokenResponseSchema.safeParse(body).success) {
      throw new RetriableError(`Signing in as app ${appId} with the new certificate returned no token`);
    }
  }

  /** A GET (no form) or a form POST; the body parsed as JSON, undefined when it is not JSON. */
  async #send(url: string, signal: AbortSignal, form?: URLSearchParams): Promise<{ status: number; body: unknown }> {
    const headers = createHttpHeaders({ accept: 'application/json' });
    if (form) headers.set('content-type', 'application/x-www-form-urlencoded');
    const response = await this.#http.sendRequest(
      createPipelineRequest({ url, method: form ? 'POST' : 'GET', headers, body: form?.toString(), abortSignal: signal }),
    );
    let body: unknown;
    try {
      body = JSON.parse(response.bodyAsText ?? '');
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  /** Shared by concurrent verifications, so it runs under a deadline of its own, not a caller's. */
  #tokenEndpointOnce(): Promise<string> {
    this.#tokenEndpoint ??= (async () => {
      const url = `${this.#options.authorityHost}/${this.#options.tenantId}/v2.0/.well-known/openid-configuration`;
      const { status, body } = await this.#send(url, AbortSignal.timeout(this.#options.timeoutInMs));
      if (status !== 200) throw new Error(`the authority's OpenID metadata (${url}) answered HTTP ${status}`);
      const metadata = metadataSchema.safeParse(body);
      if (!metadata.success) throw new Error(`the authority's OpenID metadata (${url}) names no token_endpoint`);
      return metadata.data.token_endpoint;
    })().catch((error: unknown) => {
      this.#tokenEndpoint = undefined;
      throw error;
    });
    return this.#tokenEndpoint;
  }
}

/** Waits for `promise`, or rejects when `signal` aborts first (the promise itself goes on). */
async function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function firstLine(error: unknown): string {
  // Entra's error_description ends its lines with \r\n.
  return (error instanceof Error ? error.message : String(error)).split(/\r?\n/)[0]!;
}
