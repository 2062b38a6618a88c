import { randomUUID } from 'node:crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import functions, { type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { health } from '../../src/functions/health.js';
import { openApiDocument } from '../../src/functions/openApi.js';
import { request as httpRequest } from 'node:http';
import { installFunctionsCore, registeredFunctions, type RegisteredFunction } from '../../tools/local-host/functionsCore.js';
import { startHttpTriggers } from '../../tools/local-host/httpTrigger.js';
import { ALL_HTTP_METHODS } from '../../src/lib/http/httpMethods.js';
import { buildOpenApiDocument } from '../../src/lib/http/openApiDocument.js';
import { ApiHarness, type CallResult } from '../support/apiHarness.js';
import { OpenApiContract } from '../support/openApiContract.js';

const { HttpRequest, InvocationContext } = functions;

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

function documentedMethods(doc: Json, path: string): string[] {
  const item = (doc.paths as Record<string, Json>)[path] ?? {};
  return Object.keys(item)
    .filter((m) => METHODS.includes(m))
    .map((m) => m.toUpperCase());
}

async function invoke(handler: (...args: unknown[]) => unknown, method: string, path: string): Promise<CallResult> {
  const request = new HttpRequest({ method, url: `https://rotator.example/api${path}`, headers: {}, params: {} });
  const context = new InvocationContext({ invocationId: randomUUID(), functionName: 'test' });
  const response = (await handler(request, context)) as HttpResponseInit;
  const headers = new Headers(response.headers);
  let text = typeof response.body === 'string' ? response.body : '';
  if (response.jsonBody !== undefined) {
    text = JSON.stringify(response.jsonBody);
    headers.set('content-type', headers.get('content-type') ?? 'application/json');
  }
  return { status: response.status ?? 200, headers, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (a real validator), and the validator does reject a broken one', async () => {
    const doc = buildOpenApiDocument();
    expect(doc.openapi).toMatch(/^3\.1\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();

    const broken = structuredClone(doc) as { paths: Record<string, Record<string, { parameters: Json[] }>> };
    broken.paths['/apps/{appId}/certificates']!.post!.parameters[0]!.required = false;
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow(/required/);
  });

  it('describes the bearer scheme with the app roles, and every secured operation names its role', () => {
    const doc = buildOpenApiDocument() as {
      components: { securitySchemes: Record<string, Json> };
      paths: Record<string, Record<string, Json>>;
    };
    const scheme = doc.components.securitySchemes.entraBearer!;
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    for (const role of ['CertRotator.Reader', 'CertRotator.Operator', 'CertRotator.Admin']) expect(scheme.description).toContain(role);
    const roles = Object.fromEntries(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.entries(item).map(([method, op]) => [
          `${method.toUpperCase()} ${path}`,
          (op.security as Record<string, string[]>[])[0]?.entraBearer?.[0] ?? 'anonymous',
        ]),
      ),
    );
    expect(roles).toEqual({
      'GET /health': 'anonymous',
      'GET /openapi.json': 'anonymous',
      'GET /apps': 'CertRotator.Reader',
      'GET /apps/{appId}': 'CertRotator.Reader',
      'PUT /apps/{appId}': 'CertRotator.Admin',
      'PATCH /apps/{appId}': 'CertRotator.Admin',
      'DELETE /apps/{appId}': 'CertRotator.Admin',
      'GET /apps/{appId}/history': 'CertRotator.Reader',
      'GET /apps/{appId}/certificates': 'CertRotator.Reader',
      'POST /apps/{appId}/certificates': 'CertRotator.Operator',
      'GET /apps/{appId}/certificates/{certificateId}': 'CertRotator.Reader',
      'DELETE /apps/{appId}/certificates/{certificateId}': 'CertRotator.Admin',
      'POST /apps/{appId}/certificates/{certificateId}/export': 'CertRotator.Admin',
      'POST /rotations': 'CertRotator.Admin',
      'GET /rotations': 'CertRotator.Reader',
      'GET /rotations/{rotationId}': 'CertRotator.Reader',
      'GET /inventory': 'CertRotator.Reader',
    });
  });
});

