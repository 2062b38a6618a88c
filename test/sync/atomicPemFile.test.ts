import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { replacePemFile } from '../../src/sync/atomicPemFile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./fixtures/replaceWithCrashPoint.ts', import.meta.url));
const OLD =
  '-----BEGIN CERTIFICATE-----\nOLD certificate\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nOLD key\n-----END PRIVATE KEY-----\n';
// Long enough that half a write is visibly neither the old file nor the new one.
const NEW = `-----BEGIN CERTIFICATE-----\n${'N'.repeat(1200)}\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n${'K'.repeat(1600)}\n-----END PRIVATE KEY-----\n`;

const scratch = mkdtempSync(join(tmpdir(), 'ecs-atomic-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A fresh directory holding `cert.pem` with the old content. */
function directoryWithOldFile(mode = 0o644): { dir: string; file: string } {
  const dir = join(scratch, `d${++dirs}`);
  const file = join(dir, 'cert.pem');
  mkdirSync(dir);
  writeFileSync(file, OLD, { mode });
  chmodSync(file, mode);
  return { dir, file };
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('replacePemFile', () => {
  it('writes the new content with mode 0600 and keeps the old bytes as .previous, also 0600', async () => {
    const { dir, file } = directoryWithOldFile(0o644);
    await replacePemFile(file, NEW, readFileSync(file));
    expect(readFileSync(file, 'utf8')).toBe(NEW);
    expect(modeOf(file)).toBe(0o600);
    expect(readFileSync(`${file}.previous`, 'utf8')).toBe(OLD);
    expect(modeOf(`${file}.previous`)).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['cert.pem', 'cert.pem.previous']);
  });

  it('is 0600 even under a umask that would leave it group- or world-readable', async () => {
    const { file } = directoryWithOldFile();
    const saved = process.umask(0);
    try {
      await replacePemFile(file, NEW, readFileSync(file));
    } finally {
      process.umask(saved);
    }
    expect(modeOf(file)).toBe(0o600);
  });

  it('creates the file when there is none, with no .previous', async () => {
    const dir = join(scratch, `fresh${++dirs}`);
    mkdirSync(dir);
    await replacePemFile(join(dir, 'cert.pem'), NEW);
    expect(readdirSync(dir)).toEqual(['cert.pem']);
    expect(modeOf(join(dir, 'cert.pem'))).toBe(0o600);
  });

  it('removes temporary files an earlier, killed run left behind, and only those', async () => {
    const { dir, file } = directoryWithOldFile();
    writeFileSync(join(dir, '.cert.pem.sync-0123456789abcdef.tmp'), 'half a key');
    writeFileSync(join(dir, '.cert.pem.previous.sync-0123456789abcdef.tmp'), 'half a key');
    writeFileSync(join(dir, '.other.pem.sync-0123456789abcdef.tmp'), 'not ours');
    await replacePemFile(file, NEW, readFileSync(file));
    expect(readdirSync(dir).sort()).toEqual(['.other.pem.sync-0123456789abcdef.tmp', 'cert.pem', 'cert.pem.previous']);
  });

  it.runIf(process.getuid?.() === 0)('run as root, keeps the owner and group of the file it replaces', async () => {
    const { file } = directoryWithOldFile();
    chownSync(file, 4321, 4322);
    await replacePemFile(file, NEW, readFileSync(file));
    expect(statSync(file)).toMatchObject({ uid: 4321, gid: 4322 });
    expect(statSync(`${file}.previous`)).toMatchObject({ uid: 4321, gid: 4322 });
  });
});

interface ChildRun {
  readonly calls: { call: number; op: string; paths: string[] }[];
  readonly paused: boolean;
  readonly exitCode: number | null;
  readonly output: string;
}

/** Runs replacePemFile in a child that stops dead before file-system call `crashAt`, then SIGKILLs it there. */
function runChild(dir: string, file: string, crashAt: number): Promise<ChildRun> {
  const newSource = join(scratch, 'new.src');
  const previousSource = join(scratch, 'previous.src');
  writeFileSync(newSource, NEW);
  writeFileSync(previousSource, OLD);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, file, newSource, previousSource, String(crashAt)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let paused = false;
    const calls: ChildRun['calls'] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const lines = output.split('\n').slice(0, -1);
      calls.length = 0;
      for (const line of lines) {
        const parsed = JSON.parse(line) as { call?: number; op: string; paths: string[]; paused?: number };
        if (parsed.call !== undefined) calls.push(parsed as ChildRun['calls'][number]);
        if (parsed.paused !== undefined && !paused) {
          paused = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ calls, paused, exitCode, output }));
  });
}

describe('replacePemFile killed at any point (SIGKILL before each file-system call, half-way through each write)', () => {
  it('always leaves the old file or the new one, whole, at the path; .previous is the old one; the next run tidies up', async () => {
    let completed: ChildRun | undefined;
    for (let crashAt = 1; crashAt < 60 && completed === undefined; crashAt++) {
      const { dir, file } = directoryWithOldFile(0o600);
      const run = await runChild(dir, file, crashAt);
      if (!run.paused) {
        expect(run.exitCode, run.output).toBe(0);
        completed = run;
        expect(readFileSync(file, 'utf8')).toBe(NEW);
        expect(readFileSync(`${file}.previous`, 'utf8')).toBe(OLD);
        break;
      }
      const atPath = readFileSync(file, 'utf8');
      expect([OLD, NEW], `killed before call ${crashAt}: ${run.calls.at(-1)?.op}`).toContain(atPath);
      const previous = readdirSync(dir).includes('cert.pem.previous') ? readFileSync(`${file}.previous`, 'utf8') : undefined;
      expect([undefined, OLD], `.previous after a kill before call ${crashAt}`).toContain(previous);
      expect(modeOf(file)).toBe(0o600);

      // A later run over the debris: the new file, the old one kept, no temporary left.
      await replacePemFile(file, NEW, Buffer.from(atPath));
      expect(readFileSync(file, 'utf8')).toBe(NEW);
      expect(readdirSync(dir).sort()).toEqual(['cert.pem', 'cert.pem.previous']);
    }
    expect(completed, 'the child never ran to completion').toBeDefined();

    // The sweep covered the writes and the renames, and the path itself is only ever the target of a rename.
    const calls = completed!.calls;
    const file = calls.find((c) => c.op === 'rename' && c.paths[1]!.endsWith('/cert.pem'))?.paths[1];
    expect(file, JSON.stringify(calls)).toBeDefined();
    expect(calls.some((c) => c.op.startsWith('handle.write'))).toBe(true);
    expect(calls.some((c) => c.op === 'handle.sync' && c.paths[0]!.endsWith('.tmp'))).toBe(true);
    const touchingPath = calls.filter((c) => c.paths.includes(file!));
    expect(touchingPath.map((c) => `${c.op} ${c.paths.indexOf(file!)}`)).toEqual(['rename 1']);
    // The directory is fsynced after that rename, so the new entry survives a power cut.
    const renameAt = calls.findIndex((c) => c.op === 'rename' && c.paths[1] === file);
    expect(calls.slice(renameAt).some((c) => c.op === 'handle.sync' && !c.paths[0]!.includes('cert.pem'))).toBe(true);
  }, 120_000);
});
