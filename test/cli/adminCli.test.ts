import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdminCli } from '../../src/cli/adminCli.js';
import { EXIT } from '../../src/cli/cliIo.js';
import { readPfx } from '../../src/lib/certificates/readPfx.js';
import { thumbprintsOf } from '../../src/lib/certificates/thumbprints.js';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from '../support/sandboxProcess.js';

/**
 * `entra-cert-rotator` (issue 22.6) against a real sandbox on free ports: sign in with the
 * sandbox's token, every command group, table and --json output, the exit statuses, and the key
 * rules: a PFX only in a 0600 file, its password in another 0600 file or on stderr, never stdout.
 */

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
let sandbox: SandboxProcess;
let work: string;
let env: Record<string, string | undefined>;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAdminCli(argv, { env, cwd: work, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rotator-cli-'));
  const dir = join(work, 'sandbox');
  sandbox = await startSandboxProcess(dir, await sandboxEnvironment(dir));
  // The session file lives in the test's own folder, as under a user's ~/.config.
  env = { HOME: work, XDG_CONFIG_HOME: join(work, 'config'), SANDBOX_DIR: dir };
}, 180_000);
afterAll(() => {
  sandbox?.kill();
  rmSync(work, { recursive: true, force: true });
});

describe('entra-cert-rotator against the sandbox', () => {
  it('refuses to run before login, saying how to sign in (exit 3 is for the API; a missing session is usage)', async () => {
    const run = await cli('apps', 'list');
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain('not signed in: run entra-cert-rotator login');
  });

  it('signs in with the sandbox token as a Reader, who may list but not generate (exit 3)', async () => {
    const login = await cli('login', '--sandbox', '--role', 'Reader');
    expect(login.code).toBe(EXIT.ok);
    expect(login.stdout).toContain(`signed in to ${sandbox.info.apiBaseUrl}`);
    expect(login.stdout).toContain('CertRotator.Reader');
    const session = join(work, 'config', 'entra-cert-rotator', 'session.json');
    expect(statSync(session).mode & 0o777).toBe(0o600);
    expect(readFileSync(session, 'utf8')).not.toContain(sandbox.info.tokens.Reader);

    const listed = await cli('apps', 'list');
    expect(listed.code).toBe(EXIT.ok);
    expect(listed.stdout.split('\n')[0]).toMatch(/^APP ID\s+NAME\s+ENABLED\s+NOT AFTER\s+DAYS LEFT/);
    expect(listed.stdout).toContain(sandbox.info.apps.managed.appId);
    const refused = await cli('certs', 'generate', sandbox.info.apps.managed.appId);
    expect(refused.code).toBe(EXIT.auth);
    expect(refused.stderr).toContain('403');
  });

  it('as an Admin: apps get/set, certs generate to a 0600 PFX that opens with the password from its file, history, download', async () => {
    expect((await cli('login', '--sandbox', '--role', 'Admin')).code).toBe(EXIT.ok);
    const appId = sandbox.info.apps.managed.appId;
    const got = json<{ appId: string; config: { lifetimeDays: number } }>(await cli('apps', 'get', appId, '--json'));
    expect(got.appId).toBe(appId);

    const set = await cli('apps', 'set', appId, '--set', `lifetimeDays=${got.config.lifetimeDays + 1}`, '--json');
    expect(set.code).toBe(EXIT.ok);
    expect(json<{ config: { lifetimeDays: number } }>(set).config.lifetimeDays).toBe(got.config.lifetimeDays + 1);
    const bad = await cli('apps', 'set', appId, '--set', 'lifetimeDays=5');
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/400[^\n]*\n\s+lifetimeDays: /);

    const generated = await cli('certs', 'generate', appId, '--pfx', 'app.pfx', '--password-file', 'app.pfx.password');
    expect(generated.code).toBe(EXIT.ok);
    for (const file of ['app.pfx', 'app.pfx.password']) expect(statSync(join(work, file)).mode & 0o777).toBe(0o600);
    const password = readFileSync(join(work, 'app.pfx.password'), 'utf8').trim();
    const opened = { thumbprints: thumbprintsOf(readPfx(readFileSync(join(work, 'app.pfx')), password).certificate) };
    expect(generated.stdout).toContain(opened.thumbprints.sha1);
    expect(generated.stdout + generated.stderr).not.toContain(password);
    expect(generated.stdout).not.toMatch(/PRIVATE KEY|MII/);
    // openssl, as an admin would, opens it with that password.
    if (spawnSync('openssl', ['version']).status === 0) {
      const subject = execFileSync(
        'openssl',
        ['pkcs12', '-in', join(work, 'app.pfx'), '-passin', `file:${join(work, 'app.pfx.password')}`, '-nokeys', '-clcerts'],
        {
          encoding: 'utf8',
        },
      );
      expect(subject).toContain('BEGIN CERTIFICATE');
    }
    // The file is never overwritten by accident.
    expect((await cli('certs', 'generate', appId, '--pfx', 'app.pfx')).code).toBe(EXIT.usage);

    const certs = json<{ thumbprint: string; status: string }[]>(await cli('certs', 'list', appId, '--json'));
    expect(certs.map((c) => c.thumbprint)).toContain(opened.thumbprints.sha1);
    const download = await cli('certs', 'download', appId, opened.thumbprints.sha1, '--format', 'pfx', '--out', 'again.pfx');
    expect(download.code).toBe(EXIT.ok);
    expect(download.stdout).not.toContain('PFX password');
    expect(download.stderr).toContain('PFX password (shown once): ');
    expect(statSync(join(work, 'again.pfx')).mode & 0o777).toBe(0o600);
    const cer = await cli('certs', 'download', appId, opened.thumbprints.sha1);
    expect(cer.code).toBe(EXIT.ok);

    const history = await cli('history', appId);
    expect(history.stdout.split('\n')[0]).toMatch(/^AT\s+ACTION\s+TRIGGER\s+OUTCOME\s+BY/);
    expect(history.stdout).toContain('config.updated');
  });

  it('starts a rotation and follows it to the end, naming the key to retry with', async () => {
    const appId = sandbox.info.apps.managed.appId;
    const started = await cli(
      'rotations',
      'start',
      '--app-id',
      appId,
      '--reason',
      'CLI test',
      '--idempotency-key',
      'cli-test-1',
      '--wait',
      '--json',
    );
    expect(started.code).toBe(EXIT.ok);
    expect(json<{ status: string; counts: { verified: number } }>(started)).toMatchObject({ status: 'completed', counts: { verified: 1 } });
    const again = await cli('rotations', 'start', '--app-id', appId, '--reason', 'another body', '--idempotency-key', 'cli-test-1');
    expect(again.code).toBe(EXIT.conflict);
    expect(again.stderr).toContain('422');
    expect(again.stderr).toContain('--idempotency-key cli-test-1');
    const listed = await cli('rotations', 'list');
    expect(listed.stdout).toContain('CLI test');

    // An app with scheduled renewal off is skipped, and the table says which and why.
    expect((await cli('apps', 'set', appId, '--set', 'enabled=false')).code).toBe(EXIT.ok);
    try {
      const skipping = await cli('rotations', 'start', '--app-id', appId, '--reason', 'CLI skip test', '--wait');
      expect(skipping.code).toBe(EXIT.ok);
      const skippedTable = skipping.stdout.slice(skipping.stdout.indexOf('\nskipped:\n'));
      expect(skippedTable).toMatch(/^\nskipped:\nAPP ID\s+NAME\s+WHY\n/);
      expect(skippedTable).toContain(appId);
    } finally {
      expect((await cli('apps', 'set', appId, '--set', 'enabled=true')).code).toBe(EXIT.ok);
    }
  }, 120_000);

  it('answers usage errors with exit 2, an unknown app with 4, and runs as the bin', async () => {
    expect((await cli('apps', 'frobnicate')).code).toBe(EXIT.usage);
    expect((await cli('apps', 'list', '--pfx', 'x')).stderr).toContain('--pfx is not an option of apps list');
    expect((await cli('apps', 'delete', sandbox.info.apps.managed.appId)).stderr).toContain('add --yes');
    const missing = await cli('apps', 'get', '00000000-0000-4000-8000-000000000000');
    expect(missing.code).toBe(EXIT.notFound);
    // The bin: the same through a process, its status the exit code.
    const bin = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/cli.ts'), 'apps', 'get', '00000000-0000-4000-8000-000000000000'],
      {
        cwd: PROJECT_ROOT, // where tsx resolves; the session comes from the environment
        env: { ...env, PATH: process.env.PATH },
        encoding: 'utf8',
      },
    );
    expect(bin.status).toBe(EXIT.notFound);
    expect(bin.stderr).toContain('404');
  });
});
