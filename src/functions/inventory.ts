import type { HttpHandler, HttpRequest } from '@azure/functions';
import { toFieldIssues } from '../lib/domain/appConfig.js';
import { getInventoryApi } from '../lib/composition.js';
import { ValidationError } from '../lib/errors.js';
import { inventoryQuerySchema } from '../lib/http/apiSchemas.js';
import type { BearerAuthenticator } from '../lib/http/bearerAuthenticator.js';
import { problemResponse } from '../lib/http/problem.js';
import { queryParameters } from '../lib/http/queryParameters.js';
import { createRoute } from '../lib/http/route.js';
import { CSV_CONTENT_TYPE, inventoryCsv } from '../lib/inventory/inventoryCsv.js';
import type { InventoryService } from '../lib/inventory/inventoryService.js';

/** GET /api/inventory (docs/http-api.md): the tenant's app registrations, JSON page by page or the whole as CSV. */

export interface InventoryApiDependencies {
  readonly inventory: InventoryService;
  readonly authenticator: BearerAuthenticator;
}

/** CSV when the caller asks for it first (Accept: text/csv), JSON otherwise. */
function wantsCsv(request: HttpRequest): boolean {
  const accept = request.headers.get('accept') ?? '';
  return /^\s*text\/csv\b/i.test(accept);
}

export function createInventoryHandlers(deps: InventoryApiDependencies) {
  const inventoryCollection = createRoute(deps.authenticator, {
    GET: {
      role: 'CertRotator.Reader',
      handle: async (request) => {
        const query = inventoryQuerySchema.safeParse(queryParameters(request));
        if (!query.success) throw new ValidationError(toFieldIssues(query.error));
        const { continuationToken, ...filter } = query.data;
        if (wantsCsv(request)) {
          if (continuationToken !== undefined)
            throw ValidationError.forField('continuationToken', 'the CSV holds every page at once: leave it out');
          return {
            status: 200,
            body: inventoryCsv(await deps.inventory.all(filter)),
            headers: { 'Content-Type': CSV_CONTENT_TYPE, 'Content-Disposition': 'attachment; filename="inventory.csv"' },
          };
        }
        const page = await deps.inventory.page(filter, continuationToken);
        const url = new URL(request.url);
        if (page.continuationToken !== undefined) url.searchParams.set('continuationToken', page.continuationToken);
        return {
          status: 200,
          jsonBody: {
            items: page.items,
            continuationToken: page.continuationToken,
            nextLink: page.continuationToken === undefined ? undefined : `${url.pathname}${url.search}`,
          },
        };
      },
    },
  });
  return { inventoryCollection };
}

let registered: ReturnType<typeof createInventoryHandlers> | undefined;

/** GET /api/inventory */
export const inventoryCollection: HttpHandler = async (request, context) => {
  try {
    registered ??= createInventoryHandlers(getInventoryApi());
  } catch (error) {
    return problemResponse(error, request, context);
  }
  return registered.inventoryCollection(request, context);
};
