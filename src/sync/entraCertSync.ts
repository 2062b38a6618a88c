import { createJsonLog } from './jsonLog.js';
import { runSyncCycle } from './syncCycle.js';
import { runSyncLoop } from './syncLoop.js';
import { EXIT, parseSyncOptions, SYNC_HELP, UsageError } from './syncOptions.js';
import { createVaultCertificateSource } from './vaultCertificateSource.js';

export interface SyncIo {
  /** The process environment: option defaults (AZURE_*), and what the `--exec` command inherits. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** The JSON log, one line a call; also --help. */
  readonly stdout: (text: string) => void;
  /** Usage errors and the `--exec` command's output. */
  readonly stderr: (text: string) => void;
  /** Aborted on SIGTERM or SIGINT. */
  readonly stop?: AbortSignal;
  readonly now?: () => Date;
}

/**
 * `entra-cert-sync` (docs/consumers.md), the composition root of the command: parses the command line,
 * then runs one cycle or a loop of them. Returns the exit status (EXIT; documented in SYNC_HELP).
 */
export async function entraCertSync(argv: readonly string[], io: SyncIo): Promise<number> {
  let parsed;
  try {
    parsed = parseSyncOptions(argv, io.env, io.cwd);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`entra-cert-sync: ${error.problems.join('\nentra-cert-sync: ')}\nRun entra-cert-sync --help for the options.\n`);
    return EXIT.usage;
  }
  if (parsed.kind === 'help') {
    io.stdout(SYNC_HELP);
    return EXIT.ok;
  }
  const { options } = parsed;
  const now = io.now ?? (() => new Date());
  const log = createJsonLog(io.stdout, now);
  const stop = io.stop ?? new AbortController().signal;
  const source = createVaultCertificateSource(options);
  log.write('info', 'started', 'entra-cert-sync started', {
    vaultUrl: options.vaultUrl,
    name: options.name,
    file: options.file,
    credential: options.credential,
    clientId: options.clientId,
    mode: options.intervalInMs === undefined ? 'once' : 'interval',
    intervalMs: options.intervalInMs,
  });
  const cycle = () => runSyncCycle(options, { source, log, now, env: io.env, forwardExecOutput: io.stderr, stop });
  return runSyncLoop(cycle, { intervalInMs: options.intervalInMs, stop, log });
}
