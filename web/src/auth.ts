import { BrowserCacheLocation, CacheLookupPolicy, PublicClientApplication, type AccountInfo } from '@azure/msal-browser';

/** What /api/ui/config.json says (src/lib/ui/dashboardSite.ts). */
export interface SignInSettings {
  readonly clientId: string;
  readonly authority: string;
  readonly knownAuthorities: string[];
  readonly scopes: string[];
}

export type Role = 'CertRotator.Reader' | 'CertRotator.Operator' | 'CertRotator.Admin';

/** Admin implies Operator implies Reader, as the API decides (docs/http-api.md). */
const RANK: Record<Role, number> = { 'CertRotator.Reader': 1, 'CertRotator.Operator': 2, 'CertRotator.Admin': 3 };

/**
 * Sign-in with MSAL (authorization code with PKCE, the API's app registration as a single-page-app
 * client). MSAL's cache is sessionStorage: tokens last as long as the tab, never in localStorage.
 * The roles shown are read from the access token only to decide what to offer; the API checks them
 * again on every call.
 *
 * Tokens are renewed with the refresh token only, never MSAL's hidden iframe: the iframe would load
 * /api/ui/ inside the page, which its own policy forbids (no frame-src, frame-ancestors 'none':
 * src/lib/ui/dashboardSite.ts), and MSAL would wait out its timeout. A SPA's refresh token lives 24 hours
 * whatever is done (learn.microsoft.com/entra/msal/javascript/browser/token-lifetimes), so a day-old
 * tab signs in again.
 */
export class Auth {
  readonly #msal: PublicClientApplication;
  readonly #settings: SignInSettings;
  #account: AccountInfo | undefined;
  #roles: Role[] = [];
  #ended = false;
  #redirecting: Promise<void> | undefined;

  private constructor(msal: PublicClientApplication, settings: SignInSettings) {
    this.#msal = msal;
    this.#settings = settings;
  }

  static async start(settings: SignInSettings, redirectUri: string): Promise<Auth> {
    const msal = new PublicClientApplication({
      auth: {
        clientId: settings.clientId,
        authority: settings.authority,
        knownAuthorities: settings.knownAuthorities,
        redirectUri,
        postLogoutRedirectUri: redirectUri,
      },
      cache: { cacheLocation: BrowserCacheLocation.SessionStorage },
    });
    await msal.initialize();
    const auth = new Auth(msal, settings);
    const result = await msal.handleRedirectPromise({ navigateToLoginRequestUrl: false });
    auth.#account = result?.account ?? msal.getAllAccounts()[0];
    if (auth.#account) {
      msal.setActiveAccount(auth.#account);
      try {
        await auth.#silentToken();
      } catch {
        // Whatever the reason (no refresh token, an expired one, the authority unreachable), the page offers a new sign-in.
        auth.#account = undefined;
        auth.#ended = true;
      }
    }
    return auth;
  }

  /** Whether a signed-in session was found that could not be renewed without the person: the page says so beside Sign in. */
  get sessionEnded(): boolean {
    return this.#ended;
  }

  get account(): AccountInfo | undefined {
    return this.#account;
  }

  get roles(): readonly Role[] {
    return this.#roles;
  }

  /** Whether the signed-in person holds `role` or one that implies it. */
  can(role: Role): boolean {
    return this.#roles.some((held) => RANK[held] >= RANK[role]);
  }

  signIn(): Promise<void> {
    return this.#msal.loginRedirect({ scopes: this.#settings.scopes, prompt: 'select_account' });
  }

  signOut(): Promise<void> {
    return this.#msal.logoutRedirect({ account: this.#account });
  }

  /** A token for the API, from MSAL's cache or renewed with the refresh token; on any failure, off to sign in again. */
  async token(): Promise<string> {
    try {
      return await this.#silentToken();
    } catch (error) {
      // Parallel calls fail together: one redirect (a second loginRedirect would throw interaction_in_progress).
      this.#redirecting ??= this.signIn();
      await this.#redirecting;
      throw error;
    }
  }

  async #silentToken(): Promise<string> {
    const result = await this.#msal.acquireTokenSilent({
      scopes: this.#settings.scopes,
      account: this.#account,
      cacheLookupPolicy: CacheLookupPolicy.AccessTokenAndRefreshToken,
    });
    this.#roles = rolesOf(result.accessToken);
    return result.accessToken;
  }
}

function rolesOf(accessToken: string): Role[] {
  try {
    const payload = accessToken.split('.')[1] ?? '';
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { roles?: unknown };
    return Array.isArray(claims.roles) ? (claims.roles.filter((r) => typeof r === 'string' && r in RANK) as Role[]) : [];
  } catch {
    return [];
  }
}
