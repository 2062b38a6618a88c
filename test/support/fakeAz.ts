import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * An `az` for the deployment scripts' tests: a small Node program on PATH that records every call
 * and answers the Entra commands those scripts use from a list of app registrations. It models what
 * matters to the scripts: `ad app list --display-name` matches a PREFIX (as the real CLI's
 * startswith filter does), `--filter "displayName eq '…'"` matches exactly.
 */
export interface FakeAz {
  readonly path: string;
  calls(): string[][];
}

const PROGRAM = String.raw`#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_AZ_LOG, JSON.stringify(args) + '\n');
const apps = JSON.parse(process.env.FAKE_AZ_APPS || '[]');
const option = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const query = option('--query') || '';
const command = args.slice(0, 3).join(' ');
const out = (value) => { process.stdout.write(value + '\n'); };
if (command === 'ad app list') {
  const filter = option('--filter');
  const prefix = option('--display-name');
  const exact = filter && /^displayName eq '(.*)'$/.exec(filter);
  const found = apps.filter((app) => exact ? app.displayName === exact[1].replace(/''/g, "'") : prefix !== undefined && app.displayName.startsWith(prefix));
  if (query === 'length(@)') out(String(found.length));
  else if (query === '[0].appId') out(found[0] ? found[0].appId : '');
} else if (command === 'ad app create') out('0a0a0a0a-1111-4222-8333-444455556666');
else if (command === 'ad app show') {
  if (query === 'id') out('0b0b0b0b-1111-4222-8333-444455556666');
  else if (query.startsWith('length(')) out('0');
  else out('');
} else if (command === 'ad sp create') out('0c0c0c0c-1111-4222-8333-444455556666');
else if (args[0] === 'account' && args[1] === 'show') out('0d0d0d0d-1111-4222-8333-444455556666');
`;

export function createFakeAz(apps: readonly { appId: string; displayName: string }[]): FakeAz & { env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), 'ecr-fake-az-'));
  const log = join(dir, 'calls.jsonl');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'az'), PROGRAM);
  chmodSync(join(dir, 'az'), 0o755);
  return {
    path: dir,
    env: {
      ...process.env,
      PATH: `${dir}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      FAKE_AZ_LOG: log,
      FAKE_AZ_APPS: JSON.stringify(apps),
    },
    calls: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as string[]),
  };
}
