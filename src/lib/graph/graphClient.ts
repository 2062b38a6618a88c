import type { KeyObject } from 'node:crypto';
import { createHttpHeaders, createPipelineRequest, type HttpMethods } from '@azure/core-rest-pipeline';
import { ClientCertificateCredential, type AccessToken, type GetTokenOptions, type TokenCredential } from '@azure/identity';
import {
  AuthenticationHandler,
  Client,
  RedirectHandler,
  RetryHandler,
  RetryHandlerOptions,
  TelemetryHandler,
  type AuthenticationProvider,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { retryAfterSecondsOf } from '../azureErrors.js';
import { encodePemBundle } from '../certificates/encode.js';
import { GraphWritePacer, WritePacingHandler } from './graphWritePacer.js';
import { sharedHttpClient } from './sharedHttpClient.js';

export interface GraphRetryOptions {
  /** Retries of a 429/503/504 answer before the error is surfaced; default 3. */
  readonly maxRetries?: number;
  /** Base delay when the answer has no Retry-After; default 3 seconds (the SDK's own default). */
  readonly delaySeconds?: number;
  /**
   * The longest Retry-After waited for in-process; a longer one is surfaced at once as a
   * RetriableError carrying it, so the queue reschedules instead of holding a function instance.
   * Default 30 seconds.
   */
  readonly maxRetryAfterSeconds?: number;
}

export interface GraphClientOptions {
  readonly credential: TokenCredential;
  /** `https://graph.microsoft.com` or a sovereign cloud's / an emulator's origin; no trailing slash. */
  readonly graphBaseUrl: string;
  readonly retry?: GraphRetryOptions;
  /**
   * Deadline of one Graph call, its retries and their waits included (default 120 s), so that a hung
   * connection cannot hold a renewal past its lease.
   */
  readonly timeoutInMs?: number;
  /**
   * The pace of writes (graphWritePacer.ts): the process's shared pacer, so every client's writes
   * count against one budget as Graph counts them; default one of this client's own; false for none
   * (a test that reads Graph's raw answers).
   */
  readonly writePacer?: GraphWritePacer | false;
}

/** Aborts the request (through every retry after it in the chain) when the call's deadline passes. */
class DeadlineHandler implements Middleware {
  #next: Middleware | undefined;

  readonly #timeoutInMs: number;

  constructor(timeoutInMs: number) {
    this.#timeoutInMs = timeoutInMs;
  }

  async execute(context: Context): Promise<void> {
    const deadline = AbortSignal.timeout(this.#timeoutInMs);
    const signal = context.options?.signal;
    context.options = { ...context.options, signal: signal ? AbortSignal.any([signal, deadline]) : deadline };
    await this.#next!.execute(context);
  }

  setNext(next: Middleware): void {
    this.#next = next;
  }
}

/**
 * The end of the chain in place of the SDK's HTTPMessageHandler, which calls the global fetch: the
 * request goes out through the Azure SDKs' own Node HTTP client (node:https, a keep-alive agent),
 * and the chain gets a fetch Response back. fetch (undici and its web streams) costs about twice the
 * CPU of node:https per request (0.20 against 0.11 ms, client and server together, on loopback TLS;
 * a renewal makes three Graph requests). The SDK hands over the URL as a string and the body serialised; redirects come back
 * unfollowed for the SDK's RedirectHandler, as with its `redirect: 'manual'`; a transport failure
 * or an abort is thrown for the SDK to wrap as a GraphError without a status, as fetch's are.
 */
class AzureHttpClientHandler implements Middleware {
  readonly #http = sharedHttpClient();

  async execute(context: Context): Promise<void> {
    const request: unknown = context.request;
    if (typeof request !== 'string') throw new TypeError('Graph requests are expected as URL strings');
    const init = context.options ?? {};
    if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') {
      throw new TypeError('Graph request bodies are expected serialised as strings');
    }
    const headers = createHttpHeaders();
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    const response = await this.#http.sendRequest(
      createPipelineRequest({
        url: request,
        method: (init.method ?? 'GET').toUpperCase() as HttpMethods,
        headers,
        body: init.body ?? undefined,
        abortSignal: init.signal ?? undefined,
      }),
    );
    // fetch's Response refuses a body with these statuses.
    const noBody = response.status === 204 || response.status === 205 || response.status === 304;
    context.response = new Response(noBody ? null : (response.bodyAsText ?? ''), {
      status: response.status,
      headers: response.headers.toJSON(),
    });
  }
}

