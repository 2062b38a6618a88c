import { isRestError } from './azureErrors.js';
import { APPS_TABLE_NAME, createRenewalQueueClient, createTableClient, getSettings } from './composition.js';
import type { Settings } from './config.js';
import { ConfigurationError } from './errors.js';
import { ReadinessFailure, type ReadinessProbe } from './http/readiness.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from './queue/renewalQueue.js';

/**
 * What the host needs before it can do any work: valid settings, the config table's storage and the
 * renewal queues'. A storage that answers at all (even 404: no such row, queue or table yet) is up;
 * only a refusal (401/403) or no answer is down. Each reason names the setting or status, never a value.
 */
export function getReadinessProbes(): ReadinessProbe[] {
  const settings = (): Settings => {
    try {
      return getSettings();
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      throw new ReadinessFailure(`invalid or missing: ${[...new Set(error.issues.map((issue) => issue.path))].join(', ')}`);
    }
  };
  const reachable = async (setting: string, call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (error) {
      if (error instanceof ReadinessFailure) throw new ReadinessFailure(`needs valid settings first (${error.message})`);
      if (isRestError(error) && error.statusCode === 404) return;
      const why =
        isRestError(error) && error.statusCode !== undefined ? `HTTP ${error.statusCode}` : error instanceof Error ? error.name : 'error';
      throw new ReadinessFailure(`${setting} unreachable (${why})`);
    }
  };
  return [
    {
      name: 'settings',
      check: () =>
        new Promise<void>((resolve) => {
          settings();
          resolve();
        }),
    },
    {
      name: 'config-storage',
      check: (signal) =>
        reachable('CONFIG_STORAGE', () =>
          createTableClient(settings().configStorage, APPS_TABLE_NAME).getEntity('readiness', 'readiness', { abortSignal: signal }),
        ),
    },
    {
      name: 'queue-storage',
      check: (signal) =>
        // Both stages' queues: each has its own role assignment, and a deploy without `azd provision`
        // (docs/deployment.md) would leave the confirm queue refused while the other answers.
        reachable('AzureWebJobsStorage', () =>
          Promise.all(
            [RENEWAL_QUEUE_NAME, RENEWAL_CONFIRM_QUEUE_NAME].map((name) =>
              createRenewalQueueClient(settings().webJobsStorage, name).getProperties({ abortSignal: signal }),
            ),
          ),
        ),
    },
  ];
}
