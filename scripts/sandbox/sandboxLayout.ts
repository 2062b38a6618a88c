import { isAbsolute, join, resolve } from 'node:path';

/**
 * Where the sandbox listens and keeps its files. Every port is fixed by default (so a bookmark, a
 * Storage Explorer connection or a script keeps working from one run to the next) and overridable
 * from the environment, which is also how the end-to-end test runs a second sandbox beside a
 * developer's.
 */
export interface SandboxLayout {
  /** The data folder (default `.sandbox` in the project); `SANDBOX_DIR`. */
  readonly dir: string;
  readonly ports: {
    /** The local host's HTTP port; `PORT`, as for `npm run host`. */
    readonly host: number;
    readonly authority: number;
    readonly graph: number;
    readonly keyVault: number;
    readonly email: number;
    readonly eventGrid: number;
    readonly resourceManager: number;
    readonly blob: number;
    readonly queue: number;
    readonly table: number;
  };
  /** NCRONTAB of the renewal timer; `SANDBOX_RENEWAL_SCHEDULE`, default every minute. */
  readonly renewalSchedule: string;
  /** How long after the first start the demo app's renewal falls due; `SANDBOX_DEMO_DUE_IN_SECONDS`. */
  readonly demoDueInSeconds: number;
  /**
   * A deploy package (scripts/package-function.sh) for the host to run instead of src/: its host.json,
   * its package.json's main and its node_modules; `SANDBOX_APP`. Unset: the sources, as in development.
   */
  readonly app: string | undefined;
  readonly paths: {
    readonly azurite: string;
    readonly state: string;
    readonly tls: string;
    readonly outbox: string;
    readonly events: string;
    readonly tokens: string;
    readonly hostRoot: string;
    readonly sandboxJson: string;
  };
}

/** The environment variables that move a port, with their defaults (README "Quick start (sandbox)"). */
export const PORT_SETTINGS = {
  host: ['PORT', 7071],
  authority: ['SANDBOX_AUTHORITY_PORT', 7081],
  graph: ['SANDBOX_GRAPH_PORT', 7082],
  keyVault: ['SANDBOX_KEYVAULT_PORT', 7083],
  email: ['SANDBOX_EMAIL_PORT', 7084],
  eventGrid: ['SANDBOX_EVENTGRID_PORT', 7085],
  resourceManager: ['SANDBOX_ARM_PORT', 7086],
  blob: ['SANDBOX_BLOB_PORT', 10000],
  queue: ['SANDBOX_QUEUE_PORT', 10001],
  table: ['SANDBOX_TABLE_PORT', 10002],
} as const;

export const DEFAULT_SANDBOX_SCHEDULE = '0 */1 * * * *';
export const DEFAULT_DEMO_DUE_IN_SECONDS = 120;

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65_535) throw new Error(`${name} must be a port number (1-65535), got "${raw}"`);
  return value;
}

export function sandboxLayout(env: NodeJS.ProcessEnv, projectRoot: string): SandboxLayout {
  const configured = env.SANDBOX_DIR?.trim() || '.sandbox';
  const dir = isAbsolute(configured) ? configured : resolve(projectRoot, configured);
  const ports = Object.fromEntries(
    Object.entries(PORT_SETTINGS).map(([key, [name, fallback]]) => [key, port(env, name, fallback)]),
  ) as unknown as SandboxLayout['ports'];
  const due = env.SANDBOX_DEMO_DUE_IN_SECONDS?.trim();
  const demoDueInSeconds = due ? Number(due) : DEFAULT_DEMO_DUE_IN_SECONDS;
  if (!Number.isInteger(demoDueInSeconds) || demoDueInSeconds < 0) {
    throw new Error(`SANDBOX_DEMO_DUE_IN_SECONDS must be a whole number of seconds, got "${due}"`);
  }
  const app = env.SANDBOX_APP?.trim();
  return {
    dir,
    ports,
    app: app ? resolve(projectRoot, app) : undefined,
    renewalSchedule: env.SANDBOX_RENEWAL_SCHEDULE?.trim() || DEFAULT_SANDBOX_SCHEDULE,
    demoDueInSeconds,
    paths: {
      azurite: join(dir, 'azurite'),
      state: join(dir, 'state'),
      tls: join(dir, 'tls'),
      outbox: join(dir, 'outbox'),
      events: join(dir, 'events.jsonl'),
      tokens: join(dir, 'tokens'),
      hostRoot: join(dir, 'host'),
      sandboxJson: join(dir, 'sandbox.json'),
    },
  };
}
