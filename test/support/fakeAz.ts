import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * An `az` and an `azd` for the deployment scripts' tests: small Node programs on PATH that record
 * every call and answer the commands those scripts use. The `az` models what matters to them:
 * `ad app list --display-name` matches a PREFIX (as the real CLI's startswith filter does),
 * `--filter "displayName eq '…'"` matches exactly; `ad signed-in-user show` fails when signed in as
 * a service principal; and `rest --method POST` answers a 403 as the real CLI prints it
 * (`Forbidden({"error":{"code":"Authorization_RequestDenied",…`) when the account may not grant.
 */
export interface FakeAzOptions {
  /** The object id `az ad signed-in-user show` returns; undefined: signed in as a service principal. */
  readonly signedInUser?: string;
  /** Graph answers 403 to every POST (granting app roles, adding owners). */
  readonly refuseGrants?: boolean;
  /** App role ids the principal already holds on Microsoft Graph. */
  readonly grantedRoles?: readonly string[];
  /** The tenant's ids for Graph's app roles, when they should differ from the documented ones. */
  readonly graphRoles?: Readonly<Record<string, string>>;
}

export interface FakeAz {
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  /** The arguments of each `az` call. */
  calls(): string[][];
  /** The arguments of each `azd` call. */
  azdCalls(): string[][];
}

export const FAKE_IDS = {
  createdAppId: '0a0a0a0a-1111-4222-8333-444455556666',
  appObjectId: '0b0b0b0b-1111-4222-8333-444455556666',
  servicePrincipalId: '0c0c0c0c-1111-4222-8333-444455556666',
  tenantId: '0d0d0d0d-1111-4222-8333-444455556666',
  graphServicePrincipalId: '0e0e0e0e-1111-4222-8333-444455556666',
} as const;

/** Microsoft Graph permissions reference: the application permissions' app role ids. */
const DOCUMENTED_GRAPH_ROLES = {
  'Application.ReadWrite.OwnedBy': '18a4783c-866b-4cc7-a460-3d5e5662c884',
  'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
  'Policy.Read.All': '246dd0d5-5bd0-4def-940b-0421030a5b68',
};

const AZ = String.raw`#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_AZ_LOG, JSON.stringify(args) + '\n');
const world = JSON.parse(process.env.FAKE_AZ_WORLD);
const ids = world.ids;
const option = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const query = option('--query') || '';
const command = args.slice(0, 3).join(' ');
const out = (value) => { process.stdout.write(value + '\n'); };
if (command === 'ad app list') {
  const filter = option('--filter');
  const prefix = option('--display-name');
  const exact = filter && /^displayName eq '(.*)'$/.exec(filter);
  const found = world.apps.filter((app) => exact ? app.displayName === exact[1].replace(/''/g, "'") : prefix !== undefined && app.displayName.startsWith(prefix));
  if (query === 'length(@)') out(String(found.length));
  else if (query === '[0].appId') out(found[0] ? found[0].appId : '');
} else if (command === 'ad app create') out(ids.createdAppId);
else if (command === 'ad app show') {
  if (query === 'id') out(ids.appObjectId);
  else if (query.startsWith('length(')) out('0');
  else out('');
} else if (command === 'ad sp list') out('');
else if (command === 'ad sp create') out(ids.servicePrincipalId);
else if (command === 'ad signed-in-user show') {
  if (!world.signedInUser) { process.stderr.write("ERROR: /me request is only valid with delegated authentication flow.\n"); process.exit(1); }
  out(world.signedInUser);
} else if (args[0] === 'account' && args[1] === 'show') out(ids.tenantId);
else if (args[0] === 'rest') {
  const method = option('--method');
  const url = option('--url');
  if (method === 'POST') {
    if (world.refuseGrants && /\/(appRoleAssignments|owners\/\$ref)$/.test(url)) {
      process.stderr.write('ERROR: Forbidden({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{}}})\n');
      process.exit(1);
    }
  } else if (method === 'GET') {
    if (/servicePrincipals\(appId='00000003-0000-0000-c000-000000000000'\)/.test(url)) out(ids.graphServicePrincipalId);
    else if (/\$select=appRoles$/.test(url)) {
      const name = /value=='([^']+)'/.exec(query);
      out(name ? world.graphRoles[name[1]] || '' : '');
    } else if (/\/appRoleAssignments$/.test(url)) {
      const role = /appRoleId=='([^']+)'/.exec(query);
      out(role && world.grantedRoles.includes(role[1]) ? 'existing-assignment' : '');
    } else if (/applications\(appId='([^']+)'\)/.test(url)) out(ids.appObjectId);
    else out('');
  }
}
`;

const AZD = String.raw`#!/usr/bin/env node
require('node:fs').appendFileSync(process.env.FAKE_AZD_LOG, JSON.stringify(process.argv.slice(2)) + '\n');
`;

function readCalls(log: string): string[][] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

export function createFakeAz(apps: readonly { appId: string; displayName: string }[], options: FakeAzOptions = {}): FakeAz {
  const dir = mkdtempSync(join(tmpdir(), 'ecr-fake-az-'));
  const log = join(dir, 'az.jsonl');
  const azdLog = join(dir, 'azd.jsonl');
  for (const [name, program, file] of [
    ['az', AZ, log],
    ['azd', AZD, azdLog],
  ] as const) {
    writeFileSync(file, '');
    writeFileSync(join(dir, name), program);
    chmodSync(join(dir, name), 0o755);
  }
  const world = {
    apps,
    ids: FAKE_IDS,
    signedInUser: options.signedInUser,
    refuseGrants: options.refuseGrants ?? false,
    grantedRoles: options.grantedRoles ?? [],
    graphRoles: { ...DOCUMENTED_GRAPH_ROLES, ...options.graphRoles },
  };
  return {
    path: dir,
    env: {
      ...process.env,
      PATH: `${dir}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      FAKE_AZ_LOG: log,
      FAKE_AZD_LOG: azdLog,
      FAKE_AZ_WORLD: JSON.stringify(world),
    },
    calls: () => readCalls(log),
    azdCalls: () => readCalls(azdLog),
  };
}
