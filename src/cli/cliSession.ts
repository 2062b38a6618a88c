import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { tokenFromIdentity } from './cliCredential.js';
import { UsageError, type CliIo } from './cliIo.js';

/**
 * Where `entra-cert-rotator` signs in: saved by `login` in a file of the user's own (mode 0600),
 * or given by the environment (ENTRA_CERT_ROTATOR_API_URL and ENTRA_CERT_ROTATOR_TOKEN, for
 * automation). A sandbox session reads the sandbox's token afresh from its sandbox.json on each
 * call, so a restarted sandbox needs no new login.
 */

const ROLES = ['Reader', 'Operator', 'Admin'] as const;

const sessionSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('sandbox'), apiUrl: z.url(), sandboxDir: z.string(), role: z.enum(ROLES) }),
  z.object({ method: z.literal('azure-cli'), apiUrl: z.url(), scope: z.string(), tenantId: z.string().optional() }),
  z.object({
    method: z.literal('device-code'),
    apiUrl: z.url(),
    scope: z.string(),
    tenantId: z.string(),
    clientId: z.string(),
    /** The last token, reused until a minute before it expires (the device flow asks a person each time). */
    cached: z.object({ token: z.string(), expiresOnTimestamp: z.number() }).optional(),
  }),
]);

export type Session = z.output<typeof sessionSchema>;

export interface SignedIn {
  readonly apiUrl: string;
  readonly token: () => Promise<string>;
}

export function sessionFile(io: CliIo): string {
  if (io.env.ENTRA_CERT_ROTATOR_CONFIG) return resolve(io.cwd, io.env.ENTRA_CERT_ROTATOR_CONFIG);
  const base = io.env.XDG_CONFIG_HOME ?? join(io.env.HOME ?? io.cwd, '.config');
  return join(base, 'entra-cert-rotator', 'session.json');
}

export function saveSession(io: CliIo, session: Session): string {
  const file = sessionFile(io);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written whole and renamed, at 0600 from the start: it may hold a token.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  return file;
}

function readSession(io: CliIo): Session | undefined {
  let text: string;
  try {
    text = readFileSync(sessionFile(io), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = sessionSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new UsageError(`${sessionFile(io)} is not a session of this CLI; run entra-cert-rotator login again`);
  return parsed.data;
}

/** The sandbox's API URL and tokens, from the sandbox.json `npm run sandbox` writes. */
export function readSandbox(sandboxDir: string): { apiBaseUrl: string; tokens: Record<(typeof ROLES)[number], string> } {
  try {
    return JSON.parse(readFileSync(join(sandboxDir, 'sandbox.json'), 'utf8')) as {
      apiBaseUrl: string;
      tokens: Record<(typeof ROLES)[number], string>;
    };
  } catch {
    throw new UsageError(
      `no sandbox at ${sandboxDir} (sandbox.json is missing): start one with npm run sandbox, or name its folder with --sandbox-dir`,
    );
  }
}

/** The session to call the API with: the environment's, else the saved one. */
export function signedIn(io: CliIo, overrideApiUrl?: string): SignedIn {
  const envToken = io.env.ENTRA_CERT_ROTATOR_TOKEN;
  const envUrl = overrideApiUrl ?? io.env.ENTRA_CERT_ROTATOR_API_URL;
  if (envToken) {
    if (!envUrl) throw new UsageError('ENTRA_CERT_ROTATOR_TOKEN is set: set ENTRA_CERT_ROTATOR_API_URL (or --api-url) too');
    return { apiUrl: envUrl, token: () => Promise.resolve(envToken) };
  }
  const session = readSession(io);
  if (!session) throw new UsageError('not signed in: run entra-cert-rotator login (--sandbox, or --api-url and --scope)');
  const apiUrl = envUrl ?? session.apiUrl;
  if (session.method === 'sandbox') return { apiUrl, token: () => Promise.resolve(readSandbox(session.sandboxDir).tokens[session.role]) };
  if (session.method === 'azure-cli') {
    return { apiUrl, token: async () => (await tokenFromIdentity(session, io.stderr)).token };
  }
  return {
    apiUrl,
    token: async () => {
      if (session.cached && session.cached.expiresOnTimestamp - 60_000 > Date.now()) return session.cached.token;
      const fresh = await tokenFromIdentity(session, io.stderr);
      saveSession(io, { ...session, cached: fresh });
      return fresh.token;
    },
  };
}

export interface LoginOptions {
  readonly sandbox?: boolean;
  readonly sandboxDir?: string;
  readonly role?: string;
  readonly apiUrl?: string;
  readonly scope?: string;
  readonly deviceCode?: boolean;
  readonly tenantId?: string;
  readonly clientId?: string;
}

/** The session `login` saves, from its options (a usage error names what is missing). */
export function sessionFromLogin(io: CliIo, options: LoginOptions): Session {
  if (options.sandbox) {
    const role = options.role ?? 'Admin';
    if (!ROLES.includes(role as (typeof ROLES)[number])) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    const dir = options.sandboxDir ?? io.env.SANDBOX_DIR ?? '.sandbox';
    const sandboxDir = isAbsolute(dir) ? dir : resolve(io.cwd, dir);
    return { method: 'sandbox', apiUrl: readSandbox(sandboxDir).apiBaseUrl, sandboxDir, role: role as (typeof ROLES)[number] };
  }
  const missing = [!options.apiUrl && '--api-url', !options.scope && '--scope'].filter(Boolean);
  if (options.deviceCode)
    missing.push(...[!options.tenantId && '--tenant-id', !options.clientId && '--client-id'].filter((m): m is string => Boolean(m)));
  if (missing.length > 0) throw new UsageError(`login needs ${missing.join(', ')} (or --sandbox)`);
  if (!URL.canParse(options.apiUrl!)) throw new UsageError(`--api-url must be a URL such as https://my-rotator.azurewebsites.net/api`);
  return options.deviceCode
    ? { method: 'device-code', apiUrl: options.apiUrl!, scope: options.scope!, tenantId: options.tenantId!, clientId: options.clientId! }
    : { method: 'azure-cli', apiUrl: options.apiUrl!, scope: options.scope!, tenantId: options.tenantId };
}