describe('the routes registered in src/index.ts', () => {
  let http: RegisteredFunction[];
  const saved = { ...process.env };
  beforeAll(async () => {
    // Settings a handler needs to reach its token check; nothing here is ever connected to.
    Object.assign(process.env, {
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      MANAGED_TENANT_ID: randomUUID(),
      DEFAULT_KEYVAULT_URL: 'https://contract-test.vault.azure.net/',
      API_AUDIENCE: 'api://contract-test',
      API_TENANT_ID: randomUUID(),
    });
    // The local host's stand-in for the worker's core API receives exactly what Azure would.
    installFunctionsCore({ log: () => {} });
    await import('../../src/index.js');
    // The dashboard's static files (/api/ui/) are a page, not an API operation: test/functions/dashboard.test.ts.
    http = registeredFunctions().filter((f) => f.trigger.type.toLowerCase() === 'httptrigger' && f.name !== 'dashboard');
  });
  afterAll(() => {
    process.env = saved;
  });

  it('are each in the document, and the document has no route that is not registered', () => {
    const doc = buildOpenApiDocument();
    const registered = http.map((f) => `/${String(f.trigger.route)}`).sort();
    expect(registered.length).toBeGreaterThanOrEqual(7);
    expect(Object.keys(doc.paths as Json).sort()).toEqual(registered);
  });

  it('are registered for exactly the documented methods, no other (the host refuses those before any handler)', () => {
    const doc = buildOpenApiDocument();
    for (const fn of http) {
      const template = `/${String(fn.trigger.route)}`;
      expect([...(fn.trigger.methods as string[])].sort(), template).toEqual([...documentedMethods(doc, template)].sort());
    }
  });

  it('answer exactly the documented methods: 401 without a token (200 if anonymous), 405 with Allow naming the documented ones otherwise', async () => {
    const doc = buildOpenApiDocument();
    const contract = new OpenApiContract();
    for (const fn of http) {
      const template = `/${String(fn.trigger.route)}`;
      const path = template
        .replace('{appId}', randomUUID())
        .replace('{certificateId}', 'AB'.repeat(20))
        .replace('{rotationId}', randomUUID());
      const documented = documentedMethods(doc, template);
      // Every method, registered or not: a handler reached another way still refuses what it does not serve.
      for (const method of ALL_HTTP_METHODS.filter((m) => METHODS.includes(m.toLowerCase()))) {
        const result = await invoke(fn.handler, method, path);
        if (documented.includes(method)) {
          const secured = ((contract.operation(method, template).security as unknown[]) ?? []).length > 0;
          expect(result.status, `${method} ${template}: ${result.text}`).toBe(secured ? 401 : 200);
          contract.check(method, template, result);
        } else {
          expect(result.status, `${method} ${template}`).toBe(405);
          expect(result.headers.get('allow')?.split(', ').sort(), `${method} ${template}`).toEqual([...documented].sort());
        }
      }
    }
  });

  it('as the local host serves them: any other method is 405 with Allow and problem+json, never 500 or an empty body', async () => {
    const host = await startHttpTriggers({ functions: http, routePrefix: 'api', port: 0, logHandler: () => () => {} });
    try {
      for (const method of ['TRACE', 'PROPFIND', 'DELETE', 'PUT']) {
        const answer = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
          const request = httpRequest(new URL('/api/apps', host.url), { method }, (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
          });
          request.on('error', reject);
          request.end();
        });
        expect(answer.status, method).toBe(405);
        expect(answer.headers.allow, method).toBe('GET');
        expect(answer.headers['content-type'], method).toBe('application/problem+json');
        expect(JSON.parse(answer.body), method).toMatchObject({ status: 405, title: 'Method not allowed' });
      }
    } finally {
      await host.close();
    }
  });

  it('serve the document itself anonymously at GET /api/openapi.json', async () => {
    const fn = http.find((f) => f.trigger.route === 'openapi.json')!;
    const result = await invoke(fn.handler, 'GET', '/openapi.json');
    expect(result.status).toBe(200);
    expect(result.json).toEqual(buildOpenApiDocument());
  });
});

