import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { certificateNameSchema } from '../lib/keyvault/certificateVaultClient.js';

/** The options of `entra-cert-sync`, validated once at start (docs/consumers.md). */
export interface SyncOptions {
  readonly vaultUrl: string;
  /** The Key Vault certificate's name; its secret `secrets/{name}` holds the certificate and key. */
  readonly name: string;
  /** Absolute path of the PEM file kept fresh. */
  readonly file: string;
  readonly credential: 'certificate' | 'default';
  /** Required for the certificate credential; optional (unused) for the default one. */
  readonly tenantId: string | undefined;
  readonly clientId: string | undefined;
  readonly authorityHost: string;
  /** Any other authority than the Azure clouds' (a private cloud, a loopback emulator) has no instance discovery. */
  readonly disableInstanceDiscovery: boolean;
  /** undefined: one cycle (`--once`, the default). */
  readonly intervalInMs: number | undefined;
  /** Deadline of one cycle, sign-in and Key Vault retries included. */
  readonly timeoutInMs: number;
  readonly exec: string | undefined;
}

export type ParsedCommandLine = { readonly kind: 'run'; readonly options: SyncOptions } | { readonly kind: 'help' };

/** A bad command line: the message names each offending option. Exit status 2. */
export class UsageError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'UsageError';
  }
}

export const EXIT = {
  /** The file is current: replaced by the vault's newer version, or already the latest. */
  ok: 0,
  /** Could not refresh this time (sign-in, Key Vault, network, file system, Entra not yet accepting the new certificate). */
  failed: 1,
  usage: 2,
  /** The vault's latest version is not fit to replace the file (key mismatch, not valid now, not later, unreadable). */
  rejected: 3,
  /** The file was replaced, but the `--exec` command failed. */
  execFailed: 4,
} as const;

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
const DEFAULT_TIMEOUT = '2m';

/** Authorities of the Azure clouds whose instance discovery works: the same list as src/lib/config.ts. */
const AZURE_CLOUD_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

const UNITS_IN_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `500ms`, `30s`, `15m`, `6h`, `1d` → milliseconds; undefined when it is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNITS_IN_MS[match[2] as keyof typeof UNITS_IN_MS];
}

