import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from '../support/sandboxProcess.js';

/**
 * The README's walk-through, run as written (issue 22.4): every ```sh block of its "Quick start"
 * section, in order, in one bash session from the project folder, against a sandbox on free ports
 * (not the documented ones) with its own folder. The blocks are read from the markdown, so the
 * docs cannot drift from what works; a block that fails fails this test with its output.
 */

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The ```sh blocks of the README section whose heading starts with `heading`. */
export function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

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
    const blocks = shellBlocks(readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8'), 'Quick start');
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    // Nothing typed by hand: no port, GUID or thumbprint literal in a command.
    for (const block of blocks) expect(block).not.toMatch(/127\.0\.0\.1|localhost:\d|[0-9a-f]{8}-[0-9a-f]{4}-|[0-9A-F]{40}/);
  });

  it('runs as written against a sandbox on other ports, each block in turn', async () => {
    const blocks = shellBlocks(readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8'), 'Quick start');
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
    expect(block(2)).toContain('Contoso-Reporting-Worker');
    expect(block(4)).toContain('subject=CN');
    expect(block(4)).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
    expect(block(5)).toContain(`appid: '${sandbox.info.apps.unmanaged.appId}'`);
    expect(block(6).trim().split('\n').slice(-2)).toEqual(['unchanged', 'replaced']);
    expect(block(7)).toMatch(/Subject: \[Entra Cert Rotator\] Certificate renewed for Contoso Payments API/);
    expect(block(8)).toContain('certificate.delete api succeeded');
    expect(block(9)).toMatch(/^APP ID\s+NAME/m);
    for (const file of ['reporting.pem', 'reporting.pfx', 'reporting.pfx.pass']) {
      expect(statSync(join(work, 'sandbox', file)).mode & 0o777).toBe(0o600);
    }
  }, 300_000);
});
