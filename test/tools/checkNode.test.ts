import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The Node check (issue: a user on Node 20 met a crash deep inside the sandbox instead of one line). */

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = (node: string, version?: string) =>
  spawnSync(node, ['scripts/check-node.mjs'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ENTRA_CERT_ROTATOR_NODE_VERSION_FOR_TEST: version ?? '' },
  });

/** A Node older than 22 on this machine, if any (Debian's, on the CI image). */
const oldNode = ['/usr/bin/node', '/bin/node'].find((path) => {
  try {
    return Number(execFileSync(path, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim()) < 22;
  } catch {
    return false;
  }
});

describe('scripts/check-node.mjs', () => {
  it.each(['20.20.2', '18.0.0', '21.7.3'])('refuses Node %s in one line that says how to get Node 22', (version) => {
    const result = run(process.execPath, version);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`needs Node 22 or newer, and this is Node ${version}`);
    expect(result.stderr).toContain('source scripts/ensure-node.sh');
  });

  it.each(['22.0.0', '24.1.0'])('lets Node %s through, silently', (version) => {
    expect(run(process.execPath, version)).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });

  it.runIf(oldNode !== undefined)('refuses the real older Node this machine has', () => {
    const result = run(oldNode!);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/needs Node 22 or newer, and this is Node (1\d|2[01])\./);
  });

  it('runs before npm ci / install and before the commands a new user types first', () => {
    const { scripts } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
    for (const name of ['preinstall', 'pretest', 'presandbox', 'prehost']) expect(scripts[name]).toBe('node scripts/check-node.mjs');
  });
});
