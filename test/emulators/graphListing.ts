import type { GraphApplication } from './graph.js';
import { presentApplication, selectedFields } from './graphApplicationView.js';
import { badRequest } from './graphFailure.js';

/**
 * GET /v1.0/applications as Graph pages it, for the Graph emulator (graph.ts keeps the routes):
 *  - `$top` 1 to 999, default 100; anything else is 400 ("application-list": "$top ... 999"; a
 *    page of the default size when absent, https://learn.microsoft.com/graph/paging);
 *  - `@odata.nextLink` while more remain: the request's query as sent, then a `$skiptoken` in the
 *    shape Graph gives directory objects, `X'<hex>'` percent-encoded as `X%27…%27`
 *    (https://learn.microsoft.com/graph/paging), so a client that decodes the token and checks it
 *    for URL-safe characters meets the apostrophes a real tenant sends;
 *  - `$expand=owners` (optionally `owners($select=…)`): directory-object relationships expand to at
 *    most 20 items and, with `$expand`, a page holds at most 100 objects ("Some limitations apply
 *    to query parameters", Graph known issues; microsoft-graph-docs #21516) — the emulator caps
 *    the page rather than refusing, and the client just follows nextLink either way;
 *  - `$filter=appId eq '…'` only (what the rotator sends).
 * Collections never return a credential's `key` (graphApplicationView.ts presentApplication).
 */

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 999;
export const MAX_PAGE_SIZE_WITH_EXPAND = 100;
export const MAX_EXPANDED_ITEMS = 20;

export interface ListingQuery {
  readonly top: number;
  readonly skip: number;
  readonly filterAppId: string | undefined;
  /** undefined: no $expand; otherwise the owner fields asked for (undefined members: all). */
  readonly expandOwners: { readonly select: readonly string[] | undefined } | undefined;
}

/** Parses the query, or answers the message of Graph's 400 for it. */
export function parseListingQuery(params: URLSearchParams): ListingQuery | { error: string } {
  const topText = params.get('$top');
  let top = DEFAULT_PAGE_SIZE;
  if (topText !== null) {
    top = Number(topText);
    if (!Number.isInteger(top) || top < 1 || top > MAX_PAGE_SIZE)
      return { error: `Invalid page size specified: '${topText}'. Must be between 1 and ${MAX_PAGE_SIZE} inclusive.` };
  }
  const token = params.get('$skiptoken');
  let skip = 0;
  if (token !== null) {
    const hex = /^X'([0-9A-F]+)'$/.exec(token)?.[1];
    const position = hex === undefined ? null : /^skip:(\d+)$/.exec(Buffer.from(hex, 'hex').toString('utf8'));
    if (!position) return { error: 'Specified skip token is invalid.' };
    skip = Number(position[1]);
  }
  const filter = params.get('$filter');
  let filterAppId: string | undefined;
  if (filter !== null) {
    const m = /^appId eq '([^']+)'$/i.exec(filter.trim());
    if (!m) return { error: `Unsupported or invalid query filter clause specified for property 'appId' of resource 'Application'.` };
    filterAppId = m[1]!.toLowerCase();
  }
  const expand = params.get('$expand');
  let expandOwners: ListingQuery['expandOwners'];
  if (expand !== null) {
    const m = /^owners(?:\(\$select=([A-Za-z,]+)\))?$/.exec(expand.trim());
    if (!m) return { error: `Could not find a navigation property named '${expand}' on type 'microsoft.graph.application'.` };
    expandOwners = { select: m[1]?.split(',') };
    top = Math.min(top, MAX_PAGE_SIZE_WITH_EXPAND);
  }
  return { top, skip, filterAppId, expandOwners };
}

export interface OwnerRecord {
  readonly id: string;
  readonly type: 'servicePrincipal' | 'user';
  readonly displayName?: string;
  readonly appId?: string;
  readonly userPrincipalName?: string;
}

/** An owner as a directoryObject in an expansion, with only the fields asked for (id and type always). */
export function expandedOwner(owner: OwnerRecord, select: readonly string[] | undefined): Record<string, unknown> {
  const full: Record<string, unknown> = {
    '@odata.type': `#microsoft.graph.${owner.type}`,
    id: owner.id,
    displayName: owner.displayName ?? null,
    ...(owner.type === 'user' ? { userPrincipalName: owner.userPrincipalName ?? null } : { appId: owner.appId ?? null }),
  };
  if (!select) return full;
  return Object.fromEntries(Object.entries(full).filter(([k]) => k === '@odata.type' || k === 'id' || select.includes(k)));
}

/** One page of `items` and the nextLink that continues it, if any. */
export function pageOf<T>(items: readonly T[], query: ListingQuery, requestUrl: URL): { value: T[]; nextLink: string | undefined } {
  const value = items.slice(query.skip, query.skip + query.top);
  const next = query.skip + query.top;
  if (next >= items.length) return { value, nextLink: undefined };
  // Graph repeats the query as sent (not re-encoded) and appends its token.
  const kept = requestUrl.search
    .slice(1)
    .split('&')
    .filter((part) => part !== '' && !/^(\$|%24)skiptoken=/i.test(part));
  const token = `$skiptoken=X%27${Buffer.from(`skip:${next}`, 'utf8').toString('hex').toUpperCase()}%27`;
  return { value, nextLink: `${requestUrl.origin}${requestUrl.pathname}?${[...kept, token].join('&')}` };
}

/** The body of GET /v1.0/applications over the applications the caller may read; a bad query is Graph's 400. */
export function applicationsListBody(graphUrl: string, readable: readonly GraphApplication[], requestUrl: URL): Record<string, unknown> {
  const query = parseListingQuery(requestUrl.searchParams);
  if ('error' in query) throw badRequest(query.error);
  const apps = query.filterAppId === undefined ? readable : readable.filter((a) => a.appId === query.filterAppId);
  const select = selectedFields(requestUrl);
  const page = pageOf(apps, query, requestUrl);
  // A collection read never returns `key`, whatever $select says.
  const value = page.value.map((a) => ({
    ...presentApplication(a, select, false),
    ...(query.expandOwners
      ? { owners: a.owners.slice(0, MAX_EXPANDED_ITEMS).map((o) => expandedOwner(o, query.expandOwners!.select)) }
      : {}),
  }));
  return {
    '@odata.context': `${graphUrl}/v1.0/$metadata#applications`,
    value,
    ...(page.nextLink ? { '@odata.nextLink': page.nextLink } : {}),
  };
}
