import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { sandboxEnvironment, type SandboxJson } from '../support/sandboxProcess.js';

/**
 * What the sandbox does with the data folder it finds: a first start that died while seeding leaves
 * nothing a later start takes as kept; kept state that does not hang together stops the start with
 * a line naming --reset; the banner says what is really managed.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ecr-sandbox-state-'));
const running: ChildProcess[] = [];
afterAll(() => {
  for (const child of running) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** `npm run sandbox` (no --reset) until its banner or its exit; stopped with SIGINT to its group after `use`. */
async function runSandbox(data: string, env: NodeJS.ProcessEnv, use?: (info: SandboxJson) => Promise<void>) {
  const child = spawn('npm', ['run', 'sandbox'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  while (!output.includes('Ctrl-C stops it.') && child.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 250));
  if (child.exitCode === null && output.includes('Ctrl-C stops it.')) {
    await use?.(JSON.parse(readFileSync(join(data, 'sandbox.json'), 'utf8')) as SandboxJson);
    process.kill(-child.pid!, 'SIGINT');
  }
  return { code: await exit, output };
}

describe('the sandbox data folder', () => {
  const data = join(dir, 'data');

  // One folder's life, in order (each step needs the one before): one test, so it runs alone.
  it('a half-seeded folder starts clean; a restart shows the second app managed; broken kept state is refused naming --reset', async () => {
    // What a start killed during its seed leaves: emulator state and storage, but no tenant.json.
    mkdirSync(join(data, 'state'), { recursive: true });
    writeFileSync(join(data, 'state', 'graph.json'), JSON.stringify({ applications: [] }));
    mkdirSync(join(data, 'azurite'), { recursive: true });
    writeFileSync(join(data, 'azurite', 'leftover'), 'half a seed');
    const env = await sandboxEnvironment(data);
    const run = await runSandbox(data, env, async (info) => {
      const apps = await fetch(`${info.apiBaseUrl}/apps`, { headers: { Authorization: `Bearer ${info.tokens.Admin}` } });
      const body = (await apps.json()) as { items: { appId: string }[] };
      expect(body.items.map((a) => a.appId)).toContain(info.apps.managed.appId);
      // Manage the second app, for the restart below.
      const put = await fetch(`${info.apiBaseUrl}/apps/${info.apps.unmanaged.appId}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${info.tokens.Admin}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(put.status).toBe(201);
    });
    expect(run.output).toContain('holds data of a start that did not finish seeding; starting clean');
    expect(run.output).toContain('not managed yet');

    // After a restart the banner shows the second app as managed.
    const restart = await runSandbox(data, await sandboxEnvironment(data));
    expect(restart.output).toContain('state kept from the last run');
    expect(restart.output).toMatch(/Contoso Reporting Worker: managed/);
    expect(restart.output).not.toContain('not managed yet');

    // Kept state that does not hang together (Graph lost its apps) stops the start, in one line naming --reset.
    writeFileSync(join(data, 'state', 'graph.json'), JSON.stringify({ applications: [] }));
    const broken = await runSandbox(data, await sandboxEnvironment(data));
    expect(broken.code).not.toBe(0);
    expect(broken.output).toMatch(
      /The sandbox could not start: The kept state in .* is inconsistent \(managed app [0-9a-f-]+ is not in Graph.*npm run sandbox -- --reset/,
    );
    expect(broken.output).not.toMatch(/^\s+at /m);
  }, 400_000);
});

describe('a busy port', () => {
  it('stops the start at once with one line naming the port and the setting to change, and writes nothing', async () => {
    const data = join(dir, 'busy');
    const env = await sandboxEnvironment(data);
    const port = Number(env.SANDBOX_GRAPH_PORT);
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const run = await runSandbox(data, env);
      expect(run.code).not.toBe(0);
      expect(run.output).toContain(
        `The sandbox could not start: port ${port} is in use (SANDBOX_GRAPH_PORT): stop what holds it, or set SANDBOX_GRAPH_PORT to a free port.`,
      );
      expect(run.output).not.toContain('EADDRINUSE');
      expect(existsSync(data)).toBe(false);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
