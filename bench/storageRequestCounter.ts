import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { azuriteConnectionString, type RunningAzurite } from '../test/emulators/azurite.js';

/**
 * A counting pass-through in front of Azurite's queue and table endpoints: every request a client
 * sends is forwarded unchanged and recorded as `{service} {operation}` (e.g. `table batch`,
 * `queue receive renewal-requests`). Written for the benchmarks because the round trips of a
 * process we do not control (the local host) are what we want to count, and Azurite's own --debug
 * log is verbose enough to slow it down; a proxy on loopback adds well under a millisecond.
 */
export interface StorageRequest {
  readonly service: 'queue' | 'table';
  readonly operation: string;
  readonly at: number;
}

interface Upstream {
  readonly service: 'queue' | 'table';
  readonly target: URL;
}

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

export class StorageRequestCounter {
  readonly log: StorageRequest[] = [];
  readonly #servers: Server[] = [];
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });

  /** Starts one listener per service and returns a connection string that goes through them. */
  async start(azurite: RunningAzurite): Promise<string> {
    const endpoints: Record<string, string> = {};
    for (const upstream of [
      { service: 'queue', target: new URL(azurite.queueEndpoint) },
      { service: 'table', target: new URL(azurite.tableEndpoint) },
    ] as Upstream[]) {
      const server = createServer((req, res) => this.#forward(upstream, req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.#servers.push(server);
      endpoints[upstream.service] = `http://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.target.pathname}`;
    }
    return azuriteConnectionString({
      blobEndpoint: azurite.blobEndpoint,
      queueEndpoint: endpoints.queue!,
      tableEndpoint: endpoints.table!,
    });
  }

  /** Requests per operation since `since` (a log index), e.g. from `mark()`. */
  counts(since = 0): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.log.slice(since)) counts[`${r.service} ${r.operation}`] = (counts[`${r.service} ${r.operation}`] ?? 0) + 1;
    return counts;
  }

  mark(): number {
    return this.log.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#agent.destroy();
  }

  #forward(upstream: Upstream, req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const account = upstream.target.pathname.replace(/^\/+|\/+$/g, '');
    const path = decodeURIComponent(url.pathname)
      .replace(/^\/+/, '')
      .replace(new RegExp(`^${account}/?`), '');
    const method = (req.method ?? 'GET').toUpperCase();
    this.log.push({
      service: upstream.service,
      operation: upstream.service === 'table' ? tableOperation(method, path) : queueOperation(method, path, url.searchParams),
      at: Date.now(),
    });
    const forwarded = httpRequest(
      {
        host: upstream.target.hostname,
        port: upstream.target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.target.host },
        agent: this.#agent,
      },
      (upstreamResponse) => {
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  }
}
