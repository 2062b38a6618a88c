import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The shared base of every loopback emulator: an http(s) server on 127.0.0.1 with named routes,
 * request counters and a log per route, and per-route fault injection (a status with Retry-After,
 * a delay, a dropped connection, N failures then success), or random faults at a seeded rate
 * (`chaos`, for soaks). Each service emulator adds its routes and its state; tests and the
 * sandbox inspect both.
 */

export interface EmulatorRequest {
  readonly method: string;
  readonly url: URL;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  readonly json: unknown;
}

export interface EmulatorResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** An object is sent as JSON; a Buffer or string as is. */
  readonly body?: unknown;
}

export type RouteHandler = (request: EmulatorRequest) => EmulatorResponse | Promise<EmulatorResponse>;

export interface Fault {
  /** Answer with this status instead of calling the route (with `body` and `retryAfterSeconds`). */
  readonly status?: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly retryAfterSeconds?: number;
  /** Wait this long first (then fail, or serve normally when no status and no drop). */
  readonly delayMs?: number;
  /** Destroy the socket without an answer. */
  readonly drop?: boolean;
  /** Apply to the next N matching requests, then serve normally; default: until cleared. */
  readonly times?: number;
}

/** One kind of fault chaos may answer with (`kind` names it in the counts), e.g. 429, 503, a stall. */
export type ChaosFault = Omit<Fault, 'times'> & { readonly kind: string };

export interface ChaosOptions {
  /** The chance, per request, that one of `faults` answers it instead of the route. */
  readonly rate: number;
  /** Uniform in [0, 1): seeded by the caller, so a run can be replayed. */
  readonly random: () => number;
  readonly faults: readonly ChaosFault[];
}

/** What `inject` returns: how many requests the fault has answered so far. */
export interface InjectedFault {
  readonly route: string;
  /** Requests this fault answered (failed, delayed or dropped) so far. */
  readonly served: number;
}

export interface RecordedRequest {
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly status: number;
  readonly at: Date;
}

export interface EmulatorTlsOptions {
  readonly certPem: string;
  readonly keyPem: string;
}

interface Route {
  readonly name: string;
  readonly method: string;
  readonly pattern: RegExp;
  readonly keys: readonly string[];
  readonly handler: RouteHandler;
}

/** `/applications/:id/addKey` → a RegExp with named groups; `:name*` matches across slashes. */
function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = path
    .split(/(:[A-Za-z_][A-Za-z0-9_]*\*?)/)
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const wide = part.endsWith('*');
      keys.push(part.slice(1, wide ? -1 : undefined));
      return wide ? '(.+)' : '([^/]+)';
    })
    .join('');
  return { pattern: new RegExp(`^${source}/?$`), keys };
}

const KEEP_ALIVE_TIMEOUT_MS = 120_000;

export class EmulatorServer {
  readonly name: string;
  readonly #routes: Route[] = [];
  readonly #faults = new Map<string, { fault: Fault; remaining: number; handle: { route: string; served: number } }>();
  readonly #counts = new Map<string, number>();
  readonly #faultsServed = new Map<string, number>();
  #chaos: ChaosOptions | undefined;
  readonly #chaosServed = new Map<string, number>();
  readonly #log: RecordedRequest[] = [];
  readonly #sockets = new Set<Socket>();
  #connectionsAccepted = 0;
  #server: Server | undefined;
  #baseUrl: string | undefined;

  readonly #tls: EmulatorTlsOptions | undefined;

  constructor(name: string, tls?: EmulatorTlsOptions) {
    this.name = name;
    this.#tls = tls;
  }

  /** Registers a route; `name` is what counters and faults refer to. */
  route(method: string, path: string, name: string, handler: RouteHandler): this {
    const { pattern, keys } = compile(path);
    this.#routes.push({ name, method: method.toUpperCase(), pattern, keys, handler });
    return this;
  }

