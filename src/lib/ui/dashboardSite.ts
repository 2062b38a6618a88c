import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpResponseInit } from '@azure/functions';
import { isGuid } from '../domain/identifiers.js';
import type { ProblemFacts } from '../http/problem.js';

/**
 * The dashboard's files (README, Dashboard), served by the Function App under /api/ui/ so that page and
 * API share one origin (no CORS): the Functions host puts every HTTP trigger under host.json's
 * routePrefix, and moving the site to the root would move every API route with it. The files are
 * Vite's build (dist/web): hashed assets are cached for a year, the entry page and the sign-in
 * settings are revalidated on every load so a deploy takes effect at once. Only files found in the
 * build are served (a map, never a path joined from the URL), so no request reaches outside it.
 */

/** Where the built files are: `dist/web` of the project or the deploy package, from src/ or dist/ alike. */
export const DASHBOARD_ROOT = new URL('../../../dist/web/', import.meta.url);

/** What the page needs to sign in: the API's app registration as a single-page-app client. */
export interface DashboardSignIn {
  readonly clientId: string;
  /** `{authorityHost}/{tenantId}`. */
  readonly authority: string;
  /** The authority's host name, so MSAL trusts it without instance discovery (a private cloud, the sandbox). */
  readonly knownAuthorities: readonly string[];
  /** The API's delegated scope. */
  readonly scopes: readonly string[];
}

/**
 * The sign-in settings from the API's own settings: the client id is API_AUDIENCE's GUID (or the
 * GUID of an `api://{guid}` App ID URI), the scope is the App ID URI's user_impersonation
 * (scripts/register-api-app.sh exposes it). Undefined when no client id can be found.
 */
export function dashboardSignIn(settings: {
  readonly authorityHost: string;
  readonly apiTenantId: string;
  readonly apiAudiences: readonly string[];
}): DashboardSignIn | undefined {
  const uri = settings.apiAudiences.find((a) => !isGuid(a));
  const clientId = settings.apiAudiences.find((a) => isGuid(a)) ?? /^api:\/\/([0-9a-f-]{36})\/?$/i.exec(uri ?? '')?.[1];
  if (clientId === undefined) return undefined;
  const host = settings.authorityHost.replace(/\/+$/, '');
  return {
    clientId,
    authority: `${host}/${settings.apiTenantId}`,
    knownAuthorities: [new URL(host).host],
    scopes: [`${(uri ?? `api://${clientId}`).replace(/\/+$/, '')}/user_impersonation`],
  };
}

/**
 * The page's policy: its own scripts, styles and images only (none inline; the icon is a file of
 * the build), API calls to its own origin, token requests to the authority (MSAL's fetch), no
 * frames either way (web/src/auth.ts never lets MSAL renew in a hidden iframe), no <base> or plugin.
 * A download's blob: link needs nothing: following a link is governed by no directive (CSP's
 * navigate-to was removed, w3c/webappsec-csp#564).
 */
export function dashboardContentSecurityPolicy(authority: string): string {
  const authorityOrigin = new URL(authority).origin;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    `connect-src 'self' ${authorityOrigin}`,
    "form-action 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

interface SiteFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
  /** A content-hashed name (Vite's assets/): never changes, cached for a year. */
  readonly immutable: boolean;
}

const ENTRY_PAGE = 'index.html';
const CONFIG_FILE = 'config.json';

export class DashboardSite {
  readonly #files: ReadonlyMap<string, SiteFile>;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #config: SiteFile | undefined;

  constructor(files: ReadonlyMap<string, SiteFile>, signIn: DashboardSignIn | undefined) {
    this.#files = files;
    this.#config = signIn === undefined ? undefined : fileOf(CONFIG_FILE, Buffer.from(JSON.stringify(signIn)), false);
    this.#headers = {
      'Content-Security-Policy': dashboardContentSecurityPolicy(signIn?.authority ?? 'https://login.microsoftonline.com'),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
    };
  }

  /** Reads a build folder (dist/web); an absent one serves a 503 saying how to build it. */
  static load(root: URL | string, signIn: DashboardSignIn | undefined): DashboardSite {
    const dir = typeof root === 'string' ? root : fileURLToPath(root);
    const files = new Map<string, SiteFile>();
    if (existsSync(dir)) {
      for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
        if (!entry.isFile()) continue;
        const path = relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/');
        if (path.endsWith('.map')) continue;
        files.set(path, fileOf(path, readFileSync(join(entry.parentPath, entry.name)), path.startsWith('assets/')));
      }
    }
    return new DashboardSite(files, signIn);
  }

  /**
   * The answer for `/api/ui/{path}`: `path` as the host decoded it ('' for the folder itself).
   * `requestPath` is the URL's path, to send `/api/ui` to `/api/ui/` (the redirect URI, and where
   * relative links resolve).
   */
  serve(path: string, requestPath: string, ifNoneMatch: string | undefined): HttpResponseInit | { readonly problem: ProblemFacts } {
    if (path === '' && !requestPath.endsWith('/')) {
      return { status: 308, headers: { ...this.#headers, Location: `${requestPath}/`, 'Cache-Control': 'no-cache' } };
    }
    const name = path === '' ? ENTRY_PAGE : path;
    const file = name === CONFIG_FILE ? this.#config : this.#files.get(name);
    if (file === undefined) return this.#missing(name);
    const headers: Record<string, string> = {
      ...this.#headers,
      'Content-Type': file.contentType,
      ETag: file.etag,
      'Cache-Control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim() === file.etag)) return { status: 304, headers };
    return { status: 200, headers, body: file.body };
  }

  /** What is missing, for the handler to answer as the API answers any problem (src/lib/http/problem.ts). */
  #missing(name: string): { readonly problem: ProblemFacts } {
    const notConfigured = name === CONFIG_FILE && this.#config === undefined;
    if (notConfigured || !this.#files.has(ENTRY_PAGE)) {
      const detail = notConfigured
        ? 'Sign-in is not configured: API_AUDIENCE names no client id (a GUID, or an App ID URI api://{client id})'
        : 'The dashboard is not built: `npm run build` writes it to dist/web';
      return { problem: { status: 503, title: 'Service unavailable', code: 'dashboard-unavailable', detail } };
    }
    return { problem: { status: 404, title: 'Not found', code: 'not-found', detail: `The dashboard has no file ${name.slice(0, 200)}` } };
  }
}

function fileOf(path: string, body: Buffer, immutable: boolean): SiteFile {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, contentType: CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', etag, immutable };
}
