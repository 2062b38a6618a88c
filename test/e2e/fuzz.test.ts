import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from '../support/sandboxProcess.js';

/**
 * Hostile requests, generated, against the product as it runs: `npm run sandbox` (the local host
 * over Azurite and the emulators). Every answer is below 500; every error is problem+json; and a
 * rejected request leaves every app's config, state, history and certificates as they were. A
 * failure prints the seed (FUZZ_SEED=… reruns it) and the request. FUZZ_RUNS sets the count.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

let dir: string;
let sandbox: SandboxProcess;
let api: URL;

interface HostileRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** Sends the request as written (no client-side fixing of path, headers or length). */
function send(request: HostileRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: api.hostname,
        port: api.port,
        method: request.method,
        path: `${api.pathname}${request.path}`,
        headers: {
          ...request.headers,
          ...(request.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(request.body)) }),
        },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

async function adminGet(path: string): Promise<unknown> {
  const answer = await send({ method: 'GET', path, headers: { authorization: `Bearer ${sandbox.info.tokens.Admin}` } });
  if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body) as unknown;
}

/** What the sandbox has sent: the emails in its outbox folder and the events file, by name and size. */
function sent(): { outbox: string[]; events: number } {
  const outbox = existsSync(sandbox.info.outbox) ? readdirSync(sandbox.info.outbox).sort() : [];
  return { outbox, events: existsSync(sandbox.info.events) ? statSync(sandbox.info.events).size : 0 };
}

/**
 * Every app's config and state (with its ETag), its whole history and its certificates, as the API
 * shows them, and what was emailed or published.
 */
async function snapshot(): Promise<string> {
  const apps = (await adminGet('/apps?pageSize=100')) as { items: { appId: string }[]; continuationToken?: string };
  if (apps.continuationToken !== undefined) throw new Error('more apps than one page: the snapshot would miss some');
  const views = [];
  for (const { appId } of apps.items) {
    views.push({
      app: await adminGet(`/apps/${appId}`),
      history: await adminGet(`/apps/${appId}/history?pageSize=100`),
      certificates: await adminGet(`/apps/${appId}/certificates`),
    });
  }
  return JSON.stringify({ views, sent: sent() });
}

/** Where two snapshots first differ, with some context, to say what changed. */
function firstDifference(before: string, after: string): string {
  let at = 0;
  while (at < before.length && before[at] === after[at]) at += 1;
  return `before: …${before.slice(Math.max(0, at - 150), at + 150)}…\nafter:  …${after.slice(Math.max(0, at - 150), at + 150)}…`;
}

/**
 * The snapshot once the work a success started is over: no renewal deployed but unconfirmed, no
 * lease held (the confirm stage waits for the host's next queue poll), and nothing moving for two
 * seconds.
 */
