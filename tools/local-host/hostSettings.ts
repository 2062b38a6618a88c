import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The settings the local host works from, read the way the Functions host reads them: the process
 * environment, plus `local.settings.json`'s Values for whatever the environment does not set, and
 * host.json for the trigger rules.
 */

export interface QueueRules {
  readonly maxDequeueCount: number;
  readonly visibilityTimeoutMs: number;
  readonly batchSize: number;
  /** Another batch is fetched once no more than this many messages are in flight. */
  readonly newBatchThreshold: number;
  readonly maxPollingIntervalMs: number;
}

export interface HostJson {
  readonly routePrefix: string;
  readonly queues: QueueRules;
}

/** `hh:mm:ss` (host.json's TimeSpan) to milliseconds. */
export function timeSpanMs(value: unknown, fallbackMs: number): number {
  if (typeof value !== 'string') return fallbackMs;
  const parts = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value.trim());
  if (!parts) throw new Error(`host.json: "${value}" is not a TimeSpan (hh:mm:ss)`);
  const [, days = '0', hours, minutes, seconds, fraction = '0'] = parts;
  return (
    ((Number(days) * 24 + Number(hours)) * 3600 + Number(minutes) * 60 + Number(seconds)) * 1000 +
    Math.round(Number(`0.${fraction}`) * 1000)
  );
}

export function readHostJson(root: string): HostJson {
  const raw = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as {
    extensions?: { http?: { routePrefix?: string }; queues?: Record<string, unknown> };
  };
  const queues = raw.extensions?.queues ?? {};
  const batchSize = typeof queues.batchSize === 'number' ? queues.batchSize : 16;
  // Defaults are the Functions host's documented ones (host.json reference, "queues").
  return {
    routePrefix: (raw.extensions?.http?.routePrefix ?? 'api').replace(/^\/+|\/+$/g, ''),
    queues: {
      maxDequeueCount: typeof queues.maxDequeueCount === 'number' ? queues.maxDequeueCount : 5,
      visibilityTimeoutMs: timeSpanMs(queues.visibilityTimeout, 0),
      batchSize,
      newBatchThreshold: typeof queues.newBatchThreshold === 'number' ? queues.newBatchThreshold : Math.floor(batchSize / 2),
      maxPollingIntervalMs: timeSpanMs(queues.maxPollingInterval, 60_000),
    },
  };
}

/** Applies local.settings.json Values under the environment (the environment wins). */
export function applyLocalSettings(root: string, env: NodeJS.ProcessEnv): string[] {
  const file = join(root, 'local.settings.json');
  if (!existsSync(file)) return [];
  const values = (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> }).Values ?? {};
  const applied: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (env[key] === undefined && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) {
      env[key] = String(value);
      applied.push(key);
    }
  }
  return applied;
}

/** `%NAME%` in a binding (the Functions host's app-setting expressions) resolved from the environment. */
export function resolveAppSettingExpression(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const resolved = env[name];
    if (resolved === undefined || resolved === '') throw new Error(`The binding expression %${name}% names an app setting that is not set`);
    return resolved;
  });
}

/**
 * The nearest folder at or above `from` that holds host.json: the project root, whether the host runs
 * from tools/local-host/ (tsx) or compiled into dist-tools/tools/local-host/ (tsconfig.tools.json).
 */
export function findAppRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'host.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No host.json in any folder above ${from}: set FUNCTIONS_APP_ROOT`);
  }
}
