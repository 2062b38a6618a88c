import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
} from '../../src/lib/certificates/generateCertificate.js';
import { derToPem, encodePemBundle } from '../../src/lib/certificates/encode.js';
import type { CertificateSource, LatestSecret } from '../../src/sync/certificateSource.js';
import { createJsonLog } from '../../src/sync/jsonLog.js';
import { decideReplacement, type CertificateFacts } from '../../src/sync/replaceDecision.js';
import { runSyncCycle } from '../../src/sync/syncCycle.js';
import type { SyncOptions } from '../../src/sync/syncOptions.js';

/**
 * The replace decision (pure, table-tested) and what a cycle does with a vault version no Key Vault
 * would serve for a certificate (a key that is not the certificate's, a value that is not a
 * certificate): the emulator refuses to import those, so these cases are fed through the
 * CertificateSource port itself; everything else runs against the emulators (entraCertSync.test.ts).
 */

const DAY = 86_400_000;
const NOW = new Date('2026-06-01T12:00:00Z');
const at = (days: number) => new Date(NOW.getTime() + days * DAY);
const facts = (thumbprint: string, from: number, to: number, keyMatches = true): CertificateFacts => ({
  thumbprint,
  notBefore: at(from),
  notAfter: at(to),
  keyMatches,
});

describe('decideReplacement', () => {
  const current = facts('OLD', -40, 20);
  it.each([
    { case: 'the same certificate', candidate: facts('OLD', -40, 20), want: 'unchanged' },
    { case: 'the same certificate, even with a bad key claim', candidate: facts('OLD', -40, 20, false), want: 'unchanged' },
    { case: 'newer, valid, its own key', candidate: facts('NEW', -1, 60), want: 'replace' },
    { case: 'valid from exactly now (inclusive)', candidate: facts('NEW', 0, 60), want: 'replace' },
    { case: 'a key that is not its own', candidate: facts('NEW', -1, 60, false), want: 'key-mismatch' },
    { case: 'not valid until tomorrow', candidate: facts('NEW', 1, 60), want: 'not-yet-valid' },
    { case: 'already expired', candidate: facts('NEW', -90, -1), want: 'expired' },
    { case: 'expiring at the same moment', candidate: facts('NEW', -1, 20), want: 'not-later' },
    { case: 'expiring earlier', candidate: facts('NEW', -1, 10), want: 'not-later' },
  ])('$case → $want', ({ candidate, want }) => {
    const decision = decideReplacement(current, candidate, NOW);
    expect(decision.action === 'reject' ? decision.reason : decision.action).toBe(want);
  });

  it('with no file yet (the default credential), any valid certificate with its own key replaces', () => {
    expect(decideReplacement(undefined, facts('NEW', -1, 60), NOW)).toEqual({ action: 'replace' });
    expect(decideReplacement(undefined, facts('NEW', -1, 60, false), NOW)).toMatchObject({ action: 'reject', reason: 'key-mismatch' });
  });
});

describe('runSyncCycle with vault values no certificate import yields', () => {
  let scratch: string;
  let current: GeneratedCertificate;
  let next: GeneratedCertificate;
  let stranger: GeneratedCertificate;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ecs-cycle-'));
    const make = async (name: string, lifetimeDays: number) =>
      createSelfSignedCertificate(await generateRsaKeyPair(2048), { displayName: name, lifetimeDays });
    [current, next, stranger] = await Promise.all([make('current', 30), make('next', 60), make('stranger', 60)]);
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  async function cycleWith(latest: LatestSecret) {
    const file = join(scratch, `${Math.random().toString(36).slice(2)}.pem`);
    writeFileSync(file, encodePemBundle(current.der, current.privateKey), { mode: 0o600 });
    const before = readFileSync(file);
    let proved = 0;
    const source: CertificateSource = {
      readLatest: () => Promise.resolve(latest),
      proveSignIn: () => {
        proved += 1;
        return Promise.resolve();
      },
    };
    let log = '';
    const options: SyncOptions = {
      vaultUrl: 'https://vault.example/',
      name: 'app',
      file,
      credential: 'certificate',
      tenantId: 't',
      clientId: 'c',
      authorityHost: 'https://login.example',
      disableInstanceDiscovery: true,
      intervalInMs: undefined,
      timeoutInMs: 5000,
      exec: `touch '${file}.exec'`,
    };
    const status = await runSyncCycle(options, {
      source,
      log: createJsonLog((line) => (log += line)),
      now: () => new Date(),
      env: {},
      forwardExecOutput: () => undefined,
      stop: new AbortController().signal,
    });
    const unchanged = readFileSync(file).equals(before) && !existsSync(`${file}.previous`) && !existsSync(`${file}.exec`);
    const lines = log
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { status, unchanged, proved, lines, log };
  }

  it('a latest version whose private key is not its certificate’s: exit 3 (key-mismatch), never proved, the file untouched', async () => {
    const mismatched = derToPem(next.der, 'CERTIFICATE') + (stranger.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const run = await cycleWith({ version: 'v2', contentType: 'application/x-pem-file', value: mismatched });
    expect(run.status).toBe(3);
    expect(run.unchanged).toBe(true);
    expect(run.proved).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ event: 'rejected', reason: 'key-mismatch', thumbprint: next.thumbprints.sha1 });
    expect(run.log).not.toContain('PRIVATE KEY');
  });

  it.each([
    { case: 'an empty secret', latest: { version: 'v2', contentType: 'application/x-pem-file', value: '' } },
    { case: 'a plain secret', latest: { version: 'v2', contentType: 'text/plain', value: 'hunter2' } },
    {
      case: 'a PEM without a key',
      latest: { version: 'v2', contentType: 'application/x-pem-file', value: derToPem(Buffer.from('x'), 'CERTIFICATE') },
    },
    { case: 'a PFX that is not one', latest: { version: 'v2', contentType: 'application/x-pkcs12', value: 'bm90IGEgcGZ4' } },
  ])('$case: exit 3 (unreadable), the file untouched, the value never logged', async ({ latest }) => {
    const run = await cycleWith(latest);
    expect(run.status).toBe(3);
    expect(run.unchanged).toBe(true);
    expect(run.lines.at(-1)).toMatchObject({ event: 'rejected', reason: 'unreadable' });
    expect(run.log).not.toContain('hunter2');
  });

  it('the same source with a good version does replace (the cases above fail for their reason, not for the harness)', async () => {
    const run = await cycleWith({
      version: 'v2',
      contentType: 'application/x-pem-file',
      value: encodePemBundle(next.der, next.privateKey),
    });
    expect(run.status).toBe(0);
    expect(run.unchanged).toBe(false);
    expect(run.proved).toBe(1);
  });
});
