import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import functions, { type HttpResponseInit } from '@azure/functions';
import type { FunctionsLibrary, RegisteredFunction } from './functionsCore.js';
import { HostProblem, rawHostProblem, writeHostProblem } from './hostProblem.js';

/**
 * HTTP triggers on a plain Node server, routed as the Functions host routes them: `{routePrefix}/
 * {route}` with `{name}`, `{name?}`, `{name:constraint}` and `{*rest}` segments, matched on method
 * and path. What the host refuses itself (no route 404, a method no route serves 405, a bad Host or
 * percent-encoding 400, a body too large 413 or too slow 400) is answered with problem+json.
 */

interface CompiledRoute {
  readonly fn: RegisteredFunction;
  readonly methods: ReadonlySet<string>;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

export function compileRoute(prefix: string, route: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const segments = [prefix, route]
    .join('/')
    .split('/')
    .filter((s) => s !== '');
  let source = '';
  for (const segment of segments) {
    const param = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\?)?\}$/.exec(segment);
    if (!param) {
      source += `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
      continue;
    }
    const [, catchAll, name, optional] = param;
    names.push(name!);
    if (catchAll) source += '(?:/(.*))?';
    else if (optional) source += '(?:/([^/]+))?';
    else source += '/([^/]+)';
  }
  return { pattern: new RegExp(`^${source}/?$`, 'i'), names };
}

export interface HttpTriggerHost {
  readonly url: string;
  close(): Promise<void>;
}

/** The largest body the host reads (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT overrides it); larger is 413 from Content-Length. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** How long a body may take to arrive: one shorter than its Content-Length is answered 400 after this. */
export const DEFAULT_BODY_TIMEOUT_MS = 5000;

/** host, host:port or [v6]:port, as RFC 9110 allows a Host header; anything else is 400. */
const HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export async function startHttpTriggers(options: {
  functions: readonly RegisteredFunction[];
  routePrefix: string;
  port: number;
  host?: string;
  maxBodyBytes?: number;
  bodyTimeoutMs?: number;
  logHandler: (functionName: string, invocationId: string) => (level: string, ...args: unknown[]) => void;
  /** The app's @azure/functions (functionsCore.ts); default the host's own copy. */
  library?: FunctionsLibrary;
  /** The host's own log lines (a function that crashed); default stderr. */
  hostLog?: (line: string) => void;
}): Promise<HttpTriggerHost> {
  // @azure/functions is webpack-bundled CommonJS: Node's ESM loader finds `app` among its named
  // exports but not these classes, so they are taken from the default export.
  const { HttpRequest, HttpResponse, InvocationContext } = options.library ?? functions;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const routes: CompiledRoute[] = options.functions
    .filter((fn) => fn.trigger.type.toLowerCase() === 'httptrigger')
    .map((fn) => {
      const route = typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
      const methods = Array.isArray(fn.trigger.methods) ? (fn.trigger.methods as string[]) : ['GET', 'POST'];
      return { fn, methods: new Set(methods.map((m) => m.toUpperCase())), ...compileRoute(options.routePrefix, route) };
    });
  let base = 'http://localhost';

  const sockets = new Set<Socket>();
  // requireHostHeader off: a request without Host is refused in `handle`, in the same format.
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const problem =
        error instanceof HostProblem
          ? error
          : new HostProblem(500, 'Internal error', 'The function failed before answering; see the host log.');
      if (!(error instanceof HostProblem)) (options.hostLog ?? console.error)(`[host] HTTP handling failed: ${(error as Error).message}`);
      // A refusal that leaves a body unread closes the connection: the rest of it is not a next request.
      if (problem.close || bodyPending(req)) res.once('finish', () => req.socket.destroy());
      writeHostProblem(res, problem, (req.url ?? '/').split('?')[0]!.slice(0, 300));
    });
  });
  // Node answers these itself unless asked: an Expect it does not know (417), and CONNECT.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    res.once('finish', () => req.socket.destroy());
    writeHostProblem(res, new HostProblem(417, 'Expectation failed', 'Only Expect: 100-continue is understood', { close: true }), '/');
  });
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(rawHostProblem(405, 'Method not allowed', 'CONNECT is not served'));
  });
  // What Node's parser refuses (a malformed request line or header, headers past its size limit)
  // never reaches `handle`: it is answered here, in the same format, instead of Node's bare 400.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    socket.end(
      rawHostProblem(tooLarge ? 431 : 400, tooLarge ? 'Request headers too large' : 'Bad request', 'The request is not valid HTTP/1.1'),
    );
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hostHeader = req.headers.host;
    if (hostHeader === undefined || !HOST_HEADER.test(hostHeader)) {
      throw new HostProblem(400, 'Bad request', 'The Host header is missing, or not a host name or address with an optional port');
    }
    // The URL handed to the function is built on the host's own address, never on the Host header
    // nor on an absolute request target (`GET http://elsewhere/…`, `GET //elsewhere/…`).
    const target = req.url ?? '/';
    if (!target.startsWith('/') || target.startsWith('//')) throw new HostProblem(400, 'Bad request', 'The request target must be a path');
    let url: URL;
    try {
      url = new URL(`${base}${target}`);
    } catch {
      throw new HostProblem(400, 'Bad request', 'The request target is not a valid URL path');
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const onPath = routes.flatMap((route) => {
      const groups = route.pattern.exec(url.pathname);
      return groups ? [{ route, groups }] : [];
    });
    if (onPath.length === 0) {
      if (!decodes(url.pathname)) throw new HostProblem(400, 'Bad request', 'The request path is not valid percent-encoding');
      throw new HostProblem(404, 'Not found', `No function is registered for ${url.pathname.slice(0, 300)}`);
    }
    const served = onPath.find(({ route }) => route.methods.has(method));
    if (!served) {
      const allow = [...new Set(onPath.flatMap(({ route }) => [...route.methods]))];
      throw new HostProblem(405, 'Method not allowed', `${method} is not served at ${url.pathname}`, {
        headers: { Allow: allow.join(', ') },
      });
    }
    const params: Record<string, string> = {};
    served.route.names.forEach((name, index) => {
      const raw = served.groups[index + 1];
      if (raw === undefined) return;
      try {
        params[name] = decodeURIComponent(raw);
      } catch {
        throw new HostProblem(400, 'Bad request', `The path segment for {${name}} is not valid percent-encoding`);
      }
    });
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      throw new HostProblem(413, 'Request body too large', `The body may be at most ${maxBodyBytes} bytes`, { close: true });
    }
    const body = await readBody(req, maxBodyBytes, bodyTimeoutMs);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers))
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      query: Object.fromEntries(url.searchParams),
      params,
      body: body.length > 0 ? { bytes: body } : undefined,
    });
    const invocationId = randomUUID();
    const context = new InvocationContext({
      invocationId,
      functionName: served.route.fn.name,
      logHandler: options.logHandler(served.route.fn.name, invocationId),
      options: { trigger: served.route.fn.trigger },
    });
    const result = (await served.route.fn.handler(request, context)) as HttpResponseInit | InstanceType<typeof HttpResponse> | undefined;
    const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? { status: 204 });
    const responseBody = Buffer.from(await response.arrayBuffer());
    const outHeaders: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      outHeaders[key] = value;
    });
    res.writeHead(response.status, outHeaders);
    res.end(responseBody);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  base = `http://localhost:${port}`;
  return {
    url: `http://localhost:${port}/${options.routePrefix}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The body, refused once it passes `maxBytes` (413) or has not ended within `timeoutMs` (400: a body
 * shorter than its Content-Length would otherwise hold the connection until the socket times out).
 */
function readBody(req: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: () => void) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else
        settle(() => reject(new HostProblem(413, 'Request body too large', `The body may be at most ${maxBytes} bytes`, { close: true })));
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks)));
    const onError = (error: Error) => settle(() => reject(error));
    const timer = setTimeout(
      () =>
        settle(() =>
          reject(
            new HostProblem(
              400,
              'Bad request',
              `The request body did not arrive within ${timeoutMs} ms (is it shorter than its Content-Length?)`,
              {
                close: true,
              },
            ),
          ),
        ),
      timeoutMs,
    );
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/** Whether the request announced a body that has not been read (a refusal before reading it). */
function bodyPending(req: IncomingMessage): boolean {
  return !req.complete && (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined);
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}
