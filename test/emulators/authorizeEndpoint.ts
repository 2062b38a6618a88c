import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorRequest, EmulatorResponse, EmulatorServer } from './emulatorServer.js';
import type { IssueAccessTokenOptions } from './entraAuthority.js';
import { AadstsError, aadstsResponse } from './aadstsError.js';

/**
 * People signing in to a single-page app with the authorization code flow and PKCE, the part of the
 * loopback Entra authority that the dashboard (README, Dashboard) uses; entraAuthority.ts mounts it.
 *
 * Follows https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow:
 * - GET /{tenant}/oauth2/v2.0/authorize: client_id, response_type=code, a redirect_uri registered
 *   for the app's single-page-app platform, scope, state, nonce, code_challenge (required for a SPA)
 *   with code_challenge_method S256 or plain (that page: "Microsoft identity platform supports both
 *   plain and S256"; a missing method is plain, RFC 7636 §4.3; any other is invalid_request, §4.4.1);
 *   response_mode query or fragment. An unknown redirect URI is an error page (AADSTS50011), never a
 *   redirect; other errors go back to the
 *   redirect URI as error/error_description. prompt=none has no session here: login_required.
 *   Instead of a password prompt it shows a page to pick one of the tenant's users.
 * - POST /{tenant}/oauth2/v2.0/token, grant_type authorization_code (code, code_verifier,
 *   redirect_uri, client_id) or refresh_token: a code is redeemed once, within 10 minutes, with the
 *   verifier the challenge was made from (AADSTS501481 otherwise), and only cross-origin: a SPA's
 *   tokens need an Origin header (AADSTS9002327, github.com/AzureAD/microsoft-authentication-library-for-js/issues/2482),
 *   answered with Access-Control-Allow-Origin; OPTIONS answers the CORS preflight MSAL's headers cause.
 * - GET /{tenant}/oauth2/v2.0/logout: back to a registered post_logout_redirect_uri.
 * Access tokens carry the user's app roles (`roles`) and the granted scopes (`scp`), `aud` the app's
 * client id (v2 tokens: scripts/register-api-app.sh sets requestedAccessTokenVersion 2).
 */

export interface SinglePageApp {
  readonly tenantId: string;
  readonly clientId: string;
  /** The App ID URI its scopes are named under (`api://…`). */
  readonly appIdUri: string;
  readonly redirectUris: readonly string[];
  /** Delegated scopes the app exposes, e.g. user_impersonation. */
  readonly scopes: readonly string[];
}

export interface DirectoryUser {
  readonly tenantId: string;
  readonly oid: string;
  readonly name: string;
  readonly username: string;
  /** App roles assigned to the user on the app (its tokens' `roles`). */
  readonly appRoles: readonly string[];
}

/** What the sign-in needs from the authority: its URL and its token signer. */
export interface TokenIssuer {
  readonly url: string;
  issueAccessToken(options: IssueAccessTokenOptions): Promise<string>;
}

interface PendingRequest {
  readonly tenantId: string;
  readonly app: SinglePageApp;
  readonly redirectUri: string;
  readonly responseMode: 'query' | 'fragment';
  readonly state: string | null;
  readonly nonce: string | null;
  readonly scopes: readonly string[];
  readonly codeChallenge: string;
  readonly codeChallengeMethod: ChallengeMethod;
}

interface IssuedCode extends PendingRequest {
  readonly user: DirectoryUser;
  readonly expiresAt: number;
  redeemed: boolean;
}

interface RefreshGrant {
  readonly app: SinglePageApp;
  readonly user: DirectoryUser;
  readonly scopes: readonly string[];
  readonly origin: string;
}

type ChallengeMethod = 'S256' | 'plain';

/** The challenge a verifier makes under each method (RFC 7636 §4.2). */
const CHALLENGE_OF: Readonly<Record<ChallengeMethod, (verifier: string) => string>> = {
  S256: (verifier) => createHash('sha256').update(verifier, 'ascii').digest('base64url'),
  plain: (verifier) => verifier,
};

const CODE_LIFETIME_MS = 10 * 60 * 1000;
const TOKEN_LIFETIME_SECONDS = 3599;
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `formTarget`: where the page's form may end up, since browsers apply form-action to the redirect after the POST too. */
function page(title: string, body: string, formTarget?: string): EmulatorResponse {
  return {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; form-action 'self'${formTarget ? ` ${new URL(formTarget).origin}` : ''}; frame-ancestors 'none'`,
    },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`,
  };
}

