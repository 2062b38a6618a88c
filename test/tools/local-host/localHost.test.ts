import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';

/**
 * `npm run host` as a user runs it: `tsx tools/local-host/main.ts` in a child process, first with a fixture
 * entry point (an HTTP route, a timer, a queue trigger that fails N times, and a host.json with its
 * own prefix and queue rules), then with the real src/index.ts under Node's ESM loader.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const tsxCli = `${root}node_modules/tsx/dist/cli.mjs`;

interface RunningHost {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
  /** Resolves when a stdout line matching `pattern` has appeared. */
  readonly waitFor: (pattern: RegExp) => Promise<string>;
  readonly marker: string;
}

async function startHost(env: NodeJS.ProcessEnv, args: string[] = []): Promise<RunningHost> {
  // A unique argument lets the test find every process of this host (tsx runs node as its child).
  const marker = `--host-test-${randomBytes(6).toString('hex')}`;
  const child = spawn(process.execPath, [tsxCli, 'tools/local-host/main.ts', '--port', '0', ...args, marker], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const w of [...waiters]) {
      const line = text.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const line = text.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return resolve(line);
      waiters.push({ pattern, resolve });
      child.once('exit', (code) => reject(new Error(`host exited (${code}) before ${pattern}:\n${text}`)));
    });
  const listening = await waitFor(/Local host listening on /);
  const url = /listening on (\S+)/.exec(listening)![1]!;
  return { child, url, output: () => text, waitFor, marker };
}

/** SIGINT, then the exit code; and no process of this host left behind. */
async function interrupt(host: RunningHost): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => host.child.once('exit', (code) => resolve(code)));
  host.child.kill('SIGINT');
  const code = await exited;
  const left = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(host.marker));
  expect(left).toEqual([]);
  return code;
}

describe('the local host with a fixture entry point', () => {
  let host: RunningHost;
  const queueName = `fixture-${randomBytes(5).toString('hex')}`;
  const queueService = QueueServiceClient.fromConnectionString(inject('storageConnectionString'));

  beforeAll(async () => {
    host = await startHost(
      {
        FUNCTIONS_APP_ROOT: fixtures,
        FUNCTIONS_ENTRY_POINT: `${fixtures}functions.ts`,
        AzureWebJobsStorage: inject('storageConnectionString'),
        FIXTURE_QUEUE: queueName,
        FIXTURE_SCHEDULE: '0 0 0 1 1 *',
      },
      ['--run-timer-now'],
    );
  });
  afterAll(async () => {
    if (host.child.exitCode === null) host.child.kill('SIGKILL');
    await queueService.getQueueClient(queueName).deleteIfExists();
    await queueService.getQueueClient(`${queueName}-poison`).deleteIfExists();
  });

  it('serves HTTP routes under host.json’s route prefix, and 404 for anything else', async () => {
    expect(host.url).toMatch(/\/fixture-api$/);
    const ok = await fetch(`${host.url}/hello/ada`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ hello: 'ada' });
    expect((await fetch(`${host.url.replace(/fixture-api$/, 'api')}/hello/ada`)).status).toBe(404);
    expect((await fetch(`${host.url}/nothing-here`)).status).toBe(404);
  });

  it('runs the timer at once with --run-timer-now', async () => {
    expect(await host.waitFor(/fixture: \{"timer":"tick"/)).toContain('"isPastDue":true');
  });

  it('retries a failing queue message and then completes it', async () => {
    const queue = queueService.getQueueClient(queueName);
    await queue.createIfNotExists();
    const id = randomUUID();
    await queue.sendMessage(Buffer.from(JSON.stringify({ id, failTimes: 2 })).toString('base64'));
    await host.waitFor(new RegExp(`fixture: \\{"id":"${id}","done":true\\}`));
    const deliveries = host
      .output()
      .split('\n')
      .filter((l) => l.includes(`"id":"${id}","dequeueCount"`));
    expect(deliveries.map((l) => (JSON.parse(l.slice(l.indexOf('{'))) as { dequeueCount: number }).dequeueCount)).toEqual([1, 2, 3]);
  });

  it('moves a message to the poison queue after maxDequeueCount', async () => {
    const queue = queueService.getQueueClient(queueName);
    const id = randomUUID();
    const body = Buffer.from(JSON.stringify({ id, failTimes: 99 })).toString('base64');
    await queue.sendMessage(body);
    await host.waitFor(new RegExp(`Moving message to queue '${queueName}-poison'`));
    const poison = await queueService.getQueueClient(`${queueName}-poison`).peekMessages({ numberOfMessages: 32 });
    expect(poison.peekedMessageItems.map((m) => m.messageText)).toContain(body);
    const deliveries = host
      .output()
      .split('\n')
      .filter((l) => l.includes(`"id":"${id}","dequeueCount"`));
    expect(deliveries).toHaveLength(3); // host.json's maxDequeueCount
  });

  it('stops cleanly on SIGINT: exit code 0, no process left', async () => {
    expect(await interrupt(host)).toBe(0);
  });
});

describe('the local host with the real entry point (src/index.ts)', () => {
  let world: RenewalWorld;
  beforeAll(async () => {
    world = await startRenewalWorld();
  });
  afterAll(() => world.close());

  it('loads the app under Node’s ESM loader, lists its functions and answers /api/health', async () => {
    const apiTenant = randomUUID();
    const host = await startHost({
      FUNCTIONS_APP_ROOT: root,
      FUNCTIONS_ENTRY_POINT: '',
      AzureWebJobsStorage: inject('storageConnectionString'),
      MANAGED_TENANT_ID: world.tenantId,
      RENEWAL_SCHEDULE: '0 0 0 1 1 *',
      AZURE_AUTHORITY_HOST: world.authority.url,
      GRAPH_BASE_URL: world.graph.url,
      DEFAULT_KEYVAULT_URL: world.keyVault.vaultUrl,
      EMAIL_CONNECTION_STRING: world.email.connectionString,
      EMAIL_SENDER: 'DoNotReply@rotator.example',
      EVENTGRID_TOPIC_ENDPOINT: world.eventGrid.topicEndpoint,
      EVENTGRID_TOPIC_KEY: 'topic-key',
      API_AUDIENCE: `api://rotator-${apiTenant}`,
      API_TENANT_ID: apiTenant,
    });
    try {
      expect(host.url).toMatch(/\/api$/);
      const health = await fetch(`${host.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const listing = host.output();
      for (const name of ['health', 'apps', 'app', 'appHistory', 'renewalScheduler', 'renewalWorker', 'renewalConfirmer']) {
        expect(listing).toMatch(new RegExp(`^\\s+${name}: `, 'm'));
      }
      // An authenticated route is reached through the real handlers: no token, 401 with a challenge.
      const apps = await fetch(`${host.url}/apps`);
      expect(apps.status).toBe(401);
      expect(apps.headers.get('www-authenticate')).toMatch(/^Bearer/);
    } finally {
      expect(await interrupt(host)).toBe(0);
    }
  });
});
