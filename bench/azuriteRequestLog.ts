/**
 * The storage requests of the processes under test, read from Azurite's own request log (its access
 * log on stdout, one line per request: `… "POST /devstoreaccount1/$batch HTTP/1.1" 202 -`), each
 * recorded as `{service} {operation}` (e.g. `table batch`, `queue receive renewal-requests`).
 * The request log rather than a counting proxy: a proxy parses and forwards every request on the
 * same cores the benchmark measures, while Azurite writes the line anyway.
 */
export interface StorageRequest {
  readonly service: 'queue' | 'table';
  readonly operation: string;
  /** When the line arrived (Azurite writes it as the response ends; its own stamp has whole seconds). */
  readonly at: number;
  readonly status: number;
}

const REQUEST_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /;

/** What a Table Storage REST call is, from its method and path (after the account segment). */
function tableOperation(method: string, path: string): string {
  if (path === '$batch') return 'batch';
  if (/^Tables(\(|$)/.test(path)) return method === 'POST' ? 'create table' : `${method} Tables`;
  if (/\(PartitionKey=.*,RowKey=.*\)$/.test(path)) {
    if (method === 'GET') return 'get entity';
    if (method === 'DELETE') return 'delete entity';
    if (method === 'MERGE' || method === 'PATCH') return 'merge entity';
    return 'update entity';
  }
  if (method === 'GET') return 'query entities';
  if (method === 'POST') return 'insert entity';
  return `${method} ${path}`;
}

function queueOperation(method: string, path: string, search: URLSearchParams): string {
  const [queue, messages, id] = path.split('/');
  if (messages === 'messages') {
    if (id !== undefined) return `${method === 'DELETE' ? 'delete message' : 'update message'} ${queue}`;
    if (method === 'POST') return `send ${queue}`;
    if (method === 'DELETE') return `clear ${queue}`;
    return `${search.get('peekonly') === 'true' ? 'peek' : 'receive'} ${queue}`;
  }
  if (method === 'PUT') return `create queue ${queue}`;
  return `${method} ${queue}${search.get('comp') ? `?comp=${search.get('comp')}` : ''}`;
}

/** Requests to queues of this prefix are markers (see `sync`), not counted. */
const SYNC_PREFIX = 'bench-sync-';

export class AzuriteRequestLog {
  readonly log: StorageRequest[] = [];
  readonly #markers = new Map<string, () => void>();

  /** `queues`: the queue names in use; every other path is a table's (the log line names no port). */
  readonly #options: { readonly account: string; readonly queues: readonly string[] };

  constructor(options: { readonly account: string; readonly queues: readonly string[] }) {
    this.#options = options;
  }

  /** Feed every line Azurite prints (startAzurite's `onOutput`). */
  readonly onLine = (line: string): void => {
    const match = REQUEST_LINE.exec(line);
    if (!match) return;
    const [, method, target, status] = match as unknown as [string, string, string, string];
    const url = new URL(target, 'http://azurite');
    const path = decodeURIComponent(url.pathname)
      .replace(/^\/+/, '')
      .replace(new RegExp(`^${this.#options.account}/?`), '');
    const first = path.split('/')[0]!;
    if (first.startsWith(SYNC_PREFIX)) {
      this.#markers.get(first)?.();
      return;
    }
    const service = this.#options.queues.includes(first) ? 'queue' : 'table';
    this.log.push({
      service,
      operation: service === 'table' ? tableOperation(method, path) : queueOperation(method, path, url.searchParams),
      at: Date.now(),
      status: Number(status),
    });
  };

  /** Requests per operation since `since` (a log index), e.g. from `mark()`. */
  counts(since = 0): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.log.slice(since)) counts[`${r.service} ${r.operation}`] = (counts[`${r.service} ${r.operation}`] ?? 0) + 1;
    return counts;
  }

  /**
   * The log index after every request that completed before this call: Azurite writes a line when
   * a response ends, so once the line of a marker request sent now arrives, every earlier one has.
   * `probe` sends any request naming the given queue (e.g. an exists() check).
   */
  async mark(probe: (queueName: string) => Promise<unknown>): Promise<number> {
    const name = `${SYNC_PREFIX}${Math.random().toString(16).slice(2, 10)}`;
    const seen = new Promise<void>((resolve) => this.#markers.set(name, resolve));
    await probe(name);
    await seen;
    this.#markers.delete(name);
    return this.log.length;
  }
}
