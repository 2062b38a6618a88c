import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePorts } from '../support/sandboxProcess.js';

/**
 * GET /api/health?ready=true as a platform's readiness probe sees it: the real entry point on the
 * local host, once with everything in place, once with its storage down, once with a setting missing.
 * Plain /api/health stays liveness: 200 in all three.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const hosts: ChildProcess[] = [];
afterAll(() => {
  for (const host of hosts) host.kill('SIGKILL');
});

async function startHost(env: NodeJS.ProcessEnv): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/local-host/main.ts', '--port', '0'], {
    cwd: root,
    env: { ...process.env, FUNCTIONS_APP_ROOT: root, FUNCTIONS_ENTRY_POINT: '', RENEWAL_SCHEDULE: '0 0 0 1 1 *', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hosts.push(child);
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const url = /Local host listening on (\S+)/.exec(text)?.[1];
      if (url) resolve({ url, output: () => text });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`host exited (${code}):\n${text}`)));
  });
}

const apiSettings = () => {
  const tenant = randomUUID();
  return {
    MANAGED_TENANT_ID: randomUUID(),
    API_AUDIENCE: `api://rotator-${tenant}`,
    API_TENANT_ID: tenant,
    DEFAULT_KEYVAULT_URL: 'https://rotator-test.vault.azure.net/',
  };
};

async function probe(url: string) {
  const live = await fetch(`${url}/health`);
  const ready = await fetch(`${url}/health?ready=true`);
  const text = await ready.text();
  return {
    live: live.status,
    status: ready.status,
    type: ready.headers.get('content-type'),
    text,
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

describe('GET /api/health?ready=true', () => {
  it('is 200 with each dependency up when settings and storage are in place', async () => {
    const host = await startHost({ AzureWebJobsStorage: inject('storageConnectionString'), ...apiSettings() });
    const answer = await probe(host.url);
    expect(answer, answer.text).toMatchObject({ live: 200, status: 200 });
    expect(answer.body).toEqual({
      status: 'ready',
      checks: [
        { name: 'settings', status: 'up' },
        { name: 'config-storage', status: 'up' },
        { name: 'queue-storage', status: 'up' },
      ],
    });
  }, 60_000);

  it('is 503 problem+json naming the storage that is down, and never its connection string', async () => {
    const [closed] = await freePorts(1);
    const key = Buffer.from(randomUUID()).toString('base64');
    const connection = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=http://127.0.0.1:${closed}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:${closed}/devstoreaccount1;TableEndpoint=http://127.0.0.1:${closed}/devstoreaccount1;`;
    const host = await startHost({ AzureWebJobsStorage: connection, ...apiSettings() });
    const answer = await probe(host.url);
    expect(answer).toMatchObject({ live: 200, status: 503, type: 'application/problem+json' });
    expect(answer.body).toMatchObject({ status: 503, title: 'Not ready' });
    const checks = answer.body.checks as { name: string; status: string; reason?: string }[];
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['settings', 'up'],
      ['config-storage', 'down'],
      ['queue-storage', 'down'],
    ]);
    expect(String(answer.body.detail)).toMatch(
      /config-storage \((CONFIG_STORAGE unreachable|no answer within 5000 ms).*queue-storage \((AzureWebJobsStorage unreachable|no answer within 5000 ms)/,
    );
    expect(answer.text).not.toContain(key);
    expect(answer.text).not.toContain(String(closed));
  }, 60_000);

  it('is 503 naming a missing setting (by name only) when the settings are invalid', async () => {
    const { API_AUDIENCE, API_TENANT_ID } = apiSettings();
    const host = await startHost({
      AzureWebJobsStorage: inject('storageConnectionString'),
      API_AUDIENCE,
      API_TENANT_ID,
      MANAGED_TENANT_ID: '',
    });
    const answer = await probe(host.url);
    expect(answer).toMatchObject({ live: 200, status: 503 });
    const checks = answer.body.checks as { name: string; status: string; reason?: string }[];
    expect(checks[0]).toMatchObject({ name: 'settings', status: 'down' });
    expect(checks[0]!.reason).toMatch(/^invalid or missing: (\w+, )*MANAGED_TENANT_ID\b/);
    expect(checks.slice(1).every((c) => c.status === 'down' && /needs valid settings first/.test(c.reason ?? ''))).toBe(true);
  }, 60_000);
});
