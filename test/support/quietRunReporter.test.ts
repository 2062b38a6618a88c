import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

/**
 * The quiet-run check (issue 22.7) end to end: a nested vitest over two passing fixtures, one
 * printing a stack trace to stderr, with test/support/quietRunReporter.ts as vitest.config.ts has it.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

it('fails a run whose tests all pass when one printed a stack trace to stderr, naming that test only', () => {
  // The outer run's worker variables would make the nested vitest think it is a worker.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST')));
  const run = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/support/quietRun/vitest.config.ts'], {
    cwd: ROOT,
    env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  expect(output).toMatch(/Tests\s+2 passed \(2\)/);
  expect(run.status, output).toBe(1);
  expect(run.stderr).toContain('Quiet run (issue 22.7): 1 stack trace(s) printed to stderr');
  expect(run.stderr).toContain('✗ noisy.fixture.ts > passes, but prints a stack trace to stderr');
  expect(run.stderr).toContain('Error: an outage nobody asserted');
  expect(run.stderr).not.toContain('✗ quiet.fixture.ts');
}, 150_000);
