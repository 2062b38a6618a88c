import { randomUUID } from 'node:crypto';
import functions from '@azure/functions';
import type { QueueClient, QueueServiceClient, DequeuedMessageItem } from '@azure/storage-queue';
import type { FunctionsLibrary, RegisteredFunction } from './functionsCore.js';
import type { QueueRules } from './hostSettings.js';

/**
 * Storage queue triggers with the Functions host's rules (host.json `extensions.queues`):
 * messages fetched in batches of `batchSize`; a message is hidden while its invocation runs; on
 * success it is deleted; on failure it becomes visible again after `visibilityTimeout`, and once it
 * has been dequeued `maxDequeueCount` times it moves to `{queue}-poison`. Messages are base64 (the
 * host's default `messageEncoding`), and a JSON body is handed to the function parsed, as Azure does.
 * The next batch is fetched when no more than `newBatchThreshold` messages are still running.
 * Polling backs off exponentially to `maxPollingInterval` while the queue is empty.
 */

/**
 * How long a message stays hidden while its function runs: the Functions host's 10 minutes, renewed
 * halfway to expiring for as long as the function runs (WebJobs QueueListener,
 * CreateUpdateMessageVisibilityTimer), so only a host that died leaves a message hidden, for at most
 * this long. LOCAL_HOST_PROCESSING_VISIBILITY_SECONDS shortens it (a soak that kills hosts).
 */
export const PROCESSING_VISIBILITY_SECONDS = 10 * 60;
const MIN_POLL_MS = 100;

export interface QueueTriggerHost {
  stop(): Promise<void>;
}