export class UserSignIn {
  readonly #issuer: TokenIssuer;
  readonly #apps = new Map<string, SinglePageApp>();
  readonly #users = new Map<string, DirectoryUser>();
  readonly #pending = new Map<string, PendingRequest>();
  readonly #codes = new Map<string, IssuedCode>();
  readonly #refreshTokens = new Map<string, RefreshGrant>();

  constructor(issuer: TokenIssuer) {
    this.#issuer = issuer;
  }

  mount(server: EmulatorServer): void {
    server
      .route('GET', '/:tenant/oauth2/v2.0/authorize', 'authorize', (r) => this.#authorize(r))
      .route('POST', '/:tenant/oauth2/v2.0/authorize', 'authorize-pick', (r) => this.#pick(r))
      .route('OPTIONS', '/:tenant/oauth2/v2.0/token', 'token-preflight', (r) => this.#preflight(r))
      .route('GET', '/:tenant/oauth2/v2.0/logout', 'logout', (r) => this.#logout(r));
  }

  /** Registers (or replaces) an app's single-page-app platform. */
  registerSinglePageApp(app: SinglePageApp): void {
    this.#apps.set(`${app.tenantId.toLowerCase()}|${app.clientId.toLowerCase()}`, { ...app, tenantId: app.tenantId.toLowerCase() });
  }

  addUser(user: DirectoryUser): void {
    this.#users.set(`${user.tenantId.toLowerCase()}|${user.oid}`, { ...user, tenantId: user.tenantId.toLowerCase() });
  }

  /** Whether a token request is a user's (code or refresh) rather than an app's client credentials. */
  handles(request: EmulatorRequest): boolean {
    const grant = new URLSearchParams(request.body.toString('utf8')).get('grant_type');
    return grant === 'authorization_code' || grant === 'refresh_token';
  }

  async token(request: EmulatorRequest): Promise<EmulatorResponse> {
    const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined;
    const cors: Record<string, string> = origin ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {};
    try {
      const body = await this.#redeem(request, origin);
      return { status: 200, headers: { ...cors, 'cache-control': 'no-store, no-cache', pragma: 'no-cache' }, body };
    } catch (error) {
      if (!(error instanceof AadstsError)) throw error;
      return { ...aadstsResponse(error, this.#issuer.url), headers: cors };
    }
  }

  #app(tenantId: string, clientId: string | null): SinglePageApp | undefined {
    return clientId === null ? undefined : this.#apps.get(`${tenantId.toLowerCase()}|${clientId.toLowerCase()}`);
  }

  #authorize(request: EmulatorRequest): EmulatorResponse {
    const tenantId = request.params.tenant!.toLowerCase();
    const query = request.url.searchParams;
    const app = this.#app(tenantId, query.get('client_id'));
    if (!app) {
      return page(
        'Sign in',
        `<p>AADSTS700016: Application with identifier '${escapeHtml(query.get('client_id') ?? '')}' was not found in the directory '${escapeHtml(tenantId)}'.</p>`,
      );
    }
    const redirectUri = query.get('redirect_uri') ?? '';
    if (!app.redirectUris.includes(redirectUri)) {
      return page(
        'Sign in',
        `<p>AADSTS50011: The redirect URI '${escapeHtml(redirectUri)}' specified in the request does not match the redirect URIs configured for the application '${escapeHtml(app.clientId)}'.</p>`,
      );
    }
    const mode = query.get('response_mode') ?? 'query';
    const back = (error: string, code: number, description: string) =>
      this.#redirect(redirectUri, mode === 'fragment' ? 'fragment' : 'query', {
        error,
        error_description: `AADSTS${code}: ${description}`,
        state: query.get('state'),
      });
    if (mode !== 'query' && mode !== 'fragment') return back('invalid_request', 900144, `response_mode '${mode}' is not supported here.`);
    if (query.get('response_type') !== 'code') {
      return back('unsupported_response_type', 700054, "response_type 'code' is the only one enabled for this application.");
    }
    const codeChallenge = query.get('code_challenge');
    if (!codeChallenge) {
      return back('invalid_request', 9002325, 'Proof Key for Code Exchange is required for cross-origin authorization code redemption.');
    }
    const codeChallengeMethod = query.get('code_challenge_method') ?? 'plain';
    if (!Object.hasOwn(CHALLENGE_OF, codeChallengeMethod)) {
      // RFC 7636 §4.4.1's error; Entra's reference-error-codes page lists no AADSTS number for it, so none is made up.
      return this.#redirect(redirectUri, mode, {
        error: 'invalid_request',
        error_description: `code_challenge_method '${codeChallengeMethod}' is not supported: use S256 or plain.`,
        state: query.get('state'),
      });
    }
    const scopes = (query.get('scope') ?? '').split(' ').filter((s) => s !== '');
    const unknown = scopes.filter((s) => !OIDC_SCOPES.has(s) && !app.scopes.some((own) => s === `${app.appIdUri}/${own}`));
    if (!scopes.includes('openid') || unknown.length > 0) {
      return back(
        'invalid_scope',
        70011,
        `The provided value for the input parameter 'scope' is not valid (${unknown.join(' ') || 'openid is required'}).`,
      );
    }
    if (query.get('prompt') === 'none') return back('login_required', 50058, 'A silent sign-in request was sent but no user is signed in.');
    const id = randomBytes(16).toString('base64url');
    this.#pending.set(id, {
      tenantId,
      app,
      redirectUri,
      responseMode: mode,
      state: query.get('state'),
      nonce: query.get('nonce'),
      scopes,
      codeChallenge,
      codeChallengeMethod: codeChallengeMethod as ChallengeMethod,
    });
    const users = [...this.#users.values()].filter((u) => u.tenantId === tenantId);
    const choices = users
      .map(
        (u) =>
          `<li><form method="post"><input type="hidden" name="request" value="${id}"><input type="hidden" name="user" value="${escapeHtml(u.oid)}">` +
          `<button type="submit">${escapeHtml(u.name)}</button> <span>${escapeHtml(u.username)} (${escapeHtml(u.appRoles.join(', ') || 'no role')})</span></form></li>`,
      )
      .join('');
    return page(
      'Pick an account',
      `<main><h1>Pick an account</h1><p>The sandbox's authority signs in whoever you pick; no password.</p><ul>${choices}</ul></main>`,
      redirectUri,
    );
  }

  #pick(request: EmulatorRequest): EmulatorResponse {
    const form = new URLSearchParams(request.body.toString('utf8'));
    const pending = this.#pending.get(form.get('request') ?? '');
    const user = this.#users.get(`${request.params.tenant!.toLowerCase()}|${form.get('user') ?? ''}`);
    if (!pending || !user)
      return { ...page('Sign in', '<p>AADSTS90014: The sign-in request expired or names no user. Start again.</p>'), status: 400 };
    this.#pending.delete(form.get('request')!);
    const code = randomBytes(32).toString('base64url');
    this.#codes.set(code, { ...pending, user, expiresAt: Date.now() + CODE_LIFETIME_MS, redeemed: false });
    return this.#redirect(pending.redirectUri, pending.responseMode, {
      code,
      state: pending.state,
      client_info: this.#clientInfo(user),
      session_state: randomUUID(),
    });
  }

  #redirect(redirectUri: string, mode: 'query' | 'fragment', params: Record<string, string | null>): EmulatorResponse {
    const encoded = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== null)).toString();
    const url = new URL(redirectUri);
    if (mode === 'fragment') url.hash = encoded;
    else url.search = url.search ? `${url.search}&${encoded}` : encoded;
    return { status: 302, headers: { location: url.toString(), 'cache-control': 'no-store' } };
  }

  #clientInfo(user: DirectoryUser): string {
    return Buffer.from(JSON.stringify({ uid: user.oid, utid: user.tenantId })).toString('base64url');
  }

  #preflight(request: EmulatorRequest): EmulatorResponse {
    const origin = request.headers.origin;
    if (typeof origin !== 'string') return { status: 400 };
    return {
      status: 204,
      headers: {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': String(request.headers['access-control-request-headers'] ?? 'content-type'),
        'access-control-max-age': '86400',
        vary: 'Origin',
      },
    };
  }

  #logout(request: EmulatorRequest): EmulatorResponse {
    const target = request.url.searchParams.get('post_logout_redirect_uri');
    const tenantId = request.params.tenant!.toLowerCase();
    const known = [...this.#apps.values()].some((a) => a.tenantId === tenantId && target !== null && a.redirectUris.includes(target));
    if (target !== null && known) return { status: 302, headers: { location: target, 'cache-control': 'no-store' } };
    return page('Signed out', '<p>You signed out of your account.</p>');
  }

  async #redeem(request: EmulatorRequest, origin: string | undefined): Promise<Record<string, unknown>> {
    const tenantId = request.params.tenant!.toLowerCase();
    const form = new URLSearchParams(request.body.toString('utf8'));
    const app = this.#app(tenantId, form.get('client_id'));
    if (!app) {
      throw new AadstsError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${form.get('client_id') ?? ''}' was not found in the directory '${tenantId}'.`,
      );
    }
    if (origin === undefined) {
      throw new AadstsError(
        400,
        'invalid_request',
        9002327,
        "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
      );
    }
    if (!app.redirectUris.some((uri) => new URL(uri).origin === origin)) {
      throw new AadstsError(
        400,
        'invalid_request',
        9002326,
        `Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type; ${origin} is not one of its redirect URIs' origins.`,
      );
    }
    let user: DirectoryUser;
    let scopes: readonly string[];
    let nonce: string | null = null;
    if (form.get('grant_type') === 'authorization_code') {
      const issued = this.#codes.get(form.get('code') ?? '');
      if (!issued || issued.app !== app)
        throw new AadstsError(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid (the code is unknown).');
      if (issued.redeemed)
        throw new AadstsError(
          400,
          'invalid_grant',
          54005,
          'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
        );
      if (issued.expiresAt < Date.now())
        throw new AadstsError(
          400,
          'invalid_grant',
          70008,
          'The provided authorization code or refresh token has expired due to inactivity.',
        );
      if (form.get('redirect_uri') !== issued.redirectUri) {
        throw new AadstsError(
          400,
          'invalid_grant',
          50011,
          'The redirect URI does not match the one the authorization code was issued for.',
        );
      }
      const verifier = form.get('code_verifier') ?? '';
      if (CHALLENGE_OF[issued.codeChallengeMethod](verifier) !== issued.codeChallenge) {
        throw new AadstsError(
          400,
          'invalid_grant',
          501481,
          'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
        );
      }
      issued.redeemed = true;
      ({ user, scopes, nonce } = issued);
    } else {
      const grant = this.#refreshTokens.get(form.get('refresh_token') ?? '');
      if (!grant || grant.app !== app)
        throw new AadstsError(
          400,
          'invalid_grant',
          9002313,
          'Invalid request. Request is malformed or invalid (the refresh token is unknown).',
        );
      if (grant.origin !== origin) throw new AadstsError(400, 'invalid_grant', 9002327, 'The refresh token was issued to another origin.');
      this.#refreshTokens.delete(form.get('refresh_token')!);
      ({ user } = grant);
      scopes = grant.scopes;
    }
    const apiScopes = scopes.filter((s) => !OIDC_SCOPES.has(s)).map((s) => s.slice(app.appIdUri.length + 1));
    const common = { tenantId, version: 2 as const, appId: app.clientId, oid: user.oid, name: user.name };
    const accessToken = await this.#issuer.issueAccessToken({
      ...common,
      audience: app.clientId,
      roles: user.appRoles.length > 0 ? [...user.appRoles] : undefined,
      lifetimeSeconds: TOKEN_LIFETIME_SECONDS,
      claims: { scp: apiScopes.join(' '), preferred_username: user.username },
    });
    // The ID token is the same signed JWT shape with the client as audience and the request's nonce, which MSAL checks.
    const idToken = await this.#issuer.issueAccessToken({
      ...common,
      audience: app.clientId,
      roles: user.appRoles.length > 0 ? [...user.appRoles] : undefined,
      claims: { preferred_username: user.username, ...(nonce !== null ? { nonce } : {}) },
    });
    const refreshToken = randomBytes(48).toString('base64url');
    this.#refreshTokens.set(refreshToken, { app, user, scopes, origin });
    return {
      token_type: 'Bearer',
      scope: scopes.join(' '),
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: accessToken,
      refresh_token: refreshToken,
      refresh_token_expires_in: 24 * 3600,
      id_token: idToken,
      client_info: this.#clientInfo(user),
    };
  }
}