  /**
   * Injects a fault on a route by name, or on every route with `*`; a name no route has is refused
   * (a typo would otherwise inject nothing and the test would pass without its fault). The handle
   * counts the requests this fault answered, so a test can prove its fault happened.
   */
  inject(routeName: string, fault: Fault): InjectedFault {
    if (routeName !== '*' && !this.#routes.some((r) => r.name === routeName)) {
      const names = [...new Set(this.#routes.map((r) => r.name))].join(', ');
      throw new Error(`${this.name} emulator has no route '${routeName}' to inject a fault on (routes: ${names})`);
    }
    const handle = { route: routeName, served: 0 };
    this.#faults.set(routeName, { fault, remaining: fault.times ?? Number.POSITIVE_INFINITY, handle });
    return handle;
  }

  /** Requests answered by an injected fault, on one route (whether injected by name or `*`) or on all. */
  faultsServed(routeName?: string): number {
    if (routeName === undefined) return [...this.#faultsServed.values()].reduce((a, b) => a + b, 0);
    return this.#faultsServed.get(routeName) ?? 0;
  }

  /**
   * Random faults on every route (a soak): each request, with probability `rate`, is answered by one
   * of `faults` picked at random; an injected fault on the route goes first. `undefined` turns it off.
   */
  chaos(options: ChaosOptions | undefined): void {
    this.#chaos = options;
  }

  /** Requests chaos answered, per fault kind, since start or the last reset. */
  chaosServed(): Record<string, number> {
    return Object.fromEntries(this.#chaosServed);
  }

  clearFaults(routeName?: string): void {
    if (routeName === undefined) this.#faults.clear();
    else this.#faults.delete(routeName);
  }

  /** Requests served per route name (faulted ones included). */
  count(routeName: string): number {
    return this.#counts.get(routeName) ?? 0;
  }

  counters(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  requests(routeName?: string): readonly RecordedRequest[] {
    return routeName === undefined ? [...this.#log] : this.#log.filter((r) => r.route === routeName);
  }

  /** Connections accepted (TLS handshakes, for an https emulator) since start or the last reset. */
  connections(): number {
    return this.#connectionsAccepted;
  }

  resetCounters(): void {
    this.#counts.clear();
    this.#faultsServed.clear();
    this.#chaosServed.clear();
    this.#log.length = 0;
    this.#connectionsAccepted = 0;
  }

  get url(): string {
    if (this.#baseUrl === undefined) throw new Error(`${this.name} emulator is not started`);
    return this.#baseUrl;
  }

  async start(port = 0): Promise<string> {
    const listener = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res);
    const server = this.#tls ? createHttpsServer({ cert: this.#tls.certPem, key: this.#tls.keyPem }, listener) : createHttpServer(listener);
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      this.#connectionsAccepted += 1;
      socket.on('close', () => this.#sockets.delete(socket));
    });
    // Idle connections stay open as behind Azure's front ends (minutes), so clients reuse them. Node's
    // agents honour the `Keep-Alive: timeout` hint less a second: 1 s here meant a new TLS handshake
    // for every request.
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    const { port: bound } = server.address() as AddressInfo;
    this.#baseUrl = `${this.#tls ? 'https' : 'http'}://127.0.0.1:${bound}`;
    return this.#baseUrl;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #takeFault(routeName: string): Fault | undefined {
    for (const key of [routeName, '*']) {
      const entry = this.#faults.get(key);
      if (!entry) continue;
      entry.remaining -= 1;
      if (entry.remaining <= 0) this.#faults.delete(key);
      entry.handle.served += 1;
      this.#faultsServed.set(routeName, (this.#faultsServed.get(routeName) ?? 0) + 1);
      return entry.fault;
    }
    return this.#takeChaos(routeName);
  }

  #takeChaos(routeName: string): Fault | undefined {
    const chaos = this.#chaos;
    if (!chaos || chaos.faults.length === 0 || chaos.random() >= chaos.rate) return undefined;
    const fault = chaos.faults[Math.min(chaos.faults.length - 1, Math.floor(chaos.random() * chaos.faults.length))]!;
    this.#chaosServed.set(fault.kind, (this.#chaosServed.get(fault.kind) ?? 0) + 1);
    this.#faultsServed.set(routeName, (this.#faultsServed.get(routeName) ?? 0) + 1);
    return fault;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    // A path starting `//` (ARM's `/{scope}/…` with a scope that starts with `/`) is a path, not a host.
    const url = new URL((req.url ?? '/').replace(/^\/{2,}/, '/'), this.#baseUrl ?? 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = decodeURIComponent(url.pathname);

    let matched: { route: Route; params: Record<string, string> } | undefined;
    let pathMatched = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      matched = { route, params: Object.fromEntries(route.keys.map((k, i) => [k, m[i + 1]!])) };
      break;
    }
    const routeName = matched?.route.name ?? 'unmatched';
    this.#counts.set(routeName, (this.#counts.get(routeName) ?? 0) + 1);

    let response: EmulatorResponse;
    const fault = matched ? this.#takeFault(routeName) : undefined;
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.drop) {
      this.#record(routeName, method, path, req, body, 0);
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined) {
      response = {
        status: fault.status,
        headers: { ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}), ...fault.headers },
        body: fault.body ?? { error: { code: 'InjectedFault', message: `Injected fault on ${routeName}` } },
      };
    } else if (!matched) {
      response = {
        status: pathMatched ? 405 : 404,
        body: { error: { code: pathMatched ? 'MethodNotAllowed' : 'NotFound', message: `${method} ${path}` } },
      };
    } else {
      let json: unknown;
      if (body.length > 0 && /json/i.test(req.headers['content-type'] ?? 'application/json')) {
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          json = undefined;
        }
      }
      try {
        response = await matched.route.handler({ method, url, path, params: matched.params, headers: req.headers, body, json });
      } catch (error) {
        response = { status: 500, body: { error: { code: 'EmulatorError', message: (error as Error).message } } };
      }
    }
    this.#record(routeName, method, path, req, body, response.status);
    this.#send(res, response);
  }

  #record(route: string, method: string, path: string, req: IncomingMessage, body: Buffer, status: number): void {
    this.#log.push({ route, method, path, headers: req.headers, body: body.toString('utf8'), status, at: new Date() });
  }

  #send(res: ServerResponse, response: EmulatorResponse): void {
    const headers: Record<string, string> = { ...response.headers };
    let payload: Buffer | undefined;
    if (response.body === undefined) payload = undefined;
    else if (Buffer.isBuffer(response.body)) payload = response.body;
    else if (typeof response.body === 'string') payload = Buffer.from(response.body, 'utf8');
    else {
      payload = Buffer.from(JSON.stringify(response.body), 'utf8');
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json; charset=utf-8';
    }
    if (payload) headers['content-length'] = String(payload.length);
    res.writeHead(response.status, headers);
    res.end(payload);
  }
}
