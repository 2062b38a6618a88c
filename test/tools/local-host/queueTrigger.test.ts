import { randomUUID } from 'node:crypto';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueRules } from '../../../tools/local-host/hostSettings.js';
import { startQueueTriggers } from '../../../tools/local-host/queueTrigger.js';
import { startAzurite, type RunningAzurite } from '../../emulators/azurite.js';

/**
 * The queue trigger's concurrency rules (QueuesOptions): batches of batchSize, and the next batch as
 * soon as no more than newBatchThreshold messages are in flight, so one slow message does not hold
 * back the rest.
 */
describe('queue trigger batches', () => {
  let azurite: RunningAzurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite.stop();
  });

  it('keeps fetching while a slow message runs, never more than batchSize + newBatchThreshold at once', async () => {
    const queueName = `batches-${randomUUID().slice(0, 8)}`;
    const service = QueueServiceClient.fromConnectionString(azurite.connectionString);
    const queue = service.getQueueClient(queueName);
    await queue.create();
    const send = (text: string) => queue.sendMessage(Buffer.from(JSON.stringify(text)).toString('base64'));
    await send('slow');
    for (let i = 0; i < 7; i++) await send(`fast-${i}`);

    let releaseSlow!: () => void;
    const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));
    let allFastDone!: () => void;
    const fastDone = new Promise<void>((resolve) => (allFastDone = resolve));
    const done: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const rules: QueueRules = { maxDequeueCount: 5, visibilityTimeoutMs: 0, batchSize: 2, newBatchThreshold: 1, maxPollingIntervalMs: 200 };
    const host = startQueueTriggers({
      functions: [
        {
          name: 'worker',
          trigger: { type: 'queueTrigger', direction: 'in', name: 'message', queueName },
          bindings: {},
          handler: async (message: unknown) => {
            running += 1;
            maxRunning = Math.max(maxRunning, running);
            if (message === 'slow') await slowReleased;
            else await new Promise((resolve) => setTimeout(resolve, 20));
            running -= 1;
            done.push(String(message));
            if (done.filter((m) => m.startsWith('fast-')).length === 7) allFastDone();
          },
        },
      ],
      queueService: service,
      rules,
      resolveName: (name) => name,
      logHandler: () => () => {},
    });
    try {
      // Every fast message completes while the slow one is still running (a host that waits for its
      // whole batch would stop at the slow message's batch).
      await fastDone;
      expect(done).not.toContain('slow');
      releaseSlow();
      await expect.poll(() => done.includes('slow')).toBe(true);
      expect(maxRunning).toBeGreaterThan(1);
      expect(maxRunning).toBeLessThanOrEqual(rules.batchSize + rules.newBatchThreshold);
      await expect.poll(async () => (await queue.getProperties()).approximateMessagesCount).toBe(0);
    } finally {
      releaseSlow();
      await host.stop();
    }
  });

  it('keeps a running message hidden past its processing visibility, so no other host takes it, and deletes it with the last pop receipt', async () => {
    const queueName = `hidden-${randomUUID().slice(0, 8)}`;
    const service = QueueServiceClient.fromConnectionString(azurite.connectionString);
    const queue = service.getQueueClient(queueName);
    await queue.create();
    await queue.sendMessage(Buffer.from(JSON.stringify('long')).toString('base64'));
    const rules: QueueRules = { maxDequeueCount: 5, visibilityTimeoutMs: 0, batchSize: 1, newBatchThreshold: 0, maxPollingIntervalMs: 200 };
    const invocations: string[] = [];
    // Two hosts on one queue, each receiving with a 2 s visibility; the function runs 5 s.
    const hosts = ['a', 'b'].map((hostName) =>
      startQueueTriggers({
        functions: [
          {
            name: 'worker',
            trigger: { type: 'queueTrigger', direction: 'in', name: 'message', queueName },
            bindings: {},
            handler: async () => {
              invocations.push(hostName);
              await new Promise((resolve) => setTimeout(resolve, 5000));
            },
          },
        ],
        queueService: service,
        rules,
        resolveName: (name) => name,
        logHandler: () => () => {},
        processingVisibilitySeconds: 2,
      }),
    );
    try {
      await expect.poll(() => invocations.length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 5500));
      expect(invocations).toHaveLength(1);
      expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
  });
});
