import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The environment variables that move the sandbox's ports (scripts/sandbox/sandboxLayout.ts). */
export const SANDBOX_PORT_NAMES = [
  'PORT',
  'SANDBOX_AUTHORITY_PORT',
  'SANDBOX_GRAPH_PORT',
  'SANDBOX_KEYVAULT_PORT',
  'SANDBOX_EMAIL_PORT',
  'SANDBOX_EVENTGRID_PORT',
  'SANDBOX_ARM_PORT',
  'SANDBOX_BLOB_PORT',
  'SANDBOX_QUEUE_PORT',
  'SANDBOX_TABLE_PORT',
] as const;

/** What `npm run sandbox` writes to sandbox.json (the fields the tests read). */
export interface SandboxJson {
  apiBaseUrl: string;
  dashboardUrl: string;
  tenantId: string;
  apps: {
    managed: { appId: string; displayName: string; currentThumbprint: string };
    unmanaged: { appId: string; displayName: string };
  };
  tokens: Record<'Reader' | 'Operator' | 'Admin', string>;
  outbox: string;
  events: string;
  caCertificate: string;
  emulators: { authority: string; graph: string };
  pids: { sandbox: number; host: number; azurite: number };
}

/** Ports free at the time of asking (bound, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((done) => {
          const server = createServer();
          server.listen(0, '127.0.0.1', () => done(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

/** A clean environment, as in a user's shell (nothing of vitest's, nothing of the test CA), on free ports. */
export async function sandboxEnvironment(dir: string, extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const ports = await freePorts(SANDBOX_PORT_NAMES.length);
  const shell = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(VITEST|NODE_OPTIONS$|NODE_EXTRA_CA_CERTS$|TEST$)/.test(name)),
  );
  return { ...shell, ...Object.fromEntries(SANDBOX_PORT_NAMES.map((name, i) => [name, String(ports[i])])), SANDBOX_DIR: dir, ...extra };
}

export function readSandboxJson(dir: string): SandboxJson | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')) as SandboxJson;
  } catch {
    return undefined;
  }
}

export interface SandboxProcess {
  readonly child: ChildProcess;
  readonly info: SandboxJson;
  readonly output: () => string;
  /** SIGKILL to the sandbox's process group and every pid it recorded. */
  kill(): void;
}

/** `npm run sandbox -- --reset` in its own process group; resolves once sandbox.json and the banner are there. */
export async function startSandboxProcess(dir: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<SandboxProcess> {
  let output = '';
  const child = spawn('npm', ['run', 'sandbox', '--', '--reset'], {
    cwd: PROJECT_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const kill = (pids: number[]) => {
    for (const target of [-child.pid!, ...pids]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = readSandboxJson(dir);
    if (info && output.includes('Ctrl-C stops it.')) {
      return { child, info, output: () => output, kill: () => kill(Object.values(info.pids)) };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      kill([]);
      throw new Error(`The sandbox did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
