import { createHash, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
} from '../../src/lib/certificates/generateCertificate.js';
import { encodePemBundle } from '../../src/lib/certificates/encode.js';
import { encodePfx } from '../../src/lib/certificates/pfx.js';
import { createCertificateVaultClient } from '../../src/lib/serviceClients.js';
import type { CertificateVaultClient } from '../../src/lib/keyvault/certificateVaultClient.js';
import { entraCertSync } from '../../src/sync/entraCertSync.js';
import { GraphEmulator, type GraphApplication } from '../emulators/graph.js';
import { KeyVaultEmulator } from '../emulators/keyVault.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../support/identity.js';

/**
 * entra-cert-sync (docs/consumers.md) against the Entra authority, Graph and Key Vault emulators: the
 * command signs in as the app with the PEM file it keeps, reads the vault's latest version with the
 * real SecretClient, and replaces the file only with a certificate fit to replace it.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DAY = 86_400_000;

let identity: TestIdentity;
let graph: GraphEmulator;
let vault: KeyVaultEmulator;
let officer: CertificateVaultClient;
let scratch: string;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  graph = new GraphEmulator({ tls, authority: identity.authority });
  await graph.start();
  vault = new KeyVaultEmulator({
    tls,
    tenantId: identity.tenantId,
    authorityHost: identity.authority.url,
    verifyToken: (token, audiences) => identity.authority.verifyAccessToken(token, audiences),
    rbac: true,
  });
  await vault.start();
  // The rotator's part: it imports new versions (Certificates Officer).
  vault.assignRole(identity.principalId, 'Key Vault Certificates Officer');
  officer = createCertificateVaultClient(vault.vaultUrl, identity.clientSecretCredential, { retryOptions: FAST_RETRIES });
  scratch = mkdtempSync(join(tmpdir(), 'ecs-sync-'));
}, 60_000);

afterAll(async () => {
  await vault?.close();
  await graph?.close();
  await identity?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

beforeEach(() => vault.server.clearFaults());

interface Consumer {
  readonly app: GraphApplication;
  readonly name: string;
  readonly file: string;
  readonly dir: string;
}

async function newCertificate(displayName: string, options: { lifetimeDays?: number; now?: Date } = {}): Promise<GeneratedCertificate> {
  return createSelfSignedCertificate(await generateRsaKeyPair(2048), {
    displayName,
    lifetimeDays: options.lifetimeDays ?? 30,
    now: options.now ?? new Date(),
  });
}

/** Adds the certificate to the app registration, as the rotator's Graph step does (already propagated). */
function addToAppRegistration(app: GraphApplication, certificate: GeneratedCertificate): void {
  app.keyCredentials.push({
    keyId: randomUUID(),
    type: 'AsymmetricX509Cert',
    usage: 'Verify',
    key: certificate.der,
    displayName: certificate.subject,
    startDateTime: certificate.notBefore,
    endDateTime: certificate.notAfter,
    customKeyIdentifier: createHash('sha1').update(certificate.der).digest('base64'),
    addedAt: new Date(Date.now() - 60_000),
  });
}

async function importIntoVault(name: string, certificate: GeneratedCertificate): Promise<void> {
  await officer.importCertificate(name, await encodePfx(certificate.der, certificate.privateKey));
}

/** An app whose service principal may read its secret, whose current certificate is on the registration, in the vault and in the file. */
async function newConsumer(): Promise<Consumer & { readonly current: GeneratedCertificate }> {
  const app = graph.createApplication({ tenantId: identity.tenantId, displayName: `consumer-${randomUUID().slice(0, 8)}` });
  const name = `app-${app.appId}`;
  const current = await newCertificate('current', { lifetimeDays: 45 });
  addToAppRegistration(app, current);
  await importIntoVault(name, current);
  vault.assignRole(app.servicePrincipalId, 'Key Vault Secrets User');
  const dir = join(scratch, randomUUID());
  mkdirSync(dir);
  const file = join(dir, 'app.pem');
  writeFileSync(file, encodePemBundle(current.der, current.privateKey), { mode: 0o600 });
  return { app, name, file, dir, current };
}

interface Run {
  readonly status: number;
  readonly lines: Array<Record<string, unknown>>;
  readonly stdout: string;
  readonly stderr: string;
}

function argsFor(consumer: Consumer, ...extra: string[]): string[] {
  return [
    '--vault-url',
    vault.vaultUrl,
    '--name',
    consumer.name,
    '--file',
    consumer.file,
    '--tenant-id',
    identity.tenantId,
    '--client-id',
    consumer.app.appId,
    '--authority-host',
    identity.authority.url,
    ...extra,
  ];
}

