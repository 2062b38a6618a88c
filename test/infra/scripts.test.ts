import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createFakeAz, FAKE_IDS, type FakeAz } from '../support/fakeAz.js';
import { readRepoFile, repoRoot } from './infraSources.js';

/**
 * The deployment scripts cannot be run against a tenant here; what is checked is that they parse,
 * pass shellcheck where it is installed, reject bad arguments before touching Azure, name the
 * documented permission and role ids, and that the hooks of azure.yaml do what azd relies on
 * (test/deploy/ proves the package).
 */

const scripts = readdirSync(join(repoRoot, 'scripts'))
  .filter((f) => f.endsWith('.sh'))
  .map((f) => `scripts/${f}`);
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8', env });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('shell scripts', () => {
  it('include the deployment scripts', () => {
    expect(scripts).toEqual(
      expect.arrayContaining(['scripts/grant-graph-permission.sh', 'scripts/register-api-app.sh', 'scripts/package-function.sh']),
    );
  });

  it.each(scripts)('%s parses (bash -n)', (script) => {
    const result = run('bash', ['-n', script]);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  // Skipped where shellcheck is not installed (Debian: apt-get install shellcheck), except in CI,
  // which installs it (.ci/run): there a missing shellcheck fails rather than passing unchecked.
  it.for(scripts)('%s passes shellcheck', (script, context) => {
    if (!hasShellcheck && process.env.CI !== 'true') context.skip('shellcheck is not installed (Debian: apt-get install shellcheck)');
    const result = run('shellcheck', ['-x', script]);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('grant-graph-permission.sh', () => {
  const script = 'scripts/grant-graph-permission.sh';
  const text = readRepoFile(script);

  it('grants the Graph app roles Microsoft documents for the two modes', () => {
    // Microsoft Graph permissions reference: application permission ids.
    expect(text).toContain("APPLICATION_READWRITE_OWNEDBY_ID='18a4783c-866b-4cc7-a460-3d5e5662c884'");
    expect(text).toContain("APPLICATION_READ_ALL_ID='9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30'");
    expect(text).toContain("POLICY_READ_ALL_ID='246dd0d5-5bd0-4def-940b-0421030a5b68'");
    expect(text).toContain("GRAPH_APP_ID='00000003-0000-0000-c000-000000000000'");
    // The ids are cross-checked against the tenant's Graph service principal before use.
    expect(text).toMatch(/refusing to guess/);
  });

  it.each([
    [['--mode', 'sideways'], /--mode must be owner, self or both/],
    [['--app', 'not-a-guid'], /--app takes an application \(client\) id/],
    [['--mode', 'self', '--app', '3f0e1c2d-1111-4222-8333-444455556666'], /self mode needs no ownership/],
    [['--frobnicate'], /unknown argument: --frobnicate/],
  ])('rejects %j before calling Azure', (args, message) => {
    const result = run('bash', [script, ...args]);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(message);
  });

  it('prints its help', () => {
    const result = run('bash', [script, '--help']);
    expect(result.status).toBe(0);
    expect(result.output).toMatch(/^Usage:/m);
    expect(result.output).toContain('Application.ReadWrite.OwnedBy');
  });
});

describe('register-api-app.sh', () => {
  const script = 'scripts/register-api-app.sh';
  const text = readRepoFile(script);

  it('defines the three API roles of docs/http-api.md and prints API_AUDIENCE as App ID URI and client id', () => {
    for (const role of ['CertRotator.Reader', 'CertRotator.Operator', 'CertRotator.Admin']) expect(text).toContain(role);
    for (const id of [...text.matchAll(/_ROLE_ID='([^']+)'/g)].map((m) => m[1]!)) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
    expect(text).toContain('audience="$identifier_uri,$app_id"');
  });

  it('finds the API app by its exact name: a prefix match ("… (test)") is not it, and a new app is created instead', () => {
    const unrelated = { appId: '99999999-1111-4222-8333-444455556666', displayName: 'Entra Cert Rotator API (test)' };
    const az = createFakeAz([unrelated]);
    const result = run('bash', [script, '--display-name', 'Entra Cert Rotator API'], az.env);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain("created  app registration 'Entra Cert Rotator API' (0a0a0a0a-1111-4222-8333-444455556666)");
    const calls = az.calls();
    expect(calls).toContainEqual(expect.arrayContaining(['ad', 'app', 'list', '--filter', "displayName eq 'Entra Cert Rotator API'"]));
    // Nothing was read or written on the unrelated app.
    expect(calls.flat().join(' ')).not.toContain(unrelated.appId);
    expect(calls.some((call) => call.includes('--display-name') && call[2] === 'list')).toBe(false);
  });

  it('adds the dashboard to the single-page-app platform with --spa-redirect-uri, and refuses an http address but localhost', () => {
    const az = createFakeAz([]);
    const uri = 'https://func-rotator.azurewebsites.net/api/ui/';
    const result = run('bash', [script, '--spa-redirect-uri', uri, '--spa-redirect-uri', 'http://localhost:7071/api/ui/'], az.env);
    expect(result.status, result.output).toBe(0);
    const bodies = az.calls().flatMap((call) => (call[0] === 'rest' ? [call[call.indexOf('--body') + 1]!] : []));
    expect(bodies.map((body) => JSON.parse(body) as { spa?: unknown })).toContainEqual({
      spa: { redirectUris: [uri, 'http://localhost:7071/api/ui/'] },
    });
    const refused = run('bash', [script, '--spa-redirect-uri', 'http://rotator.example/api/ui/'], createFakeAz([]).env);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain('--spa-redirect-uri must be an https URL');
  });

  it('finds an existing app of exactly that name, a quote in the name escaped for OData', () => {
    const existing = { appId: '12121212-1111-4222-8333-444455556666', displayName: "O'Brien's Rotator API" };
    const az = createFakeAz([existing, { appId: '34343434-1111-4222-8333-444455556666', displayName: "O'Brien's Rotator API (old)" }]);
    const result = run('bash', [script, '--display-name', existing.displayName], az.env);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain(`found    app registration '${existing.displayName}' (${existing.appId})`);
    expect(az.calls()).toContainEqual(expect.arrayContaining(['--filter', "displayName eq 'O''Brien''s Rotator API'"]));
  });

  it('rejects a role assignee that is not an object id before calling Azure', () => {
    const result = run('bash', [script, '--assign-admin', 'alice@example.com']);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/role assignees are object ids/);
  });
});

interface HookCommand {
  readonly shell: string;
  readonly run: string;
}
type Hooks = Record<string, { posix: HookCommand; windows: HookCommand }>;
const hooks = (parse(readRepoFile('azure.yaml')) as { hooks: Hooks }).hooks;

/** Runs a hook's posix command as azd does (its shell, from the project root) with the azd environment's values as variables. */
function runHook(name: string, az: FakeAz, azdEnvironment: Record<string, string>) {
  const { shell, run: command } = hooks[name]!.posix;
  const env = Object.fromEntries(Object.entries(az.env).filter(([key]) => !/^(API_|APP_PRINCIPAL_ID|GRAPH_PERMISSION_)/.test(key)));
  return run(shell, ['-c', command], { ...env, AZURE_ENV_NAME: 'prod', ...azdEnvironment });
}

describe('azure.yaml hooks', () => {
  const principal = '5e5e5e5e-1111-4222-8333-444455556666';
  const user = '7f7f7f7f-1111-4222-8333-444455556666';
  const ownedBy = '18a4783c-866b-4cc7-a460-3d5e5662c884';
  const readAll = '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30';
  const policyRead = '246dd0d5-5bd0-4def-940b-0421030a5b68';
  const posts = (az: FakeAz) => az.calls().filter((call) => call[0] === 'rest' && call.includes('POST'));

  it('run the two scripts before and after provisioning, on POSIX and (through bash) on Windows', () => {
    expect(Object.keys(hooks).sort()).toEqual(['postprovision', 'preprovision']);
    expect(hooks.preprovision!.posix).toEqual({ shell: 'sh', run: './scripts/register-api-app.sh --azd --assign-admin-self' });
    expect(hooks.preprovision!.windows).toEqual({ shell: 'pwsh', run: 'bash ./scripts/register-api-app.sh --azd --assign-admin-self' });
    expect(hooks.postprovision!.posix).toEqual({ shell: 'sh', run: './scripts/grant-graph-permission.sh --azd' });
    expect(hooks.postprovision!.windows).toEqual({ shell: 'pwsh', run: 'bash ./scripts/grant-graph-permission.sh --azd' });
  });

  it('preprovision on a new environment registers the API, makes the deployer its Admin and sets API_AUDIENCE for the parameters', () => {
    const az = createFakeAz([], { signedInUser: user });
    const result = runHook('preprovision', az, {});
    expect(result.status, result.output).toBe(0);
    const appId = FAKE_IDS.createdAppId;
    expect(result.output).toContain(`created  app registration 'Entra Cert Rotator API' (${appId})`);
    expect(result.output).toContain(`assigned CertRotator.Admin to ${user}`);
    const assignment = posts(az).find((call) => call.some((arg) => arg.endsWith('/appRoleAssignedTo')))!;
    expect(JSON.parse(assignment[assignment.indexOf('--body') + 1]!)).toEqual({
      principalId: user,
      resourceId: FAKE_IDS.servicePrincipalId,
      appRoleId: 'cc5714ad-5163-478b-97e7-74764261131e',
    });
    expect(az.azdCalls()).toEqual([
      ['env', 'set', 'API_AUDIENCE', `api://${appId},${appId}`],
      ['env', 'set', 'API_TENANT_ID', FAKE_IDS.tenantId],
    ]);
  });

  it('preprovision signed in as a service principal registers the API and assigns nobody', () => {
    const az = createFakeAz([]);
    const result = runHook('preprovision', az, {});
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/no signed-in user .*CertRotator\.Admin assigned to nobody/);
    expect(posts(az)).toEqual([]);
    expect(az.azdCalls().map((call) => call[2])).toEqual(['API_AUDIENCE', 'API_TENANT_ID']);
  });

  it('preprovision once API_AUDIENCE is set touches nothing: no second app, no lookup, no write', () => {
    const existing = { appId: '12121212-1111-4222-8333-444455556666', displayName: 'Entra Cert Rotator API' };
    const az = createFakeAz([existing], { signedInUser: user });
    const result = runHook('preprovision', az, { API_AUDIENCE: `api://${existing.appId},${existing.appId}` });
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('API_AUDIENCE is set in the azd environment');
    expect(az.calls()).toEqual([]);
    expect(az.azdCalls()).toEqual([]);
  });

  it('postprovision grants the deployed identity Application.ReadWrite.OwnedBy and Policy.Read.All on Graph when the deployer may', () => {
    const az = createFakeAz([]);
    const result = runHook('postprovision', az, { APP_PRINCIPAL_ID: principal });
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain(`granted  Application.ReadWrite.OwnedBy to ${principal}`);
    // The preflight's read of the tenant's app management policies (docs/renewal.md).
    expect(result.output).toContain(`granted  Policy.Read.All to ${principal}`);
    const grants = posts(az);
    expect(grants).toHaveLength(2);
    for (const grant of grants) {
      expect(grant[grant.indexOf('--url') + 1]).toBe(`https://graph.microsoft.com/v1.0/servicePrincipals/${principal}/appRoleAssignments`);
    }
    expect(grants.map((grant) => JSON.parse(grant[grant.indexOf('--body') + 1]!) as unknown)).toEqual([
      { principalId: principal, resourceId: FAKE_IDS.graphServicePrincipalId, appRoleId: ownedBy },
      { principalId: principal, resourceId: FAKE_IDS.graphServicePrincipalId, appRoleId: policyRead },
    ]);
  });

  it('postprovision is idempotent: a permission already granted is not granted again', () => {
    const az = createFakeAz([], { grantedRoles: [ownedBy, policyRead] });
    const result = runHook('postprovision', az, { APP_PRINCIPAL_ID: principal });
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain(`ok       Application.ReadWrite.OwnedBy already granted to ${principal}`);
    expect(result.output).toContain(`ok       Policy.Read.All already granted to ${principal}`);
    expect(posts(az)).toEqual([]);
  });

  it('postprovision follows GRAPH_PERMISSION_MODE and GRAPH_PERMISSION_APPS from the azd environment', () => {
    const apps = ['11111111-2222-4333-8444-555555555555', '66666666-7777-4888-9999-000000000000'];
    const az = createFakeAz([]);
    const result = runHook('postprovision', az, {
      APP_PRINCIPAL_ID: principal,
      GRAPH_PERMISSION_MODE: 'both',
      GRAPH_PERMISSION_APPS: apps.join(', '),
    });
    expect(result.status, result.output).toBe(0);
    const granted = posts(az).map((call) => call[call.indexOf('--url') + 1]!.replace('https://graph.microsoft.com/v1.0', ''));
    expect(granted).toEqual([
      `/servicePrincipals/${principal}/appRoleAssignments`,
      `/servicePrincipals/${principal}/appRoleAssignments`,
      `/servicePrincipals/${principal}/appRoleAssignments`,
      `/applications/${FAKE_IDS.appObjectId}/owners/$ref`,
      `/applications/${FAKE_IDS.appObjectId}/owners/$ref`,
    ]);
    expect(result.output).toContain(`granted  Application.Read.All to ${principal}`);
    for (const app of apps) expect(result.output).toContain(`added    ${principal} as owner of app ${app}`);
  });

  it('postprovision, when Graph refuses the deployer, prints the exact commands for an admin and lets azd go on', () => {
    const app = '11111111-2222-4333-8444-555555555555';
    const az = createFakeAz([], { refuseGrants: true });
    const result = runHook('postprovision', az, { APP_PRINCIPAL_ID: principal, GRAPH_PERMISSION_APPS: app });
    expect(result.status, result.output).toBe(0);
    expect(result.output).not.toMatch(/^granted|^added/m);
    expect(result.output).toContain('refused  granting Application.ReadWrite.OwnedBy: Graph answered 403');
    expect(result.output).toContain(`  scripts/grant-graph-permission.sh --principal-id ${principal} --mode owner --app ${app}\n`);
    const body = JSON.stringify({ principalId: principal, resourceId: FAKE_IDS.graphServicePrincipalId, appRoleId: ownedBy });
    expect(result.output).toContain(
      `  az rest --method POST --url 'https://graph.microsoft.com/v1.0/servicePrincipals/${principal}/appRoleAssignments' --headers 'Content-Type=application/json' --body '${body}'`,
    );
    expect(result.output).toContain(`  az ad app owner add --id ${app} --owner-object-id ${principal}\n`);
    expect(result.output).toMatch(/Privileged Role Administrator or Global Administrator/);
  });

  it('the same refusal outside azd fails, so a script or pipeline notices', () => {
    const az = createFakeAz([], { refuseGrants: true });
    const result = run('bash', ['scripts/grant-graph-permission.sh', '--principal-id', principal, '--mode', 'self'], az.env);
    expect(result.status).toBe(1);
    expect(result.output).toContain(`  scripts/grant-graph-permission.sh --principal-id ${principal} --mode self\n`);
    expect(result.output).toContain(`"appRoleId":"${readAll}"`);
    expect(result.output).toContain(`"appRoleId":"${policyRead}"`);
  });

  it('postprovision without the deployment outputs fails naming APP_PRINCIPAL_ID', () => {
    const az = createFakeAz([]);
    const result = runHook('postprovision', az, {});
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/APP_PRINCIPAL_ID is not in the azd environment/);
    expect(az.calls()).toEqual([]);
  });
});
