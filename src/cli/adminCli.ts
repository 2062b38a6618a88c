import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { ApiClient, ApiError } from './apiClient.js';
import { EXIT, UsageError, type CliIo } from './cliIo.js';
import { APP_COMMANDS } from './appCommands.js';
import type { Command } from './command.js';
import { FLEET_COMMANDS } from './fleetCommands.js';
import { saveSession, sessionFile, sessionFromLogin, signedIn } from './cliSession.js';

/**
 * `entra-cert-rotator`: the admins' command line over the HTTP API (docs/http-api.md). Parses the
 * command line once (node:util parseArgs, strict), runs one command and answers its exit status
 * (cliIo.ts EXIT). Errors are one line on stderr saying what to do; the API's field errors are
 * listed under it.
 */

const OPTIONS = {
  json: { type: 'boolean' },
  'api-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  // login
  sandbox: { type: 'boolean' },
  'sandbox-dir': { type: 'string' },
  role: { type: 'string' },
  scope: { type: 'string' },
  'device-code': { type: 'boolean' },
  'tenant-id': { type: 'string' },
  'client-id': { type: 'string' },
  // commands
  'expiring-within-days': { type: 'string' },
  file: { type: 'string' },
  set: { type: 'string', multiple: true },
  yes: { type: 'boolean' },
  pfx: { type: 'string' },
  pem: { type: 'string' },
  'password-file': { type: 'string' },
  legacy: { type: 'boolean' },
  force: { type: 'boolean' },
  format: { type: 'string' },
  out: { type: 'string' },
  all: { type: 'boolean' },
  'app-id': { type: 'string', multiple: true },
  'issued-before': { type: 'string' },
  thumbprint: { type: 'string', multiple: true },
  'key-size-below': { type: 'string' },
  reason: { type: 'string' },
  'idempotency-key': { type: 'string' },
  wait: { type: 'boolean' },
  'wait-seconds': { type: 'string' },
  credential: { type: 'string' },
  managed: { type: 'string' },
  csv: { type: 'boolean' },
} as const;

const COMMANDS: readonly Command[] = [...APP_COMMANDS, ...FLEET_COMMANDS];
const GLOBAL = ['json', 'api-url', 'help'];
const LOGIN_OPTIONS = ['sandbox', 'sandbox-dir', 'role', 'api-url', 'scope', 'device-code', 'tenant-id', 'client-id'];

function usage(): string {
  const rows = COMMANDS.map((c) => `  ${[c.name, ...c.args.map((a) => `<${a}>`)].join(' ').padEnd(44)} ${c.summary}`);
  return [
    'entra-cert-rotator: manage Entra app certificates through the rotator API',
    '',
    'Usage: entra-cert-rotator <command> [arguments] [--json] [--api-url URL]',
    '',
    '  login --sandbox [--sandbox-dir DIR] [--role Reader|Operator|Admin]   the local sandbox (npm run sandbox)',
    '  login --api-url URL --scope api://{api-app-id}/.default             with your Azure CLI sign-in (az login)',
    '        [--device-code --tenant-id T --client-id C]                   or a device code in a browser',
    '  logout',
    ...rows,
    '',
    'Exit status: 0 done, 1 the service failed, 2 bad usage or input, 3 not signed in or no role, 4 not found, 5 conflict.',
    'Automation: ENTRA_CERT_ROTATOR_API_URL and ENTRA_CERT_ROTATOR_TOKEN instead of login.',
    '',
  ].join('\n');
}

function findCommand(positionals: readonly string[]): { command: Command; args: string[] } | undefined {
  for (const words of [2, 1]) {
    const command = COMMANDS.find((c) => c.name === positionals.slice(0, words).join(' '));
    if (command) return { command, args: positionals.slice(words) };
  }
  return undefined;
}

async function login(io: CliIo, values: Record<string, unknown>): Promise<number> {
  const session = sessionFromLogin(io, {
    sandbox: values.sandbox as boolean | undefined,
    sandboxDir: values['sandbox-dir'] as string | undefined,
    role: values.role as string | undefined,
    apiUrl: values['api-url'] as string | undefined,
    scope: values.scope as string | undefined,
    deviceCode: values['device-code'] as boolean | undefined,
    tenantId: values['tenant-id'] as string | undefined,
    clientId: values['client-id'] as string | undefined,
  });
  // Saved only once a call with it has worked, so a wrong URL or scope is found now, not later.
  const file = saveSession(io, session);
  try {
    const current = signedIn(io);
    const token = await current.token();
    await new ApiClient(current.apiUrl, () => Promise.resolve(token)).request('GET', '/apps', { query: { pageSize: 1 } });
    const claims = decodeJwt(token);
    const roles = Array.isArray(claims.roles) ? claims.roles.join(', ') : 'no app role';
    io.stdout(
      `signed in to ${current.apiUrl} as ${typeof claims.name === 'string' ? claims.name : ((claims.oid as string | undefined) ?? 'unknown')} (${roles}); session in ${file}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    rmSync(file, { force: true });
    throw error;
  }
}

export async function runAdminCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help || positionals.length === 0 || positionals[0] === 'help') {
      io.stdout(usage());
      return positionals.length === 0 && !values.help ? EXIT.usage : EXIT.ok;
    }
    const given = Object.keys(values);
    const allowedFor = (names: readonly string[]) => {
      const stray = given.filter((name) => !GLOBAL.includes(name) && !names.includes(name));
      if (stray.length > 0)
        throw new UsageError(`${stray.map((s) => `--${s}`).join(', ')} is not an option of ${positionals.slice(0, 2).join(' ')}`);
    };
    if (positionals[0] === 'login') {
      allowedFor(LOGIN_OPTIONS);
      return await login(io, values);
    }
    if (positionals[0] === 'logout') {
      rmSync(sessionFile(io), { force: true });
      io.stdout('signed out\n');
      return EXIT.ok;
    }
    const found = findCommand(positionals);
    if (!found) throw new UsageError(`unknown command "${positionals.join(' ')}": see entra-cert-rotator --help`);
    const { command, args } = found;
    allowedFor(command.options);
    if (args.length !== command.args.length) {
      throw new UsageError(`${command.name} takes ${command.args.map((a) => `<${a}>`).join(' ') || 'no arguments'}`);
    }
    let client: ApiClient | undefined;
    const api = () => {
      if (!client) {
        const session = signedIn(io, values['api-url']);
        client = new ApiClient(session.apiUrl, session.token);
      }
      return client;
    };
    return await command.run({ io, api, args, values, json: values.json ?? false });
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`entra-cert-rotator: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof ApiError) {
      io.stderr(`entra-cert-rotator: the API answered ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(`entra-cert-rotator: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.failed;
  }
}