function decode(message: DequeuedMessageItem): unknown {
  const text = Buffer.from(message.messageText, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * One delivery of one message under the host's rules: invoke; on success delete; on failure either
 * make it visible again after `visibilityTimeout` or, at `maxDequeueCount`, move it to the poison
 * queue. Exported so that tests drive the renewal worker through exactly these rules.
 */
export async function deliverQueueMessage(options: {
  fn: Pick<RegisteredFunction, 'name' | 'handler'>;
  queue: QueueClient;
  poison: QueueClient;
  message: DequeuedMessageItem;
  rules: QueueRules;
  logHandler: (functionName: string, invocationId: string) => (level: string, ...args: unknown[]) => void;
  /** The app's @azure/functions (functionsCore.ts); default the host's own copy. */
  library?: FunctionsLibrary;
  /** The message was received hidden for this long: keep it hidden while the function runs. */
  processingVisibilitySeconds?: number;
}): Promise<'completed' | 'retry' | 'poisoned'> {
  const { fn, queue, poison, message, rules } = options;
  // Each visibility update gives a new pop receipt, which the delete or the update at the end needs.
  let popReceipt = message.popReceipt;
  let updating: Promise<unknown> = Promise.resolve();
  const hidden = options.processingVisibilitySeconds;
  const keepHidden =
    hidden === undefined
      ? undefined
      : setInterval(() => {
          updating = queue.updateMessage(message.messageId, popReceipt, undefined, hidden).then(
            (updated) => (popReceipt = updated.popReceipt ?? popReceipt),
            (error: unknown) => console.error(`[host] keeping a message of ${queue.name} hidden failed: ${(error as Error).message}`),
          );
        }, hidden * 500);
  const { InvocationContext } = options.library ?? functions; // default export: see httpTrigger.ts
  const invocationId = randomUUID();
  const context = new InvocationContext({
    invocationId,
    functionName: fn.name,
    logHandler: options.logHandler(fn.name, invocationId),
    triggerMetadata: {
      id: message.messageId,
      dequeueCount: message.dequeueCount,
      insertionTime: message.insertedOn.toISOString(),
      expirationTime: message.expiresOn.toISOString(),
      nextVisibleTime: message.nextVisibleOn.toISOString(),
      popReceipt: message.popReceipt,
      queueTrigger: Buffer.from(message.messageText, 'base64').toString('utf8'),
    },
  });
  try {
    try {
      await fn.handler(decode(message), context);
    } finally {
      clearInterval(keepHidden);
      await updating;
    }
  } catch (error) {
    context.error(
      `Queue function ${fn.name} failed (dequeue ${message.dequeueCount} of ${rules.maxDequeueCount}): ${(error as Error).message}`,
    );
    if (message.dequeueCount >= rules.maxDequeueCount) {
      await poison.createIfNotExists();
      await poison.sendMessage(message.messageText);
      await queue.deleteMessage(message.messageId, popReceipt);
      // The Functions host's own words (WebJobs QueueProcessor), which the poison-queue alert matches.
      context.warn(`Message has reached MaxDequeueCount of ${rules.maxDequeueCount}. Moving message to queue '${poison.name}'.`);
      return 'poisoned';
    }
    await queue.updateMessage(message.messageId, popReceipt, undefined, Math.round(rules.visibilityTimeoutMs / 1000));
    return 'retry';
  }
  await queue.deleteMessage(message.messageId, popReceipt);
  return 'completed';
}

export function startQueueTriggers(options: {
  functions: readonly RegisteredFunction[];
  queueService: QueueServiceClient;
  rules: QueueRules;
  resolveName: (expression: string) => string;
  logHandler: (functionName: string, invocationId: string) => (level: string, ...args: unknown[]) => void;
  library?: FunctionsLibrary;
  /** Default PROCESSING_VISIBILITY_SECONDS. */
  processingVisibilitySeconds?: number;
}): QueueTriggerHost {
  const processingVisibilitySeconds = options.processingVisibilitySeconds ?? PROCESSING_VISIBILITY_SECONDS;
  let stopped = false;
  const loops: Promise<void>[] = [];
  const wakeups = new Set<() => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakeups.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakeups.add(wake);
    });

  for (const fn of options.functions.filter((f) => f.trigger.type.toLowerCase() === 'queuetrigger')) {
    const name = options.resolveName(String(fn.trigger.queueName));
    const queue = options.queueService.getQueueClient(name);
    const poison = options.queueService.getQueueClient(`${name}-poison`);
    loops.push(
      (async () => {
        await queue.createIfNotExists();
        let delay = MIN_POLL_MS;
        const inFlight = new Set<Promise<unknown>>();
        while (!stopped) {
          // QueuesOptions: batches are fetched while no more than newBatchThreshold messages are in
          // flight, so at most batchSize + newBatchThreshold run at once and a slow message does not
          // hold back the next batch.
          if (inFlight.size > options.rules.newBatchThreshold) {
            await Promise.race(inFlight);
            continue;
          }
          let messages: DequeuedMessageItem[] = [];
          try {
            const response = await queue.receiveMessages({
              numberOfMessages: Math.min(32, options.rules.batchSize),
              visibilityTimeout: processingVisibilitySeconds,
            });
            messages = response.receivedMessageItems;
          } catch (error) {
            console.error(`[host] polling ${name} failed: ${(error as Error).message}`);
          }
          if (messages.length === 0) {
            await sleep(delay);
            delay = Math.min(delay * 2, options.rules.maxPollingIntervalMs);
            continue;
          }
          delay = MIN_POLL_MS;
          for (const message of messages) {
            const delivery = deliverQueueMessage({
              fn,
              queue,
              poison,
              message,
              rules: options.rules,
              logHandler: options.logHandler,
              library: options.library,
              processingVisibilitySeconds,
            })
              .catch((error: unknown) => console.error(`[host] delivering a message of ${name} failed: ${(error as Error).message}`))
              .finally(() => inFlight.delete(delivery));
            inFlight.add(delivery);
          }
        }
        await Promise.all(inFlight);
      })(),
    );
  }

  return {
    async stop() {
      stopped = true;
      for (const wake of [...wakeups]) wake();
      await Promise.all(loops);
    },
  };
}
