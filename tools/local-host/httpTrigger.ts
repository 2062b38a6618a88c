import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import functions, { type HttpResponseInit } from '@azure/functions';
import type { RegisteredFunction } from './functionsCore.js';

// @azure/functions is webpack-bundled CommonJS: Node's ESM loader finds `app` among its named
// exports but not these classes, so they are taken from the default export.
const { HttpRequest, HttpResponse, InvocationContext } = functions;

/**
 * HTTP triggers on a plain Node server, routed as the Functions host routes them: `{routePrefix}/
 * {route}` with `{name}`, `{name?}`, `{name:constraint}` and `{*rest}` segments, matched on method
 * and path; no match is 404, as in Azure.
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

export async function startHttpTriggers(options: {
  functions: readonly RegisteredFunction[];
  routePrefix: string;
  port: number;
  host?: string;
  logHandler: (functionName: string, invocationId: string) => (level: string, ...args: unknown[]) => void;
}): Promise<HttpTriggerHost> {
  const routes: CompiledRoute[] = options.functions
    .filter((fn) => fn.trigger.type.toLowerCase() === 'httptrigger')
    .map((fn) => {
      const route = typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
      const methods = Array.isArray(fn.trigger.methods) ? (fn.trigger.methods as string[]) : ['GET', 'POST'];
      return { fn, methods: new Set(methods.map((m) => m.toUpperCase())), ...compileRoute(options.routePrefix, route) };
    });

  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
      console.error(`[host] HTTP handling failed: ${(error as Error).message}`);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const base = `http://${req.headers.host ?? 'localhost'}`;
    const url = new URL(req.url ?? '/', base);
    const method = (req.method ?? 'GET').toUpperCase();
    let match: { route: CompiledRoute; params: Record<string, string> } | undefined;
    for (const route of routes) {
      if (!route.methods.has(method)) continue;
      const groups = route.pattern.exec(url.pathname);
      if (!groups) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        if (groups[i + 1] !== undefined) params[name] = decodeURIComponent(groups[i + 1]!);
      });
      match = { route, params };
      break;
    }
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers))
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      query: Object.fromEntries(url.searchParams),
      params: match.params,
      body: chunks.length > 0 ? { bytes: Buffer.concat(chunks) } : undefined,
    });
    const invocationId = randomUUID();
    const context = new InvocationContext({
      invocationId,
      functionName: match.route.fn.name,
      logHandler: options.logHandler(match.route.fn.name, invocationId),
      options: { trigger: match.route.fn.trigger },
    });
    const result = (await match.route.fn.handler(request, context)) as HttpResponseInit | InstanceType<typeof HttpResponse> | undefined;
    const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? { status: 204 });
    const body = Buffer.from(await response.arrayBuffer());
    const outHeaders: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      outHeaders[key] = value;
    });
    res.writeHead(response.status, outHeaders);
    res.end(body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}/${options.routePrefix}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
