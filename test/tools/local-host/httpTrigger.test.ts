import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredFunction } from '../../../tools/local-host/functionsCore.js';
import { startHttpTriggers, type HttpTriggerHost } from '../../../tools/local-host/httpTrigger.js';

/**
 * What the local host refuses itself, before any function runs: every refusal is problem+json with
 * the API's security headers, and none is a 5xx unless a function failed.
 */

const BODY_TIMEOUT_MS = 300;
const MAX_BODY_BYTES = 1000;
const seen: { url: string; params: Record<string, string>; body: string }[] = [];

const httpFunction = (name: string, route: string, methods: string[], handler: (request: HttpRequest) => unknown): RegisteredFunction => ({
  name,
  trigger: { type: 'httpTrigger', direction: 'in', name: 'request', route, methods },
  bindings: {},
  handler: handler as RegisteredFunction['handler'],
});

let host: HttpTriggerHost;
let port: number;
const hostLog: string[] = [];

beforeAll(async () => {
  host = await startHttpTriggers({
    functions: [
      httpFunction('hello', 'hello/{name}', ['GET', 'POST'], async (request) => {
        seen.push({ url: request.url, params: { ...request.params }, body: await request.text() });
        return { status: 200, jsonBody: { hello: request.params.name } };
      }),
      httpFunction('broken', 'broken', ['GET'], () => Promise.reject(new Error('the function crashed'))),
    ],
    routePrefix: 'api',
    port: 0,
    maxBodyBytes: MAX_BODY_BYTES,
    bodyTimeoutMs: BODY_TIMEOUT_MS,
    logHandler: () => () => {},
    hostLog: (line) => void hostLog.push(line),
  });
  port = Number(new URL(host.url).port);
});
afterAll(() => host.close());

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly elapsedMs: number;
}

/** One request over its own connection, written as given (no client-side checks of path, Host or length). */
function send(options: { method?: string; path: string; headers?: Record<string, string>; body?: string; end?: boolean }): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, elapsedMs: Date.now() - started }));
      },
    );
    outgoing.on('error', reject);
    outgoing.flushHeaders();
    if (options.body !== undefined) outgoing.write(options.body);
    if (options.end !== false) outgoing.end();
  });
}

/** Writes raw bytes on a fresh connection and reads until the server closes it. */
function rawExchange(requestText: string): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(requestText));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, elapsedMs: Date.now() - started });
    });
    socket.on('error', reject);
  });
}

function expectProblem(answer: Answer, status: number): { title: string; detail: string; status: number } {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.headers['content-type']).toBe('application/problem+json');
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['cache-control']).toBe('no-store');
  expect(answer.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  const problem = JSON.parse(answer.body) as { title: string; detail: string; status: number; type: string; invocationId: string };
  expect(problem).toMatchObject({ status, type: 'about:blank' });
  expect(problem.invocationId).toMatch(/^[0-9a-f-]{36}$/);
  return problem;
}

