import { randomUUID } from 'node:crypto';
import { RestError, type QueueClient } from '@azure/storage-queue';
import { RetriableError } from '../errors.js';
import type { RenewalMessage, RenewalQueue } from '../domain/ports.js';
import { renewalMessageSchema } from '../domain/renewalMessage.js';

export { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from '../domain/renewalQueueName.js';

/** The queue a stage goes to: deploys on `renewal-requests`, confirms on `renewal-confirmations`. */
export interface RenewalQueueClients {
  readonly deploy: QueueClient;
  readonly confirm: QueueClient;
}

/**
 * The renewal queues over @azure/storage-queue, one per stage (renewalQueueName.ts says why). Messages
 * are base64 JSON, the encoding the Functions queue trigger expects by default (host.json
 * `messageEncoding`), and a visibility delay is how the confirm stage waits for Entra's propagation
 * without holding an invocation.
 */
export class StorageRenewalQueue implements RenewalQueue {
  readonly #queues: RenewalQueueClients;
  readonly #ready = new Map<QueueClient, Promise<unknown>>();

  constructor(queues: RenewalQueueClients) {
    this.#queues = queues;
  }

  async enqueue(message: RenewalMessage, options: { visibilityDelaySeconds?: number } = {}): Promise<void> {
    const parsed = renewalMessageSchema.parse(message);
    const body = Buffer.from(JSON.stringify(parsed), 'utf8').toString('base64');
    const queue = this.#queues[parsed.stage];
    try {
      await this.#created(queue);
      await queue.sendMessage(body, { visibilityTimeout: options.visibilityDelaySeconds });
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === undefined || error.statusCode === 429 || error.statusCode >= 500)) {
        throw new RetriableError(
          `Queueing the renewal of app ${message.appId} failed: storage is unavailable (${error.statusCode ?? error.code})`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  /** Creates the queue once per process; a failed attempt is tried again by the next message. */
  #created(queue: QueueClient): Promise<unknown> {
    let ready = this.#ready.get(queue);
    if (ready === undefined) {
      ready = queue.createIfNotExists().catch((error: unknown) => {
        this.#ready.delete(queue);
        throw error;
      });
      this.#ready.set(queue, ready);
    }
    return ready;
  }

  /** A new renewal of the app (its first certificate on create with bootstrap, or a drift repair). */
  async requestRenewal(appId: string, trigger: RenewalMessage['trigger'], reason?: string): Promise<string> {
    const renewalId = randomUUID();
    await this.enqueue({ appId, renewalId, stage: 'deploy', trigger, reason });
    return renewalId;
  }
}
