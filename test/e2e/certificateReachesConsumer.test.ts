import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPS_TABLE_NAME, createTableClient } from '../../src/lib/composition.js';
import type { RenewalState } from '../../src/lib/domain/appConfig.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from '../support/sandboxProcess.js';

/**
 * The loop of docs/consumers.md closed with no person in it: the sandbox (the product on its local host,
 * every emulator, Azurite), an app managed with `grantAppRead`, a consumer signing in with its
 * certificate as Azure Identity documents it (DefaultAzureCredential, AZURE_CLIENT_CERTIFICATE_PATH)
 * every second, and `entra-cert-sync --interval` keeping that file fresh. Scheduled renewals happen
 * weeks apart, so every process runs on one shared wall clock (test/support/sharedClock.mjs) that the
 * test moves forward while everything is idle, as a machine asleep for weeks would see it:
 *
 *   day 0   the first certificate A (30 days, renewed 10 days before expiry)
 *   day 21  scheduled renewal 1: B; the sync puts B in the file, signed in with A
 *   day 42  scheduled renewal 2: C, and A (expired on day 30) leaves the app registration; the
 *           consumer's token has expired with the jump, and it signs in with B
 *   day 52  B has expired; the consumer signs in with C
 *
 * The consumer never fails to get a token, and the authority's sign-in log shows it moving A → B → C.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHARED_CLOCK = fileURLToPath(new URL('../support/sharedClock.mjs', import.meta.url));
const DAY = 86_400_000;
const CONSUMER_SCOPE = 'https://graph.microsoft.com/.default';

let dir: string;
let clockFile: string;
let sandbox: SandboxProcess | undefined;
const children: ChildProcess[] = [];
const logs = { sync: '', consumer: '' };

function setClock(offsetMs: number): void {
  writeFileSync(clockFile, JSON.stringify({ offsetMs }));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `Gave up waiting for ${what}.\nsync:\n${logs.sync}\nconsumer:\n${logs.consumer.slice(-3000)}\nsandbox:\n${sandbox?.output().slice(-6000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function start(name: keyof typeof logs, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => (logs[name] += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (logs[name] += chunk.toString()));
  children.push(child);
  return child;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-loop-'));
  clockFile = join(dir, 'clock.json');
  setClock(0);
});

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  sandbox?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('the new certificate reaches the service that uses it', () => {
  it('a consumer keeps signing in through two scheduled renewals and the removal of the expired certificate', async () => {
    const clockEnv = { NODE_OPTIONS: `--import ${SHARED_CLOCK}`, SHARED_CLOCK_FILE: clockFile };
    const env = await sandboxEnvironment(join(dir, 'sandbox'), { ...clockEnv, SANDBOX_RENEWAL_SCHEDULE: '*/2 * * * * *' });
    sandbox = await startSandboxProcess(join(dir, 'sandbox'), env);
    const { info } = sandbox;
    // The sandbox's own CA, in place of the test run's (same name), for the authority's sign-in log.
    setDefaultCACertificates([...getCACertificates('bundled'), readFileSync(info.caCertificate, 'utf8')]);
    const appId = info.apps.unmanaged.appId;
    const admin = { Authorization: `Bearer ${info.tokens.Admin}`, 'Content-Type': 'application/json' };

    // An admin manages the app (30-day certificates, renewed 10 days before expiry, the app may read
    // its own certificate) and makes its first certificate, keeping the one-time PEM for the host.
    const put = await fetch(`${info.apiBaseUrl}/apps/${appId}`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ lifetimeDays: 30, renewBeforeDays: 10, keyVault: { grantAppRead: true } }),
    });
    expect(put.status, await put.clone().text()).toBe(201);
    const generated = await fetch(`${info.apiBaseUrl}/apps/${appId}/certificates?include=pem`, { method: 'POST', headers: admin });
    expect(generated.status).toBe(201);
    const first = (await generated.json()) as { thumbprint: string; pem: { bundle: string } };
    const pemFile = join(dir, 'consumer', 'app.pem');
    mkdirSync(join(dir, 'consumer'));
    writeFileSync(pemFile, first.pem.bundle, { mode: 0o600 });

    // After the first jump the sandbox's bearer tokens have expired: the test reads the state from storage.
    const { emulators } = JSON.parse(readFileSync(join(dir, 'sandbox', 'sandbox.json'), 'utf8')) as {
      emulators: { azuriteConnectionString: string; keyVault: string };
    };
    const store = new AppStore(
      createTableClient({ kind: 'connectionString', connectionString: emulators.azuriteConnectionString }, APPS_TABLE_NAME),
    );
    const state = async (): Promise<RenewalState> => (await store.getApp(appId))!.state;
    const verified = (thumbprintNot: string[]) => async () => {
      const s = await state();
      return s.verifiedAt && s.currentThumbprint && !thumbprintNot.includes(s.currentThumbprint) && !s.lease ? s : undefined;
    };

    const a = await waitFor('the first certificate verified, and the app granted read access', async () => {
      const s = await verified([])();
      return s?.currentThumbprint === first.thumbprint && s.access?.status === 'granted' ? s : undefined;
    });
    const certificateName = (await store.getApp(appId))!.config.keyVault.certificateName;

    const processEnv = {
      PATH: process.env.PATH,
      NODE_EXTRA_CA_CERTS: info.caCertificate,
      ...clockEnv,
      AZURE_TENANT_ID: info.tenantId,
      AZURE_CLIENT_ID: appId,
      AZURE_CLIENT_CERTIFICATE_PATH: pemFile,
      AZURE_AUTHORITY_HOST: info.emulators.authority,
    };
    const consumer = start('consumer', ['test/e2e/fixtures/tokenConsumer.ts', CONSUMER_SCOPE, '1000'], processEnv);
    // The service reloads after each replacement, as README's systemd unit does with `systemctl reload`.
    const reload = `kill -HUP ${consumer.pid}`;
    start(
      'sync',
      ['src/sync/cli.ts', '--vault-url', emulators.keyVault, '--name', certificateName, '--interval', '1s', '--exec', reload],
      processEnv,
    );

    const signIns = async () => {
      const response = await fetch(`${info.emulators.authority}/_emulator/certificate-sign-ins`);
      const all = (await response.json()) as Array<{ appId: string; audience: string; certificateThumbprint: string }>;
      return all.filter((s) => s.appId === appId && s.audience === 'https://graph.microsoft.com').map((s) => s.certificateThumbprint);
    };
    const replacedWith = (thumbprint: string) => () =>
      jsonLines(logs.sync).some((l) => l.event === 'replaced' && l.thumbprint === thumbprint) ? true : undefined;
    const consumerSignedInWith = (thumbprint: string) => async () => ((await signIns()).includes(thumbprint) ? true : undefined);

    await waitFor('the consumer signed in with A', consumerSignedInWith(a.currentThumbprint!));

    // Day 21: the first scheduled renewal.
    setClock(21 * DAY);
    const b = await waitFor('scheduled renewal 1 verified', verified([a.currentThumbprint!]));
    await waitFor('the sync put B in the file', replacedWith(b.currentThumbprint!));

    // Day 42: the second, which also removes A (expired on day 30).
    setClock(42 * DAY);
    const c = await waitFor('scheduled renewal 2 verified', verified([a.currentThumbprint!, b.currentThumbprint!]));
    await waitFor('the sync put C in the file', replacedWith(c.currentThumbprint!));
    await waitFor('the consumer signed in with B', consumerSignedInWith(b.currentThumbprint!));

    // Day 52: B has expired; the consumer is on C.
    setClock(52 * DAY);
    await waitFor('the consumer signed in with C', consumerSignedInWith(c.currentThumbprint!));
    await new Promise((r) => setTimeout(r, 3000));

    // No person acted after the first certificate: both renewals were the scheduler's, and the second
    // one's cleanup removed A from the app registration.
    const history = (await store.listHistory(appId, { maxPageSize: 100 })).items;
    const renewals = history.filter((h) => h.action === 'renewal.deploy' && h.outcome === 'succeeded');
    expect(renewals.map((h) => [h.thumbprint, h.trigger])).toEqual(
      expect.arrayContaining([
        [b.currentThumbprint, 'scheduled'],
        [c.currentThumbprint, 'scheduled'],
      ]),
    );
    expect(history.filter((h) => h.actor !== undefined && h.thumbprint !== undefined && h.thumbprint !== a.currentThumbprint)).toEqual([]);
    expect(
      history.some((h) => h.action === 'renewal.cleanup' && h.outcome === 'succeeded' && h.thumbprint?.includes(a.currentThumbprint!)),
    ).toBe(true);

    // The consumer never went without a token.
    const answers = jsonLines(logs.consumer).filter((l) => 'ok' in l);
    expect(answers.length).toBeGreaterThan(10);
    expect(answers.filter((l) => l.ok !== true)).toEqual([]);
    // It reloaded once per replacement (the sync's --exec).
    expect(jsonLines(logs.consumer).filter((l) => l.reloaded === true)).toHaveLength(2);
    // Its sign-ins moved A → B → C, in that order, and never back.
    const sequence = (await signIns()).filter((t, i, all) => i === 0 || all[i - 1] !== t);
    expect(sequence).toEqual([a.currentThumbprint, b.currentThumbprint, c.currentThumbprint]);
    // The sync replaced the file exactly twice and never rejected a version (a `deferred` cycle, while
    // Entra was still taking a new certificate, is allowed: it kept the file).
    const syncLines = jsonLines(logs.sync);
    expect(syncLines.filter((l) => l.event === 'replaced').map((l) => l.thumbprint)).toEqual([b.currentThumbprint, c.currentThumbprint]);
    expect(syncLines.filter((l) => l.event === 'rejected')).toEqual([]);
    // The one failure a jump of the clock can cause: a token issued just before the jump, presented
    // just after it, is expired by then (as after a host's weeks of sleep). At most one per jump, and
    // the next cycle succeeds.
    const outcomes = syncLines.filter((l) => ['replaced', 'unchanged', 'deferred', 'error'].includes(String(l.event)));
    const errors = outcomes.flatMap((l, i) => (l.event === 'error' ? [i] : []));
    expect(errors.length).toBeLessThanOrEqual(3);
    for (const i of errors) {
      expect(outcomes[i]!.msg).toMatch(/AKV10022: Invalid audience, issuer, signature or lifetime/);
      expect(outcomes[i + 1]?.event).not.toBe('error');
    }
    expect((await store.getApp(appId))!.state.currentThumbprint).toBe(c.currentThumbprint);
  }, 300_000);
});