describe('the local host’s own answers', () => {
  it('runs a function for a well-formed request, with params decoded and a URL on its own address', async () => {
    const answer = await send({ path: '/api/hello/J%C3%BCrgen', headers: { host: 'evil.example' } });
    expect(answer.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ params: { name: 'Jürgen' }, url: `http://localhost:${port}/api/hello/J%C3%BCrgen` });
  });

  it.each(['%', '%ZZ', '%E0%A4%A', '%FF'])('answers bad percent-encoding (%s) with 400', async (segment) => {
    const problem = expectProblem(await send({ path: `/api/hello/${segment}` }), 400);
    expect(problem.detail).toContain('{name}');
  });

  it.each(['evil example', 'a/b', 'x:port', '[zz'])('answers a bad Host header (%s) with 400', async (hostHeader) => {
    expect(expectProblem(await send({ path: '/api/hello/ada', headers: { host: hostHeader } }), 400).detail).toContain('Host');
  });

  it('answers an unknown route with 404, and a method no route serves (TRACE too) with 405 and Allow', async () => {
    expect(expectProblem(await send({ path: '/api/nothing-here' }), 404).detail).toContain('/api/nothing-here');
    for (const method of ['TRACE', 'DELETE']) {
      const answer = await send({ method, path: '/api/hello/ada' });
      expectProblem(answer, 405);
      expect(answer.headers.allow).toBe('GET, POST');
    }
  });

  it('refuses a body over the limit from its Content-Length, before reading it', async () => {
    // The body is never sent: the answer comes from the header alone.
    const answer = await send({
      method: 'POST',
      path: '/api/hello/ada',
      headers: { 'content-length': String(10 * 1024 * 1024) },
      end: false,
    });
    expectProblem(answer, 413);
    expect(answer.elapsedMs).toBeLessThan(BODY_TIMEOUT_MS);
  });

  it('refuses a chunked body once it passes the limit', async () => {
    const answer = await send({
      method: 'POST',
      path: '/api/hello/ada',
      headers: { 'transfer-encoding': 'chunked' },
      body: 'x'.repeat(MAX_BODY_BYTES + 1),
    });
    expectProblem(answer, 413);
  });

  it('answers a body shorter than its Content-Length with 400 once the body timeout passes', async () => {
    const answer = await send({
      method: 'POST',
      path: '/api/hello/ada',
      headers: { 'content-length': '100' },
      body: 'only ten b',
      end: false,
    });
    expect(expectProblem(answer, 400).detail).toContain('Content-Length');
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    expect(answer.elapsedMs).toBeLessThan(BODY_TIMEOUT_MS + 2000);
  });

  it('passes a body within the limit to the function', async () => {
    expect((await send({ method: 'POST', path: '/api/hello/ada', body: 'x'.repeat(MAX_BODY_BYTES) })).status).toBe(200);
    expect(seen.at(-1)!.body).toHaveLength(MAX_BODY_BYTES);
  });

  it('refuses an absolute request target, a missing Host and bad percent-encoding outside a parameter with 400', async () => {
    for (const path of ['http://evil.example/api/hello/ada', '//evil.example/api/hello/ada', 'http://[/api/hello/ada']) {
      expectProblem(await rawExchange(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`), 400);
    }
    expect(seen.some((request) => request.url.includes('evil.example'))).toBe(false);
    expect(expectProblem(await rawExchange('GET /api/hello/ada HTTP/1.1\r\nConnection: close\r\n\r\n'), 400).detail).toContain('Host');
    expect(expectProblem(await send({ path: '/api/%ZZ/x' }), 400).detail).toContain('percent-encoding');
  });

  it('answers an unknown Expect with 417 and CONNECT with 405, in problem+json', async () => {
    expectProblem(await rawExchange('POST /api/hello/ada HTTP/1.1\r\nHost: localhost\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n'), 417);
    expectProblem(await rawExchange('CONNECT localhost:1 HTTP/1.1\r\nHost: localhost:1\r\n\r\n'), 405);
  });

  it('closes the connection after refusing a request whose body it did not read', async () => {
    const started = Date.now();
    const answer = await rawExchange('POST /api/nothing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nshort');
    expectProblem(answer, 404);
    expect(Date.now() - started).toBeLessThan(BODY_TIMEOUT_MS);
  });

  it('answers what Node cannot parse (a malformed request line, an unknown method) with 400 problem+json, not a bare 400', async () => {
    for (const requestText of ['NOT HTTP AT ALL\r\n\r\n', 'FOO /api/hello/ada HTTP/1.1\r\nHost: localhost\r\n\r\n']) {
      const raw = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = connect(port, '127.0.0.1', () => socket.write(requestText));
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
      expect(raw).toMatch(/\r\nContent-Type: application\/problem\+json\r\n/i);
      expect(raw).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 400, type: 'about:blank' });
    }
  });

  it('answers a function that crashed with a 500 problem that says no more than that', async () => {
    const problem = expectProblem(await send({ path: '/api/broken' }), 500);
    expect(problem.detail).not.toContain('crashed');
    // The cause is in the host's log, for whoever runs it.
    expect(hostLog).toContain('[host] HTTP handling failed: the function crashed');
  });
});
