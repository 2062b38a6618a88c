import type { InventoryFilter, InventoryItem, TenantApplications } from '../domain/inventory.js';
import type { AppRepository } from '../domain/storedApp.js';
import { inventoryItemOf, inventoryMatches } from './inventoryItem.js';

/**
 * The tenant inventory (docs/http-api.md): the directory's app registrations, page by page, each
 * summarised and marked managed or not. Which apps are managed is read once per call from the store
 * (a range read of the app rows, never a read per app), so an inventory costs the directory's pages
 * plus the store's pages, whatever the size of the tenant.
 */
export class InventoryService {
  readonly #store: AppRepository;
  readonly #tenant: TenantApplications;
  readonly #now: () => Date;

  constructor(dependencies: { store: AppRepository; tenant: TenantApplications; now?: () => Date }) {
    this.#store = dependencies.store;
    this.#tenant = dependencies.tenant;
    this.#now = dependencies.now ?? (() => new Date());
  }

  /** One page: the directory's page, filtered (so it may hold fewer items, even none, with a token). */
  async page(
    filter: InventoryFilter,
    continuationToken?: string,
  ): Promise<{ items: InventoryItem[]; continuationToken: string | undefined }> {
    const [managed, page] = await Promise.all([this.#managedAppIds(), this.#tenant.listApplications(continuationToken)]);
    const now = this.#now();
    const items = page.applications
      .map((app) => inventoryItemOf(app, managed.has(app.appId), now))
      .filter((i) => inventoryMatches(i, filter, now));
    return { items, continuationToken: page.next };
  }

  /** Every page (for a CSV download of the whole tenant). */
  async all(filter: InventoryFilter): Promise<InventoryItem[]> {
    const managed = await this.#managedAppIds();
    const now = this.#now();
    const items: InventoryItem[] = [];
    let next: string | undefined;
    do {
      const page = await this.#tenant.listApplications(next);
      for (const app of page.applications) {
        const item = inventoryItemOf(app, managed.has(app.appId), now);
        if (inventoryMatches(item, filter, now)) items.push(item);
      }
      next = page.next;
    } while (next !== undefined);
    return items;
  }

  async #managedAppIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    let continuationToken: string | undefined;
    do {
      const page = await this.#store.listApps({ maxPageSize: 1000, continuationToken });
      for (const app of page.items) ids.add(app.config.appId);
      continuationToken = page.continuationToken;
    } while (continuationToken !== undefined);
    return ids;
  }
}
