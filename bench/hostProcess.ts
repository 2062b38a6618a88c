import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The local host (the compiled tools/local-host/main.ts) as a child process, and what /proc says of it. */
export interface HostProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly memory: { peakRssKiB: number; hwmKiB: number; samples: number; startedRssMiB: number };
  stop(): Promise<void>;
}

const ROUND_TIMEOUT_MS = 20 * 60_000;

/** The V8 flags of `npm run host` (package.json), which the measured host runs with by default. */
const HOST_NODE_OPTIONS = '--max-old-space-size=128';

export const hostNodeOptions = (): string => process.env.BENCH_HOST_NODE_OPTIONS ?? HOST_NODE_OPTIONS;

export function readStatus(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  try {
    // Fields after the command (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Moves a process, every thread of it, onto the given CPUs (`taskset -a -p -c`); false where
 * taskset is missing.
 */
export function pin(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startHost(distDir: string, appRoot: string, env: NodeJS.ProcessEnv, logPath: string): Promise<HostProcess> {
  const child = spawn(process.execPath, [join(distDir, 'tools', 'local-host', 'main.js')], {
    // The host runs as `npm run host` runs it (package.json: a 128 MiB old-space ceiling, so that V8
    // collects instead of growing the heap to a plateau of uncollected garbage); BENCH_HOST_NODE_OPTIONS
    // replaces the flags, e.g. with '' to see the uncapped figure.
    env: { ...env, NODE_OPTIONS: hostNodeOptions() },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: appRoot,
  });
  const log = createWriteStream(logPath);
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const memory = { peakRssKiB: 0, hwmKiB: 0, samples: 0, startedRssMiB: 0 };
  const sampler = setInterval(() => {
    const status = readStatus(child.pid!);
    if (!status) return;
    memory.samples += 1;
    memory.peakRssKiB = Math.max(memory.peakRssKiB, status.rssKiB);
    memory.hwmKiB = Math.max(memory.hwmKiB, status.hwmKiB);
  }, 100);
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const match = /Local host listening on (\S+)/.exec(buffered);
      if (match) {
        child.stdout.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`The local host exited before listening (code ${code}); see ${logPath}`)));
  });
  memory.startedRssMiB = Math.round((readStatus(child.pid!)?.rssKiB ?? 0) / 102.4) / 10;
  return {
    child,
    url,
    memory,
    async stop() {
      const last = readStatus(child.pid!);
      if (last) memory.hwmKiB = Math.max(memory.hwmKiB, last.hwmKiB);
      clearInterval(sampler);
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      });
    },
  };
}

export async function waitFor(what: string, done: () => boolean, host: HostProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + ROUND_TIMEOUT_MS;
  while (!done()) {
    if (host.child.exitCode !== null) throw new Error(`The local host exited while waiting for ${what}; see ${logPath}`);
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; see ${logPath}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
