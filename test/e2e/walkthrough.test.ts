import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from '../support/sandboxProcess.js';

/**
 * The walk-through and the docs' examples, run as written (issue 22.4): every ```sh block of the
 * README's walk-through, then of docs/getting-started.md's tour and of docs/http-api.md, in order,
 * in one bash session from the project folder, against a sandbox on free ports (not the documented
 * ones) with its own folder. The blocks are read from the markdown, so the docs cannot drift from
 * what works; a block that fails fails this test with its output. (```text blocks are not run:
 * they hold what a reader fills in, such as an Azure tenant's names.)
 */

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The ```sh blocks of a markdown file, from the section whose heading starts with `heading` (or all) to the end. */
export function shellBlocks(file: string, heading?: string): string[] {
  const markdown = readFileSync(join(PROJECT_ROOT, file), 'utf8');
  const start = heading === undefined ? 0 : markdown.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`${file} has no "## ${heading}" section`);
  return [...markdown.slice(start).matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** Everything a reader runs, in the order the docs lead them through it. */
const allBlocks = () => [
  ...shellBlocks('README.md', 'Five-minute walk-through'),
  ...shellBlocks('docs/getting-started.md', 'The tour continues'),
  ...shellBlocks('docs/http-api.md'),
];

let sandbox: SandboxProcess;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rotator-walkthrough-'));
  const dir = join(work, 'sandbox');
  // The demo app falls due soon and the timer ticks often, so step 8 waits seconds, not minutes.
  env = await sandboxEnvironment(dir, { SANDBOX_DEMO_DUE_IN_SECONDS: '20', SANDBOX_RENEWAL_SCHEDULE: '*/5 * * * * *' });
  sandbox = await startSandboxProcess(dir, env);
}, 180_000);
afterAll(() => {
  sandbox?.kill();
  rmSync(work, { recursive: true, force: true });
});

describe("the README's walk-through", () => {
  it('has its steps as sh blocks', () => {
    const blocks = allBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(14);
    // Nothing typed by hand: no port, GUID or thumbprint literal in a command.
    for (const block of blocks) expect(block).not.toMatch(/127\.0\.0\.1|localhost:\d|[0-9a-f]{8}-[0-9a-f]{4}-|[0-9A-F]{40}/);
  });

  it('runs as written against a sandbox on other ports, each block in turn', async () => {
    const blocks = allBlocks();
    // One bash session, as a reader's terminal: the variables of one block are there for the next.
    const script = ['set -euo pipefail', ...blocks.map((block, i) => `echo "=== block ${i + 1}"\n${block}`)].join('\n');
    const shellEnv = { ...env, HOME: work, XDG_CONFIG_HOME: join(work, 'config') };
    const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('bash', ['-c', script], { cwd: PROJECT_ROOT, env: shellEnv });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(run.code, run.output).toBe(0);
    const { output } = run;
    const block = (n: number) => output.slice(output.indexOf(`=== block ${n}\n`), output.indexOf(`=== block ${n + 1}\n`));
    // README: list, manage, generate, sign in, the CLI.
    expect(block(2)).toContain('Contoso-Reporting-Worker');
    expect(block(4)).toContain(`appid: '${sandbox.info.apps.unmanaged.appId}'`);
    expect(block(5)).toMatch(/^APP ID\s+NAME/m);
    // docs/getting-started.md: openssl, the sync, the scheduler's renewal, the deletion.
    expect(block(6)).toContain('subject=CN');
    expect(block(6)).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
    expect(block(7).trim().split('\n').slice(-2)).toEqual(['unchanged', 'replaced']);
    expect(block(8)).toMatch(/Subject: \[Entra Cert Rotator\] Certificate renewed for Contoso Payments API/);
    expect(block(9)).toContain('certificate.delete api succeeded');
    // docs/http-api.md: the examples and the CLI, each ending as it says.
    expect(output).toMatch(/SHA1 Fingerprint=|sha1 Fingerprint=/i);
    expect(output).toMatch(/^completed: \{"queued":0,"deployed":0,"verified":1,"failed":0,"skipped":0\}$/m);
    for (const file of ['reporting.pem', 'reporting.pfx', 'reporting.pfx.pass']) {
      expect(statSync(join(work, 'sandbox', file)).mode & 0o777).toBe(0o600);
    }
  }, 300_000);
});