describe('real responses of the config routes, against the document', () => {
  let api: ApiHarness;
  const contract = new OpenApiContract();
  let admin: string;
  beforeAll(async () => {
    api = await ApiHarness.start();
    admin = await api.token('CertRotator.Admin', { name: 'Ada Admin' });
  });
  afterAll(() => api?.close());

  const checked = async (method: string, template: string, options: Parameters<ApiHarness['call']>[0]) => {
    const result = await api.call(options);
    contract.check(method, template, result);
    return result;
  };

  it('match for success and error statuses of every /api/apps operation, /api/health and /api/openapi.json', async () => {
    const appId = randomUUID();
    api.directory.add(appId, 'Contract App');
    const path = `/api/apps/${appId}`;
    expect((await checked('PUT', '/apps/{appId}', { method: 'PUT', path, token: admin, body: { lifetimeDays: 90 } })).status).toBe(201);
    const got = await checked('GET', '/apps/{appId}', { method: 'GET', path, token: admin });
    expect(got.status).toBe(200);
    expect((await checked('PUT', '/apps/{appId}', { method: 'PUT', path, token: admin, body: { lifetimeDays: 120 } })).status).toBe(200);
    const patched = await checked('PATCH', '/apps/{appId}', {
      method: 'PATCH',
      path,
      token: admin,
      headers: { 'content-type': 'application/merge-patch+json' },
      body: { notifications: { thresholdDays: 20 } },
    });
    expect(patched.status).toBe(200);
    expect((await checked('GET', '/apps', { method: 'GET', path: '/api/apps?pageSize=5', token: admin })).status).toBe(200);
    expect((await checked('GET', '/apps/{appId}/history', { method: 'GET', path: `${path}/history`, token: admin })).status).toBe(200);

    // Errors: each one the document promises for these operations.
    expect((await checked('PUT', '/apps/{appId}', { method: 'PUT', path, token: admin, body: { lifetimeDays: 5 } })).status).toBe(400);
    expect(
      (await checked('PATCH', '/apps/{appId}', { method: 'PATCH', path, token: admin, headers: { 'if-match': 'W/"stale"' }, body: {} }))
        .status,
    ).toBe(412);
    expect(
      (await checked('PUT', '/apps/{appId}', { method: 'PUT', path, token: admin, headers: { 'content-type': 'text/plain' }, body: 'x' }))
        .status,
    ).toBe(415);
    expect((await checked('GET', '/apps/{appId}', { method: 'GET', path: `/api/apps/${randomUUID()}`, token: admin })).status).toBe(404);
    expect((await checked('GET', '/apps', { method: 'GET', path: '/api/apps' })).status).toBe(401);
    const reader = await api.token('CertRotator.Reader');
    expect((await checked('DELETE', '/apps/{appId}', { method: 'DELETE', path, token: reader })).status).toBe(403);
    expect((await checked('DELETE', '/apps/{appId}', { method: 'DELETE', path, token: admin })).status).toBe(204);

    contract.check('GET', '/health', await invoke(health as never, 'GET', '/health'));
    // The checker itself fails a response that strays from the document.
    const tampered = { ...got, text: JSON.stringify({ ...(got.json as Json), secret: 'x' }) };
    expect(() => contract.check('GET', '/apps/{appId}', tampered)).toThrow(/must NOT have additional properties/);
    const undocumentedStatus = { ...got, status: 418 };
    expect(() => contract.check('GET', '/apps/{appId}', undocumentedStatus)).toThrow(/not documented/);
    contract.check('GET', '/openapi.json', await invoke(openApiDocument as never, 'GET', '/openapi.json'));
  });
});