const duration = (option: string, minMs: number, maxMs: number, range: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${option} must be a duration from ${range} such as 30s, 15m or 6h (got '${text}')` });
      return z.NEVER;
    }
    return ms;
  });

const httpsUrl = (option: string, example: string) =>
  z.string().refine(
    (value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'https:' && url.username === '' && url.password === '';
      } catch {
        return false;
      }
    },
    { error: `${option} must be an https URL such as ${example}` },
  );

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const rawSchema = z.object({
  'vault-url': httpsUrl('--vault-url', 'https://my-vault.vault.azure.net/'),
  name: certificateNameSchema,
  file: z.string().min(1, '--file must name the PEM file'),
  credential: z.enum(['certificate', 'default'], { error: "--credential must be 'certificate' or 'default'" }),
  'tenant-id': z
    .string()
    .regex(/^[0-9a-zA-Z.-]{1,256}$/, '--tenant-id must be the tenant id (a GUID) or its domain name')
    .optional(),
  'client-id': z.string().regex(GUID, "--client-id must be the app's application (client) id, a GUID").optional(),
  'authority-host': httpsUrl('--authority-host', DEFAULT_AUTHORITY_HOST),
  interval: duration('--interval', 1000, 7 * UNITS_IN_MS.d, '1s to 7d').optional(),
  timeout: duration('--timeout', 1000, UNITS_IN_MS.h, '1s to 1h'),
  exec: z.string().trim().min(1, '--exec must not be empty').optional(),
});

/** The environment variables the command reads, as defaults of options (the @azure/identity names). */
export interface SyncEnvironment {
  readonly AZURE_TENANT_ID?: string;
  readonly AZURE_CLIENT_ID?: string;
  readonly AZURE_AUTHORITY_HOST?: string;
  readonly AZURE_CLIENT_CERTIFICATE_PATH?: string;
}

const OPTION_NAMES = {
  'vault-url': 'vault-url',
  name: 'name',
  file: 'file',
  credential: 'credential',
  'tenant-id': 'tenant-id',
  'client-id': 'client-id',
  'authority-host': 'authority-host',
  interval: 'interval',
  timeout: 'timeout',
  exec: 'exec',
} as const;

/**
 * Parses argv (without node and the script). Options win over the environment; an unknown option,
 * a missing value or a bad one is a UsageError naming each.
 */
export function parseSyncOptions(argv: readonly string[], env: SyncEnvironment, cwd: string): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.keys(OPTION_NAMES).map((name) => [name, { type: 'string' as const }])),
        once: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError([error instanceof Error ? error.message : String(error)]);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return { kind: 'help' };
  const text = (name: keyof typeof OPTION_NAMES) => values[name] as string | undefined;

  const problems: string[] = [];
  const required = (name: keyof typeof OPTION_NAMES, value: string | undefined, hint = '') => {
    if (value === undefined) problems.push(`--${name} is required${hint}`);
    return value;
  };
  const input = {
    'vault-url': required('vault-url', text('vault-url')),
    name: required('name', text('name'), ' (the Key Vault certificate name, keyVault.certificateName)'),
    file: required('file', text('file') ?? nonEmpty(env.AZURE_CLIENT_CERTIFICATE_PATH), ' (or AZURE_CLIENT_CERTIFICATE_PATH)'),
    credential: text('credential') ?? 'certificate',
    'tenant-id': text('tenant-id') ?? nonEmpty(env.AZURE_TENANT_ID),
    'client-id': text('client-id') ?? nonEmpty(env.AZURE_CLIENT_ID),
    'authority-host': text('authority-host') ?? nonEmpty(env.AZURE_AUTHORITY_HOST) ?? DEFAULT_AUTHORITY_HOST,
    interval: text('interval'),
    timeout: text('timeout') ?? DEFAULT_TIMEOUT,
    exec: text('exec'),
  };
  if (values.once === true && input.interval !== undefined) problems.push('--once and --interval exclude each other: choose one');
  if (input.credential === 'certificate') {
    if (input['tenant-id'] === undefined) problems.push('--tenant-id (or AZURE_TENANT_ID) is required with --credential certificate');
    if (input['client-id'] === undefined) problems.push('--client-id (or AZURE_CLIENT_ID) is required with --credential certificate');
  }
  // Only the options present are validated: a missing one is already named above.
  const present = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  const checked = rawSchema.partial().safeParse(present);
  if (!checked.success) {
    for (const issue of checked.error.issues) {
      const option = `--${String(issue.path[0])}`;
      problems.push(issue.message.startsWith('--') ? issue.message : `${option} ${issue.message}`);
    }
  }
  if (problems.length > 0 || !checked.success) throw new UsageError(problems);
  const data = checked.data;
  const authorityHost = data['authority-host']!.replace(/\/+$/, '');
  return {
    kind: 'run',
    options: {
      vaultUrl: data['vault-url']!,
      name: data.name!,
      file: resolve(cwd, data.file!),
      credential: data.credential!,
      tenantId: data['tenant-id'],
      clientId: data['client-id'],
      authorityHost,
      disableInstanceDiscovery: !AZURE_CLOUD_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase()),
      intervalInMs: data.interval,
      timeoutInMs: data.timeout!,
      exec: data.exec,
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

export const SYNC_HELP = `Usage: entra-cert-sync --vault-url URL --name NAME --file PATH [options]

Keeps a PEM file (certificate + PKCS#8 private key, what AZURE_CLIENT_CERTIFICATE_PATH takes) fresh
from Key Vault. Each cycle signs in as the app with the PEM file itself, reads the latest version of
the secret secrets/NAME and replaces the file only when the new certificate matches its key, is valid
now, expires later than the current one and (with the certificate credential) Entra accepts it.
The file is replaced atomically (temporary file, fsync, rename), with mode 0600; the old one is kept
as PATH.previous.

Options:
  --vault-url URL         the vault, https://NAME.vault.azure.net/ (required)
  --name NAME             the Key Vault certificate name, keyVault.certificateName (required)
  --file PATH             the PEM file kept fresh (default: AZURE_CLIENT_CERTIFICATE_PATH)
  --credential KIND       certificate (default): sign in as the app with PATH, which must exist;
                          default: DefaultAzureCredential (the host's managed identity, ...);
                          PATH may be missing then, and is created
  --tenant-id ID          the app's tenant (default: AZURE_TENANT_ID); certificate credential
  --client-id ID          the app's client id (default: AZURE_CLIENT_ID); certificate credential
  --authority-host URL    default: AZURE_AUTHORITY_HOST, else ${DEFAULT_AUTHORITY_HOST}
  --once                  one cycle, then exit (the default)
  --interval DURATION     a cycle every DURATION (30s, 15m, 6h, 1d) until SIGTERM or SIGINT;
                          after a failed cycle the next one comes within 5 minutes
  --timeout DURATION      deadline of one cycle, retries included (default ${DEFAULT_TIMEOUT})
  --exec CMD              run CMD with /bin/sh after the file was replaced (reload the service);
                          it gets ENTRA_CERT_SYNC_FILE, ENTRA_CERT_SYNC_THUMBPRINT and
                          ENTRA_CERT_SYNC_NOT_AFTER
  -h, --help              this text

Output: one JSON object per line on stdout (time, level, event, msg and fields; events: started,
checked, replaced, unchanged, rejected, deferred, error, exec, stopped). Never a key or a PEM body.

Exit status (--once; with --interval, 0 after SIGTERM or SIGINT, 2 for a bad option):
  0  the file is current: replaced, or already the latest version
  1  could not refresh this time (sign-in, Key Vault, network, file system, or Entra does not
     accept the new certificate yet); the file is unchanged
  2  bad command line
  3  the vault's latest version was rejected (key does not match, not valid now, does not expire
     later than the file's, unreadable); the file is unchanged
  4  the file was replaced, but the --exec command failed
`;