/** A token is asked for again this long before it expires (the Azure SDK's bearer policy: 2 minutes). */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * Keeps a credential's token per scope until shortly before it expires. The Graph SDK's auth provider
 * asks its credential on every request, and DefaultAzureCredential then walks its chain each time
 * (an error built for each credential that does not apply, then MSAL's cache); the Azure SDK
 * clients keep their token in their pipeline's bearer-token policy, which the Graph SDK has no
 * counterpart of. One cache per credential (per Graph client), so no token crosses identities;
 * concurrent requests share one pending token request. A call with claims or a tenant bypasses it.
 */
function withTokenCache(credential: TokenCredential): TokenCredential {
  const tokens = new Map<string, Promise<AccessToken | null>>();
  const fresh = (token: AccessToken | null) => token !== null && token.expiresOnTimestamp - TOKEN_REFRESH_MARGIN_MS > Date.now();
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      if (options?.claims !== undefined || options?.tenantId !== undefined) return credential.getToken(scopes, options);
      const key = [scopes].flat().join(' ');
      const cached = tokens.get(key);
      if (cached) {
        const token = await cached.catch(() => null);
        if (fresh(token)) return token;
        if (tokens.get(key) === cached) tokens.delete(key);
      }
      const pending = tokens.get(key) ?? credential.getToken(scopes, options);
      tokens.set(key, pending);
      try {
        return await pending;
      } catch (error) {
        if (tokens.get(key) === pending) tokens.delete(key);
        throw error;
      }
    },
  };
}

/**
 * The Graph SDK's AuthenticationProvider over a credential, through the token cache. Written here
 * rather than the SDK's TokenCredentialAuthenticationProvider, which builds a GraphClientError (and
 * its stack trace) on every request before it knows whether the token is missing.
 */
function bearerTokenProvider(credential: TokenCredential, scope: string): AuthenticationProvider {
  const cached = withTokenCache(credential);
  return {
    async getAccessToken(): Promise<string> {
      const token = await cached.getToken(scope);
      if (!token?.token) throw new Error(`The credential returned no access token for ${scope}; check the identity's sign-in.`);
      return token.token;
    },
  };
}

/** The token scope for a Graph endpoint: its origin with `/.default`, as for every Azure resource. */
export function graphScopeFor(graphBaseUrl: string): string {
  return `${new URL(graphBaseUrl).origin}/.default`;
}

/**
 * Builds the Graph SDK client with an explicit middleware chain.
 *
 * The chain is the SDK's default one (auth, retry, redirect, telemetry, fetch) with the write pacer
 * after the retry handler, built by hand for two reasons: the retry handler needs bounded options (the SDK's RetryHandler honours Retry-After and
 * retries 429/503/504, which is what we want, but would wait up to 180 s), and the host of
 * GRAPH_BASE_URL is passed as a custom host, because the SDK's AuthenticationHandler silently drops
 * the Authorization header for any host outside its list of public Graph endpoints.
 */
export function createGraphClient(options: GraphClientOptions): Client {
  const retry = options.retry ?? {};
  const maxRetryAfterSeconds = retry.maxRetryAfterSeconds ?? 30;
  const retryOptions = new RetryHandlerOptions(
    retry.delaySeconds ?? 3,
    retry.maxRetries ?? 3,
    (_delay, _attempt, _request, _options, response) => {
      const retryAfter = retryAfterSecondsOf((response as Response | undefined)?.headers);
      return retryAfter === undefined || retryAfter <= maxRetryAfterSeconds;
    },
  );
  const pacer = options.writePacer ?? new GraphWritePacer({ maxWaitMs: maxRetryAfterSeconds * 1000 });
  const middleware: Middleware[] = [
    new DeadlineHandler(options.timeoutInMs ?? 120_000),
    new AuthenticationHandler(bearerTokenProvider(options.credential, graphScopeFor(options.graphBaseUrl))),
    new RetryHandler(retryOptions),
    ...(pacer ? [new WritePacingHandler(pacer)] : []),
    new RedirectHandler(),
    new TelemetryHandler(),
    new AzureHttpClientHandler(),
  ];
  const base = new URL(options.graphBaseUrl);
  return Client.initWithMiddleware({
    middleware,
    baseUrl: `${base.origin}/`,
    defaultVersion: 'v1.0',
    customHosts: new Set([base.hostname]),
  });
}

/** A Graph session signed in as the managed app itself (self mode), and its credential. */
export interface AppSession {
  readonly graph: Client;
  readonly credential: TokenCredential;
  readonly scope: string;
}

export type AppSignIn = (appId: string, signer: { readonly der: Buffer; readonly privateKey: KeyObject }) => AppSession;

export interface AppSignInOptions {
  readonly tenantId: string;
  readonly authorityHost: string;
  /** True for any authority but the Azure clouds' (private clouds, the emulator). */
  readonly disableInstanceDiscovery: boolean;
  readonly graphBaseUrl: string;
  readonly retry?: GraphRetryOptions;
  /** The process's shared pacer: an app's own writes count against the tenant's limit too. */
  readonly writePacer?: GraphWritePacer | false;
}

/**
 * Self mode's sign-in: client credentials with a client assertion signed by the app's current
 * certificate. The PEM bundle exists only in memory, inside the credential.
 */
export function createAppSignIn(options: AppSignInOptions): AppSignIn {
  return (appId, signer) => {
    const credential = new ClientCertificateCredential(
      options.tenantId,
      appId,
      { certificate: encodePemBundle(signer.der, signer.privateKey) },
      { authorityHost: options.authorityHost, disableInstanceDiscovery: options.disableInstanceDiscovery },
    );
    return {
      graph: createGraphClient({ credential, graphBaseUrl: options.graphBaseUrl, retry: options.retry, writePacer: options.writePacer }),
      credential,
      scope: graphScopeFor(options.graphBaseUrl),
    };
  };
}
