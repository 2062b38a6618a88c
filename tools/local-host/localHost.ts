import { createRequire } from 'node:module';
import { DefaultAzureCredential } from '@azure/identity';
import { QueueServiceClient } from '@azure/storage-queue';
import { installFunctionsCore, registeredFunctions, type CoreLogLevel, type FunctionsLibrary } from './functionsCore.js';
import { startHttpTriggers } from './httpTrigger.js';
import { applyLocalSettings, readHostJson, resolveAppSettingExpression } from './hostSettings.js';
import { startQueueTriggers } from './queueTrigger.js';
import { startTimerTriggers } from './timerTrigger.js';

/**
 * `npm run host`: the app's own registrations (src/index.ts) run on this machine without Azure
 * Functions Core Tools — HTTP on :7071 (or PORT) under host.json's route prefix, timers on their
 * NCRONTAB schedule, queue triggers polling storage with host.json's dequeue, visibility and poison
 * rules. It plays the part of the Functions runtime, so (unlike handlers) it reads the environment.
 */
export interface LocalHostOptions {
  /** Where host.json and local.settings.json live. */
  readonly root: string;
  readonly port: number;
  /** The functions' entry point, imported after the core API is in place. */
  readonly entryPoint: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly quiet?: boolean;
}

export interface LocalHost {
  readonly url: string;
  readonly functions: readonly string[];
  runTimerNow(name?: string): Promise<void>;
  stop(): Promise<void>;
}

/** A whole number of seconds from the environment, or undefined (unset or not one). */
function positiveSeconds(value: string | undefined): number | undefined {
  const seconds = Number(value ?? NaN);
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}

const LEVELS: Record<string, string> = { information: 'info', warning: 'warn', critical: 'error' };

function queueServiceFor(env: NodeJS.ProcessEnv): QueueServiceClient {
  const connection = env.AzureWebJobsStorage;
  if (connection) {
    if (/UseDevelopmentStorage=true/i.test(connection)) {
      return QueueServiceClient.fromConnectionString(
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;',
      );
    }
    return QueueServiceClient.fromConnectionString(connection);
  }
  const uri =
    env.AzureWebJobsStorage__queueServiceUri ??
    (env.AzureWebJobsStorage__accountName ? `https://${env.AzureWebJobsStorage__accountName}.queue.core.windows.net` : undefined);
  if (!uri) throw new Error('AzureWebJobsStorage (or AzureWebJobsStorage__queueServiceUri / __accountName) is required for queue triggers');
  return new QueueServiceClient(uri, new DefaultAzureCredential({ managedIdentityClientId: env.AzureWebJobsStorage__clientId }));
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const env = options.env ?? process.env;
  applyLocalSettings(options.root, env);
  const hostJson = readHostJson(options.root);
  const write = (level: string, text: string) => {
    if (options.quiet && level !== 'error') return;
    (level === 'error' ? console.error : console.log)(text);
  };
  installFunctionsCore({ log: (level: CoreLogLevel, category, message) => write(LEVELS[level] ?? level, `[host:${category}] ${message}`) });
  await import(options.entryPoint);
  // Resolved from the entry point, as the app itself resolves it: an app run from its deploy package
  // gets invocations from the package's copy and its dependencies, not from the host's.
  const library = createRequire(options.entryPoint)('@azure/functions') as FunctionsLibrary;
  const functions = registeredFunctions();
  const logHandler =
    (functionName: string, invocationId: string) =>
    (level: string, ...args: unknown[]) =>
      write(
        LEVELS[level] ?? level,
        `[${new Date().toISOString()}] ${functionName} (${invocationId.slice(0, 8)}) ${level}: ${args.map(String).join(' ')}`,
      );
  const resolve = (expression: string) => resolveAppSettingExpression(expression, env);

  const bodyLimit = Number(env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT ?? NaN);
  const http = await startHttpTriggers({
    functions,
    routePrefix: hostJson.routePrefix,
    port: options.port,
    logHandler,
    maxBodyBytes: Number.isSafeInteger(bodyLimit) && bodyLimit > 0 ? bodyLimit : undefined,
    library,
  });
  const timers = startTimerTriggers({ functions, resolveSchedule: resolve, timeZone: env.WEBSITE_TIME_ZONE, logHandler, library });
  const hasQueues = functions.some((f) => f.trigger.type.toLowerCase() === 'queuetrigger');
  const queues = hasQueues
    ? startQueueTriggers({
        functions,
        queueService: queueServiceFor(env),
        rules: hostJson.queues,
        resolveName: resolve,
        logHandler,
        library,
        processingVisibilitySeconds: positiveSeconds(env.LOCAL_HOST_PROCESSING_VISIBILITY_SECONDS),
      })
    : undefined;

  write('info', `Functions (${functions.length}):`);
  for (const fn of functions) {
    const trigger = fn.trigger;
    const what =
      trigger.type.toLowerCase() === 'httptrigger'
        ? `[${(trigger.methods as string[] | undefined)?.join(',') ?? 'GET,POST'}] ${http.url}/${typeof trigger.route === 'string' ? trigger.route : fn.name}`
        : trigger.type.toLowerCase() === 'timertrigger'
          ? `timer ${resolve(String(trigger.schedule))}`
          : `${trigger.type} ${typeof trigger.queueName === 'string' ? trigger.queueName : ''}`;
    write('info', `  ${fn.name}: ${what}`);
  }

  let stopping: Promise<void> | undefined;
  return {
    url: http.url,
    functions: functions.map((f) => f.name),
    runTimerNow: (name) => timers.runNow(name),
    stop() {
      stopping ??= (async () => {
        await timers.stop();
        await queues?.stop();
        await http.close();
      })();
      return stopping;
    },
  };
}
