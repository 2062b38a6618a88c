import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Why it could not run or finish (spawn failure, the deadline). */
  readonly problem?: string;
}

/**
 * Runs the `--exec` command with /bin/sh after a replacement (a service reload, typically). Its
 * output goes to `forward` (the sync's stderr), so that stdout stays one JSON object per line; it is
 * killed (SIGTERM) when it outlives `timeoutInMs`, so a hung reload cannot stall an interval loop.
 */
export function execAfterReplace(
  command: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutInMs: number,
  forward: (text: string) => void,
): Promise<ExecResult> {
  return new Promise((resolve) => {
    let timedOut = false;
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutInMs);
    child.stdout.on('data', (chunk: Buffer) => forward(chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => forward(chunk.toString('utf8')));
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, exitCode: null, signal: null, problem: `could not start /bin/sh: ${error.message}` });
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const problem = timedOut ? `killed after ${timeoutInMs} ms (--timeout)` : undefined;
      resolve({ ok: exitCode === 0 && !timedOut, exitCode, signal, ...(problem ? { problem } : {}) });
    });
  });
}
