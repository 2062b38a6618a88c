import type { Client } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import type { TenantApplicationPage, TenantApplications } from '../domain/inventory.js';
import { ValidationError } from '../errors.js';
import { toRotatorError } from './graphErrors.js';

/**
 * The tenant's app registrations through Microsoft Graph, page by page (GET /applications): only
 * the fields the inventory summarises ($select), owners expanded in the same request, so a whole
 * tenant costs one request per page and none per app. With `$expand` Graph pages directory objects
 * 100 at a time and expands at most 20 owners each (Graph known issues, "Some limitations apply to
 * query parameters"); the listing follows `@odata.nextLink`, carried between calls as its
 * `$skiptoken` only, so a continuation token can never point the rotator at another host. The token
 * is kept exactly as Graph wrote it, still percent-encoded (for directory objects `X%27…%27`,
 * https://learn.microsoft.com/graph/paging), because the SDK appends query values unencoded.
 */

const PAGE_SIZE = 100;
const SELECT = 'id,appId,displayName,signInAudience,keyCredentials,passwordCredentials';
// owners "supports $expand … and $select nested in $expand" (application resource, v1.0).
const EXPAND = 'owners($select=id,displayName,userPrincipalName)';
// Characters of a raw query value that cannot end it or start another parameter (no & # ? or space).
const SKIP_TOKEN = /^[A-Za-z0-9_.~%+/=!*'()-]{1,4096}$/;

const credential = z.object({ endDateTime: z.string() }).loose();
const listingSchema = z
  .object({
    value: z.array(
      z
        .object({
          id: z.string(),
          appId: z.string(),
          displayName: z.string().nullable(),
          signInAudience: z.string().nullable().optional(),
          keyCredentials: z.array(credential).default([]),
          passwordCredentials: z.array(credential).default([]),
          owners: z
            .array(
              z
                .object({
                  '@odata.type': z.string().optional(),
                  id: z.string(),
                  displayName: z.string().nullable().optional(),
                  userPrincipalName: z.string().nullable().optional(),
                })
                .loose(),
            )
            .default([]),
        })
        .loose(),
    ),
    '@odata.nextLink': z.string().optional(),
  })
  .loose();

export class TenantApplicationsClient implements TenantApplications {
  readonly #graph: Client;

  constructor(options: { graph: Client }) {
    this.#graph = options.graph;
  }

  async listApplications(next?: string): Promise<TenantApplicationPage> {
    if (next !== undefined && !SKIP_TOKEN.test(next))
      throw ValidationError.forField('continuationToken', 'is not a continuation token of this API');
    let raw: unknown;
    try {
      let request = this.#graph.api('/applications').select(SELECT).expand(EXPAND).top(PAGE_SIZE);
      if (next !== undefined) request = request.query({ $skiptoken: next });
      raw = await request.get();
    } catch (error) {
      throw toRotatorError(error, { appId: 'every app of the tenant', operation: 'read' });
    }
    const page = listingSchema.parse(raw);
    const nextLink = page['@odata.nextLink'];
    return {
      applications: page.value.map((app) => ({
        appId: app.appId.toLowerCase(),
        objectId: app.id,
        displayName: app.displayName ?? '',
        signInAudience: app.signInAudience ?? 'AzureADMyOrg',
        certificates: app.keyCredentials.map((c) => ({ endDateTime: c.endDateTime })),
        clientSecrets: app.passwordCredentials.map((c) => ({ endDateTime: c.endDateTime })),
        owners: app.owners.map((o) => ({
          id: o.id,
          type: (o['@odata.type'] ?? '#microsoft.graph.directoryObject').replace('#microsoft.graph.', ''),
          displayName: o.displayName ?? null,
          ...(o.userPrincipalName ? { userPrincipalName: o.userPrincipalName } : {}),
        })),
      })),
      next: nextLink === undefined ? undefined : skipTokenOf(nextLink),
    };
  }
}

/** The nextLink's `$skiptoken` as written (not decoded): what Graph reads back when it is sent unchanged. */
function skipTokenOf(nextLink: string): string | undefined {
  for (const part of new URL(nextLink).search.slice(1).split('&')) {
    const [name, ...value] = part.split('=');
    if (name === '$skiptoken' || name?.toLowerCase() === '%24skiptoken') return value.join('=');
  }
  return undefined;
}
