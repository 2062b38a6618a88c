import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Azurite (the `azurite` npm package) as a child process on free loopback ports, for the tests (in
 * memory) and the sandbox (a data folder). A child process rather than in-process: Azurite is
 * CommonJS with process-wide singletons (logger, telemetry, extent memory limit), and a separate
 * process keeps those out of the test workers and lets the sandbox stop it cleanly with a signal.
 *
 * Ports are chosen by the OS (port 0) unless given, and read back from Azurite's own "successfully listening at"
 * lines, so parallel runs never collide.
 */

/** The well-known development account every Azurite instance accepts (public, documented by Microsoft). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** A data folder to persist into (the sandbox); in memory when absent (tests). */
  readonly location?: string;
  /** Cap for in-memory extents, in MB (only without `location`); Azurite's default is half the RAM. */
  readonly extentMemoryLimitMb?: number;
  /** Fixed ports (the sandbox's, so tools can be pointed at it); free ones chosen by the OS when absent. */
  readonly ports?: { readonly blob?: number; readonly queue?: number; readonly table?: number };
  /** Keep Azurite's request log (a line per request, to `onOutput`); it is silenced otherwise. */
  readonly requestLog?: boolean;
  /** Lines of Azurite's output, for diagnosing a failed start. */
  readonly onOutput?: (line: string) => void;
}

export interface RunningAzurite {
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  readonly tableEndpoint: string;
  /** A full connection string with all three endpoints, as `AzureWebJobsStorage` takes it. */
  readonly connectionString: string;
  /** The child process's id (the sandbox records it so a test can check nothing outlives a stop). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

function azuriteEntryPoint(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
}

export function azuriteConnectionString(endpoints: { blobEndpoint: string; queueEndpoint: string; tableEndpoint: string }): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${AZURITE_ACCOUNT_NAME}`,
    `AccountKey=${AZURITE_ACCOUNT_KEY}`,
    `BlobEndpoint=${endpoints.blobEndpoint}`,
    `QueueEndpoint=${endpoints.queueEndpoint}`,
    `TableEndpoint=${endpoints.tableEndpoint}`,
  ].join(';');
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const args = [
    azuriteEntryPoint(),
    '--blobHost',
    '127.0.0.1',
    '--queueHost',
    '127.0.0.1',
    '--tableHost',
    '127.0.0.1',
    '--blobPort',
    String(options.ports?.blob ?? 0),
    '--queuePort',
    String(options.ports?.queue ?? 0),
    '--tablePort',
    String(options.ports?.table ?? 0),
    // The SDKs in package.json may be newer than the API versions this Azurite release knows.
    '--skipApiVersionCheck',
    '--disableTelemetry',
  ];
  if (options.requestLog !== true) args.push('--silent');
  if (options.location !== undefined) {
    args.push('--location', options.location);
  } else {
    args.push('--inMemoryPersistence', '--extentMemoryLimit', String(options.extentMemoryLimitMb ?? 256));
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const endpoints: Partial<Record<'Blob' | 'Queue' | 'Table', string>> = {};
  const output: string[] = [];

  try {
    await new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        // Kept for the error of a failed start only; a request log would grow it without end.
        if (output.length < 200) output.push(line);
        options.onOutput?.(line);
        const match = /Azurite (Blob|Queue|Table) service is successfully listening at (\S+)/.exec(line);
        if (match) endpoints[match[1] as 'Blob' | 'Queue' | 'Table'] = match[2]!;
        if (endpoints.Blob && endpoints.Queue && endpoints.Table) resolve();
      };
      let buffered = '';
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        lines.forEach(onLine);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Error(`Azurite exited before listening (code ${code}, signal ${signal}):\n${output.join('\n')}`)),
      );
    });
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  // Account-scoped URLs: the SDKs take the account from the path when the host is an IP address.
  const blobEndpoint = `${endpoints.Blob!}/${AZURITE_ACCOUNT_NAME}`;
  const queueEndpoint = `${endpoints.Queue!}/${AZURITE_ACCOUNT_NAME}`;
  const tableEndpoint = `${endpoints.Table!}/${AZURITE_ACCOUNT_NAME}`;
  return {
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    connectionString: azuriteConnectionString({ blobEndpoint, queueEndpoint, tableEndpoint }),
    pid: child.pid,
    stop: () => stopChild(child),
  };
}