async function sync(argv: string[], options: { stop?: AbortSignal; onLine?: (line: Record<string, unknown>) => void } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const lines: Array<Record<string, unknown>> = [];
  const status = await entraCertSync(argv, {
    env: {},
    cwd: scratch,
    stdout: (text) => {
      stdout += text;
      for (const line of text.split('\n').filter((l) => l.startsWith('{'))) {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        options.onLine?.(parsed);
      }
    },
    stderr: (text) => (stderr += text),
    stop: options.stop,
  });
  return { status, lines, stdout, stderr };
}

const outcome = (run: Run) => run.lines.filter((l) => ['replaced', 'unchanged', 'rejected', 'deferred', 'error'].includes(String(l.event)));
const pemOf = (certificate: GeneratedCertificate) => encodePemBundle(certificate.der, certificate.privateKey);
const signInsOf = (app: GraphApplication) =>
  identity.authority.issued.filter((t) => t.via === 'client_assertion' && t.claims.appid === app.appId).map((t) => t.certificateThumbprint);

/** Secrets never reach the log: no PEM armour, no base64 of the key. */
function expectNoKeyMaterial(run: Run, ...certificates: GeneratedCertificate[]): void {
  expect(run.stdout).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
  for (const certificate of certificates) {
    const keyBody = (certificate.privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64').slice(40, 100);
    expect(run.stdout).not.toContain(keyBody);
  }
}

describe('entra-cert-sync against Key Vault and Entra', () => {
  it("replaces the file with the vault's newer version: signed in with the old certificate, proved with the new one, 0600, .previous kept", async () => {
    const consumer = await newConsumer();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    addToAppRegistration(consumer.app, next);
    await importIntoVault(consumer.name, next);
    const before = readFileSync(consumer.file);

    const run = await sync(argsFor(consumer, '--once'));

    expect(run.status, run.stdout).toBe(0);
    expect(readFileSync(consumer.file, 'utf8')).toBe(pemOf(next));
    expect(statSync(consumer.file).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${consumer.file}.previous`)).toEqual(before);
    expect(outcome(run)).toEqual([
      expect.objectContaining({
        event: 'replaced',
        level: 'info',
        thumbprint: next.thumbprints.sha1,
        currentThumbprint: consumer.current.thumbprints.sha1,
      }),
    ]);
    // The read was signed in with the file's certificate; the new one was proved before it was written.
    expect(signInsOf(consumer.app)).toEqual([consumer.current.thumbprints.sha1, next.thumbprints.sha1]);
    expectNoKeyMaterial(run, consumer.current, next);
  });

  it('leaves a file that already holds the latest version untouched (same bytes, same inode, no .previous)', async () => {
    const consumer = await newConsumer();
    const before = statSync(consumer.file);
    const run = await sync(argsFor(consumer));
    expect(run.status).toBe(0);
    expect(outcome(run)).toEqual([expect.objectContaining({ event: 'unchanged', thumbprint: consumer.current.thumbprints.sha1 })]);
    expect(statSync(consumer.file)).toMatchObject({ ino: before.ino, mtimeMs: before.mtimeMs });
    expect(existsSync(`${consumer.file}.previous`)).toBe(false);
  });

  it.each([
    {
      case: 'not valid yet',
      make: () => newCertificate('future', { now: new Date(Date.now() + 2 * DAY), lifetimeDays: 60 }),
      reason: 'not-yet-valid',
    },
    { case: 'expiring earlier than the file', make: () => newCertificate('shorter', { lifetimeDays: 30 }), reason: 'not-later' },
  ])('rejects a latest version that is $case: exit 3, the file unchanged', async ({ make, reason }) => {
    const consumer = await newConsumer();
    const candidate = await make();
    addToAppRegistration(consumer.app, candidate);
    await importIntoVault(consumer.name, candidate);
    const before = readFileSync(consumer.file);

    const run = await sync(argsFor(consumer));

    expect(run.status).toBe(3);
    expect(outcome(run)).toEqual([
      expect.objectContaining({ event: 'rejected', level: 'warn', reason, thumbprint: candidate.thumbprints.sha1 }),
    ]);
    expect(readFileSync(consumer.file)).toEqual(before);
    expect(existsSync(`${consumer.file}.previous`)).toBe(false);
  });

  it('keeps the file while Entra does not accept the new certificate yet (deferred, exit 1), and replaces it once it does', async () => {
    const consumer = await newConsumer();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    await importIntoVault(consumer.name, next);
    const before = readFileSync(consumer.file);

    const early = await sync(argsFor(consumer));
    expect(early.status).toBe(1);
    expect(outcome(early)).toEqual([expect.objectContaining({ event: 'deferred', kind: 'not-accepted' })]);
    expect(readFileSync(consumer.file)).toEqual(before);

    addToAppRegistration(consumer.app, next);
    const later = await sync(argsFor(consumer));
    expect(later.status).toBe(0);
    expect(readFileSync(consumer.file, 'utf8')).toBe(pemOf(next));
  });

  it('rides out a short Key Vault outage with the SDK retries', async () => {
    const consumer = await newConsumer();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    addToAppRegistration(consumer.app, next);
    await importIntoVault(consumer.name, next);
    const reads = vault.server.count('getSecret');
    const outage = vault.server.inject('getSecret', { status: 503, times: 2 });

    const run = await sync(argsFor(consumer));

    expect(run.status, run.stdout).toBe(0);
    expect(outage.served).toBe(2);
    expect(readFileSync(consumer.file, 'utf8')).toBe(pemOf(next));
    // The token-less first request (Key Vault's challenge), two 503s, then the answer.
    expect(vault.server.count('getSecret') - reads).toBe(4);
  });

  it('during a longer Key Vault outage: exit 1 within --timeout, the file unchanged, the cause named', async () => {
    const consumer = await newConsumer();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    addToAppRegistration(consumer.app, next);
    await importIntoVault(consumer.name, next);
    const before = readFileSync(consumer.file);
    const reads = vault.server.count('getSecret');
    const outage = vault.server.inject('getSecret', { status: 503 });

    const started = Date.now();
    const run = await sync(argsFor(consumer, '--timeout', '3s'));

    expect(run.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(outcome(run)).toEqual([expect.objectContaining({ event: 'error', level: 'error', kind: 'unavailable' })]);
    expect(String(outcome(run)[0]!.msg)).toMatch(/Reading secrets\/.* failed: (no answer within 3000 ms|HTTP 503)/);
    expect(vault.server.count('getSecret') - reads).toBeGreaterThanOrEqual(2);
    expect(outage.served).toBeGreaterThanOrEqual(1);
    expect(readFileSync(consumer.file)).toEqual(before);
  }, 20_000);

  it("after the app's grant is revoked: exit 1 naming the role and the secret's scope, the file unchanged", async () => {
    const consumer = await newConsumer();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    addToAppRegistration(consumer.app, next);
    await importIntoVault(consumer.name, next);
    vault.removeRole(consumer.app.servicePrincipalId, 'Key Vault Secrets User');
    const before = readFileSync(consumer.file);

    const run = await sync(argsFor(consumer));

    expect(run.status).toBe(1);
    const [failure] = outcome(run);
    expect(failure).toMatchObject({ event: 'error', kind: 'forbidden' });
    expect(String(failure!.msg)).toContain(
      `'Key Vault Secrets User' role on ${vault.vaultUrl.replace(/\/$/, '')}/secrets/${consumer.name}`,
    );
    expect(readFileSync(consumer.file)).toEqual(before);
  });

  it('runs --exec after a replacement with the new facts in its environment; a failing command is exit 4 with the file replaced', async () => {
    const consumer = await newConsumer();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    addToAppRegistration(consumer.app, next);
    await importIntoVault(consumer.name, next);
    const marker = join(consumer.dir, 'reloaded');

    const run = await sync(
      argsFor(consumer, '--exec', `printf '%s %s' "$ENTRA_CERT_SYNC_THUMBPRINT" "$ENTRA_CERT_SYNC_FILE" > '${marker}'`),
    );
    expect(run.status).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe(`${next.thumbprints.sha1} ${consumer.file}`);
    expect(run.lines.map((l) => l.event)).toEqual(['started', 'checked', 'replaced', 'exec']);

    // Nothing new: the command does not run again.
    rmSync(marker);
    const again = await sync(argsFor(consumer, '--exec', `touch '${marker}'`));
    expect(again.status).toBe(0);
    expect(existsSync(marker)).toBe(false);

    const third = await newCertificate('third', { lifetimeDays: 90 });
    addToAppRegistration(consumer.app, third);
    await importIntoVault(consumer.name, third);
    const failing = await sync(argsFor(consumer, '--exec', 'echo reload failed >&2; exit 7'));
    expect(failing.status).toBe(4);
    expect(failing.stderr).toContain('reload failed');
    expect(readFileSync(consumer.file, 'utf8')).toBe(pemOf(third));
    expect(failing.lines.at(-1)).toMatchObject({ event: 'exec', level: 'error', exitCode: 7 });
  });

  it('--interval picks up a new version on a later cycle and stops cleanly on a signal (exit 0)', async () => {
    const consumer = await newConsumer();
    const stop = new AbortController();
    const next = await newCertificate('next', { lifetimeDays: 60 });
    let cycles = 0;
    const run = await sync(argsFor(consumer, '--interval', '1s'), {
      stop: stop.signal,
      onLine: (line) => {
        if (line.event === 'unchanged' && ++cycles === 1) {
          addToAppRegistration(consumer.app, next);
          void importIntoVault(consumer.name, next);
        }
        if (line.event === 'replaced') stop.abort();
      },
    });
    expect(run.status).toBe(0);
    expect(outcome(run).map((l) => l.event)).toEqual(['unchanged', 'replaced']);
    expect(run.lines.at(-1)).toMatchObject({ event: 'stopped' });
    expect(readFileSync(consumer.file, 'utf8')).toBe(pemOf(next));
  }, 20_000);

  it("when the file's certificate is no longer on the app registration: exit 1 (sign-in), saying what to do", async () => {
    const consumer = await newConsumer();
    consumer.app.keyCredentials.splice(0);
    const before = readFileSync(consumer.file);
    const run = await sync(argsFor(consumer));
    expect(run.status).toBe(1);
    const [failure] = outcome(run);
    expect(failure).toMatchObject({ event: 'error', kind: 'sign-in' });
    expect(String(failure!.msg)).toMatch(/Is its certificate still on the app registration.*AADSTS700027/);
    expect(readFileSync(consumer.file)).toEqual(before);
  });

  it('says what to do when the file is missing under the certificate credential (exit 1, nothing created)', async () => {
    const consumer = await newConsumer();
    rmSync(consumer.file);
    const run = await sync(argsFor(consumer));
    expect(run.status).toBe(1);
    expect(String(outcome(run)[0]!.msg)).toMatch(/does not exist: the certificate credential signs in with it/);
    expect(existsSync(consumer.file)).toBe(false);
  });

  it('never overwrites a file that is not a certificate with its key', async () => {
    const consumer = await newConsumer();
    writeFileSync(consumer.file, 'not a pem\n');
    const run = await sync(argsFor(consumer));
    expect(run.status).toBe(1);
    expect(readFileSync(consumer.file, 'utf8')).toBe('not a pem\n');
  });
});

describe('entra-cert-sync command line', () => {
  it.each([
    { argv: [], problems: ['--vault-url is required', '--name is required', '--file is required', '--tenant-id', '--client-id'] },
    {
      argv: [
        '--vault-url',
        'http://vault',
        '--name',
        'bad name!',
        '--file',
        'x.pem',
        '--tenant-id',
        't',
        '--client-id',
        'c',
        '--interval',
        '5',
      ],
      problems: ['--vault-url must be an https URL', '--name must be', '--client-id must be', '--interval must be a duration'],
    },
    {
      argv: ['--once', '--interval', '1m', '--vault-url', 'https://v.vault.azure.net/', '--name', 'n', '--file', 'f'],
      problems: ['exclude each other'],
    },
    { argv: ['--bogus'], problems: ["Unknown option '--bogus'"] },
  ])('a bad command line is exit 2 naming each problem: $argv', async ({ argv, problems }) => {
    const run = await sync(argv);
    expect(run.status).toBe(2);
    for (const problem of problems) expect(run.stderr).toContain(problem);
    expect(run.stdout).toBe('');
  });

  it('--help documents the options, the log and every exit status', async () => {
    const run = await sync(['--help']);
    expect(run.status).toBe(0);
    for (const text of ['--interval', '--exec', '--credential', 'Exit status', '  3  ', '  4  ']) expect(run.stdout).toContain(text);
  });

  it('as a process (the bin): exit status and JSON lines on stdout; SIGTERM during --interval is a clean exit 0', async () => {
    const consumer = await newConsumer();
    // The bin package.json declares, run from its source.
    const { bin } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const source = bin['entra-cert-sync']!.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
    expect(readFileSync(join(ROOT, source), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    const child = spawn(process.execPath, ['--import', 'tsx', source, ...argsFor(consumer, '--interval', '1h')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let signalled = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // One SIGTERM, as systemd sends it (a second one racing the process's own exit could end it by signal).
      if (!signalled && stdout.includes('"event":"unchanged"')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    expect(await exited).toBe(0);
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { event: string }).event);
    expect(events).toEqual(['started', 'checked', 'unchanged', 'stopped']);
  }, 30_000);
});
