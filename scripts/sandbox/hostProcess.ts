import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The sandbox's child: `npm run host` as one process, its environment, its output and its stop.
 */

const HOST_READY_TIMEOUT_MS = 60_000;
const CHILD_STOP_TIMEOUT_MS = 15_000;

/** Settings the sandbox sets itself; the same names from the caller's shell must not leak into the host. */
const OWN_SETTINGS = /^(AZURE_|IDENTITY_|MSI_|IMDS_|AzureWebJobs|CONFIG_STORAGE|EMAIL_|EVENTGRID_|API_|FUNCTIONS_|WEBSITE_)/;
const OWN_NAMES = new Set([
  'MANAGED_TENANT_ID',
  'RENEWAL_SCHEDULE',
  'RENEWAL_LEASE_SECONDS',
  'VERIFY_WINDOW_MINUTES',
  'GRAPH_BASE_URL',
  'DEFAULT_KEYVAULT_URL',
  'DEFAULT_KEYVAULT_RESOURCE_ID',
  'ARM_BASE_URL',
  'NODE_EXTRA_CA_CERTS',
]);

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), CHILD_STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

function prefixLines(stream: NodeJS.ReadableStream, prefix: string, out: NodeJS.WritableStream): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) out.write(`${prefix}${line}\n`);
  });
}

/** The caller's environment minus anything that would point the host elsewhere (a developer's AZURE_CLIENT_SECRET, say). */
export function inheritedEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !OWN_SETTINGS.test(name) && !OWN_NAMES.has(name)));
}

/** SANDBOX_APP: the folder azd would ship, loaded as the Functions host loads it (package.json's main). */
export function deployPackage(root: string): { root: string; entryPoint: string } {
  const manifest = join(root, 'package.json');
  if (!existsSync(manifest)) throw new Error(`SANDBOX_APP: ${root} has no package.json (build one with scripts/package-function.sh)`);
  if (existsSync(join(root, 'local.settings.json'))) throw new Error(`SANDBOX_APP: ${root} has a local.settings.json, which would mix in`);
  const { main } = JSON.parse(readFileSync(manifest, 'utf8')) as { main?: unknown };
  if (typeof main !== 'string') throw new Error(`SANDBOX_APP: ${manifest} names no "main"`);
  return { root, entryPoint: resolve(root, main) };
}

export async function waitForHost(child: ChildProcess, url: string): Promise<void> {
  const deadline = Date.now() + HOST_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`The local host exited during start-up (code ${child.exitCode}); its output is above`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`The local host did not answer ${url} within ${HOST_READY_TIMEOUT_MS / 1000} s`);
}

/**
 * `tsx tools/local-host/main.ts` as one process: tsx's loader in this node rather than its CLI wrapper,
 * so the pid recorded is the host's own and a signal reaches it directly. The flags of `npm run host`
 * (package.json): the same host, with the same heap ceiling. Its output goes to ours, each line marked.
 */
export function spawnHost(projectRoot: string, cwd: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--max-old-space-size=128', '--import', import.meta.resolve('tsx'), join(projectRoot, 'tools', 'local-host', 'main.ts')],
    { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prefixLines(child.stdout, 'host | ', process.stdout);
  prefixLines(child.stderr, 'host | ', process.stderr);
  return child;
}