async function settledSnapshot(): Promise<string> {
  const busy = (taken: string) => /"stage":"deployed"|"lease":\{/.test(taken);
  let previous = await snapshot();
  for (let attempt = 0; attempt < 60; attempt += 1) {
    await new Promise((r) => setTimeout(r, 2000));
    const again = await snapshot();
    if (again === previous && !busy(again)) return again;
    previous = again;
  }
  throw new Error(`the sandbox kept working for two minutes:\n${previous.slice(0, 2000)}`);
}

// --- what the requests are made of -----------------------------------------------------------------

const BAD_SEGMENTS = [
  '%',
  '%ZZ',
  '%E0%A4%A',
  '%FF',
  '%00',
  '..',
  '%2e%2e',
  '%2F',
  'not-a-guid',
  'x'.repeat(3000),
  encodeURIComponent('<script>alert(1)</script>'),
  encodeURIComponent("' OR 1=1 --"),
  encodeURIComponent('😀'),
  '__proto__',
  'constructor',
];
const HOSTILE_STRINGS = [
  '',
  ' ',
  'x'.repeat(70_000),
  '\u0000',
  '😀'.repeat(100),
  '<img src=x onerror=alert(1)>',
  '${jndi:ldap://x}',
  '%s%n',
];

function deepJson(depth: number): string {
  return `{"notifications":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
}

const bodyArbitrary: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '',
      '{',
      'null',
      '[]',
      '"text"',
      '12',
      'x'.repeat(70_000),
      deepJson(5000),
      '{"__proto__":{"enabled":false}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"lifetimeDays":1e309}',
      '{"lifetimeDays":-1,"renewBeforeDays":"x","keySize":1}',
      `{"notifications":{"enabled":true,"recipients":["${'a'.repeat(60_000)}@contoso.example"]}}`,
      '{"keyVault":{"vaultUrl":"http://169.254.169.254/"}}',
      '{"keyVault":{"certificateName":"../../etc"}}',
      '{"password":"short"}',
      '{"password":1}',
    ),
  },
  fc.constantFrom(...HOSTILE_STRINGS).map((value) => JSON.stringify({ displayName: value, notifications: { recipients: [value] } })),
  fc.json({ maxDepth: 4 }),
  fc.record({ lifetimeDays: fc.anything(), bootstrap: fc.anything(), graphMode: fc.anything() }).map((value) => JSON.stringify(value)),
);

/** The request, short enough to read in a failure report (long bodies and tokens cut). */
function describeRequest(request: HostileRequest): string {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name, value.length > 60 ? `${value.slice(0, 60)}…` : value]),
  );
  const body =
    request.body === undefined
      ? undefined
      : request.body.length > 200
        ? `${request.body.slice(0, 200)}… (${request.body.length} chars)`
        : request.body;
  return JSON.stringify({ method: request.method, path: request.path.slice(0, 300), headers, body });
}

/** fast-check prints a counterexample with this: the request in brief, not its 25 KB body. */
const printable = (request: HostileRequest): HostileRequest =>
  Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) });

function requestArbitrary(): fc.Arbitrary<HostileRequest> {
  const { managed, unmanaged } = sandbox.info.apps;
  const tokens = sandbox.info.tokens;
  const [header, payload, signature] = tokens.Admin.split('.');
  // Weighted toward what reaches the handlers (real apps, real roles, JSON bodies), so that hostile
  // content meets validation rather than stopping at the first refusal.
  const appSegment = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(managed.appId, unmanaged.appId) },
    { weight: 1, arbitrary: fc.constantFrom(randomUUID(), ...BAD_SEGMENTS) },
  );
  // Never a real certificate: a well-formed DELETE of one would be no hostile request.
  const certificateSegment = fc.constantFrom('AB'.repeat(20), randomUUID(), 'AB:CD', ...BAD_SEGMENTS);
  const path = fc.oneof(
    fc.constant('/apps'),
    { weight: 4, arbitrary: appSegment.map((a) => `/apps/${a}`) },
    appSegment.map((a) => `/apps/${a}/history`),
    appSegment.map((a) => `/apps/${a}/certificates`),
    fc.tuple(appSegment, certificateSegment).map(([a, c]) => `/apps/${a}/certificates/${c}`),
    fc.tuple(appSegment, certificateSegment).map(([a, c]) => `/apps/${a}/certificates/${c}/export`),
    fc.constantFrom('/health', '/openapi.json', '/', '/nothing-here', '/apps/x/y/z/w/v'),
  );
  const queryKey = fc.constantFrom('include', 'legacy', 'format', 'encoding', 'pageSize', 'continuationToken', 'force', 'foo', '__proto__');
  // Forged tokens in our own wrapping: another partition, a key the service would refuse.
  const forged = (inner: object, scope = 'app_') =>
    Buffer.from(JSON.stringify({ s: scope, t: Buffer.from(JSON.stringify(inner)).toString('base64') })).toString('base64url');
  const queryValue = fc.constantFrom(
    'pfx',
    'pem',
    'cer',
    'zip',
    'true',
    'false',
    '1',
    '-1',
    '99999999999',
    '',
    'x'.repeat(2000),
    '%ZZ',
    'eyJzIjoiYSJ9',
    forged({ nextPartitionKey: 'other', nextRowKey: 'app_' }),
    forged({ nextPartitionKey: 'apps', nextRowKey: 'x'.repeat(1500) }),
    forged({ nextPartitionKey: 'apps', nextRowKey: "' or 1 eq 1" }),
    forged({ nextPartitionKey: 'apps' }, `hist_${managed.appId}_`),
  );
  const query = fc
    .array(fc.tuple(queryKey, queryValue), { maxLength: 3 })
    .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));
  const authorization = fc.oneof(
    { weight: 4, arbitrary: fc.constant(`Bearer ${tokens.Admin}`) },
    { weight: 2, arbitrary: fc.constantFrom(`Bearer ${tokens.Reader}`, `Bearer ${tokens.Operator}`) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        undefined,
        'Bearer',
        'Bearer garbage',
        'Basic YWRtaW46YWRtaW4=',
        `Bearer ${header}.${payload}.${signature!.slice(0, -4)}AAAA`,
        `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`,
      ),
    },
  );
  const contentType = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('application/json', 'application/merge-patch+json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(undefined, 'text/plain', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x'),
    },
  );
  // One request in ten carries each: most requests should get past the host to the handlers.
  const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
  const extraHeaders = fc
    .record({
      host: rarely(fc.constantFrom('evil.example', 'bad host', '[zz', 'localhost:1')),
      'if-match': rarely(fc.constantFrom('"bogus"', 'W/"bogus"', '*', '')),
      'if-none-match': rarely(fc.constantFrom('*', '"x"')),
    })
    .map((headers) => Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as Record<string, string>);
  // Hostile content where it is parsed: a real app's config, a real certificate's export, as an Admin.
  const bodyAttack = fc
    .record({
      target: fc.constantFrom(
        ['PUT', `/apps/${managed.appId}`],
        ['PATCH', `/apps/${managed.appId}`],
        ['PUT', `/apps/${unmanaged.appId}`],
        ['PATCH', `/apps/${unmanaged.appId}`],
        ['POST', `/apps/${managed.appId}/certificates/${managed.currentThumbprint}/export`],
      ),
      contentType: fc.constantFrom('application/json', 'application/merge-patch+json'),
      body: bodyArbitrary,
    })
    .map(({ target: [method, route], contentType: type, body }) => ({
      method: method,
      path: route,
      headers: { authorization: `Bearer ${tokens.Admin}`, 'content-type': type },
      body,
    }));
  const anyRequest = fc
    .record({
      method: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE') },
        { weight: 1, arbitrary: fc.constantFrom('HEAD', 'OPTIONS', 'TRACE', 'PROPFIND') },
      ),
      path,
      query,
      authorization,
      contentType,
      extraHeaders,
      body: bodyArbitrary,
    })
    .map(({ method, path: route, query: search, authorization: auth, contentType: type, extraHeaders: extra, body }) => {
      const headers: Record<string, string> = { ...extra };
      if (auth !== undefined) headers.authorization = auth;
      if (type !== undefined) headers['content-type'] = type;
      // A DELETE of a real app is refused by its ETag, whatever else holds: deleting is no hostile request.
      if (method === 'DELETE' && /^\/apps\/[^/]+$/.test(route)) headers['if-match'] = '"bogus"';
      return { method, path: `${route}${search}`, headers, body };
    });
  return fc.oneof({ weight: 2, arbitrary: bodyAttack }, { weight: 3, arbitrary: anyRequest }).map(printable);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-fuzz-'));
  // No timer work during the run: a renewal would change state under the snapshots.
  // The confirm stage at once: a deploy's work is over before the next request's snapshot.
  const env = await sandboxEnvironment(dir, {
    SANDBOX_RENEWAL_SCHEDULE: '0 0 0 1 1 *',
    SANDBOX_DEMO_DUE_IN_SECONDS: '31536000',
    CONFIRM_DELAY_SECONDS: '0',
  });
  sandbox = await startSandboxProcess(dir, env);
  api = new URL(sandbox.info.apiBaseUrl);
}, 180_000);

afterAll(() => {
  sandbox?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('hostile requests against the running sandbox', () => {
  it(`answers ${RUNS} generated requests below 500, errors as problem+json, and a rejection changes nothing`, async () => {
    console.log(`fuzz: seed ${SEED} (FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} reruns it)`);
    // The sandbox finishes its start-up work (the demo app's confirm stage) before the baseline.
    let baseline = await settledSnapshot();
    const admin = `Bearer ${sandbox.info.tokens.Admin}`;
    const statuses = new Map<number, number>();
    let fieldRefusals = 0;
    await fc.assert(
      fc.asyncProperty(requestArbitrary(), async (request) => {
        const answer = await send(request);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const where = `${answer.status} for ${describeRequest(request)}\n${answer.body.slice(0, 500)}`;
        if (answer.status >= 500) throw new Error(`a 5xx: ${where}`);
        if (answer.headers['x-content-type-options'] !== 'nosniff' || answer.headers['content-security-policy'] === undefined) {
          throw new Error(`an answer without the security headers: ${where}`);
        }
        if (answer.status >= 400) {
          if (!String(answer.headers['content-type']).startsWith('application/problem+json'))
            throw new Error(`an error that is not problem+json: ${where}`);
          const after = await snapshot();
          if (after !== baseline) throw new Error(`a rejected request changed stored state: ${where}\n${firstDifference(baseline, after)}`);
          if (answer.status === 400 && answer.body.includes('"errors":[')) fieldRefusals += 1;
          return;
        }
        // A success: never key material (a value, not the OpenAPI schema's field names) to anyone
        // but an Admin, and never cached.
        if (
          request.headers.authorization !== admin &&
          /-----BEGIN [A-Z ]*PRIVATE KEY-----|"(password|base64|bundle)":"/.test(answer.body)
        ) {
          throw new Error(`key material to a non-Admin: ${where}`);
        }
        if (request.path.split('?')[0] !== '/openapi.json' && answer.headers['cache-control'] !== 'no-store')
          throw new Error(`a cacheable answer: ${where}`);
        baseline = await settledSnapshot();
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    console.log(`fuzz: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    // The run reached the handlers, not only the host's refusals: tokens were judged, and bodies
    // and queries met validation (400s naming fields), not a few times but often.
    console.log(`fuzz: ${fieldRefusals} refusals naming a field`);
    expect(statuses.get(401)).toBeGreaterThan(0);
    expect(statuses.get(403)).toBeGreaterThan(0);
    expect(fieldRefusals).toBeGreaterThanOrEqual(Math.ceil(RUNS / 10));
  }, 900_000);
});
