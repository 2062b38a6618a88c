import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/**
 * What the host answers itself, before or instead of a function: RFC 9457 problem+json (`type`
 * about:blank, since the host knows no problem types of the app), with the headers an API response
 * carries, so a client sees one error format whoever refused the request.
 */
export class HostProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the connection is closed after the answer (the request's body was not read to its end). */
  readonly close: boolean;

  constructor(status: number, title: string, detail: string, options: { headers?: Record<string, string>; close?: boolean } = {}) {
    super(detail);
    this.name = 'HostProblem';
    this.status = status;
    this.title = title;
    this.headers = options.headers ?? {};
    this.close = options.close ?? false;
  }
}

export const HOST_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

const problemBody = (status: number, title: string, detail: string, instance: string) =>
  JSON.stringify({ type: 'about:blank', title, status, detail, instance, invocationId: randomUUID() });

/** A whole HTTP/1.1 response, for a socket whose request Node could not parse (no ServerResponse exists). */
export function rawHostProblem(status: 400 | 405 | 431, title: string, detail: string): string {
  const body = problemBody(status, title, detail, '/');
  const headers = {
    ...HOST_RESPONSE_HEADERS,
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${status} ${title}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

export function writeHostProblem(res: ServerResponse, problem: HostProblem, instance: string): void {
  const body = problemBody(problem.status, problem.title, problem.message, instance);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(problem.status, {
    ...HOST_RESPONSE_HEADERS,
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(body),
    ...(problem.close ? { Connection: 'close' } : {}),
    ...problem.headers,
  });
  res.end(body);
}
