import { randomUUID } from 'node:crypto';
import { RestError, type QueueClient } from '@azure/storage-queue';
import { RetriableError } from '../errors.js';
import type { RenewalMessage, RenewalQueue } from '../domain/ports.js';
import { renewalMessageSchema } from '../domain/renewalMessage.js';

export { RENEWAL_QUEUE_NAME } from '../domain/renewalQueueName.js';

/**
 * The renewal queue over @azure/storage-queue. Messages are base64 JSON, the encoding the Functions
 * queue trigger expects by default (host.json `messageEncoding`), and a visibility delay is how the
 * confirm stage waits for Entra's propagation without holding an invocation.
 */
export class StorageRenewalQueue implements RenewalQueue {
  readonly #queue: QueueClient;
  #ready: Promise<unknown> | undefined;

  constructor(queue: QueueClient) {
    this.#queue = queue;
  }

  async enqueue(message: RenewalMessage, options: { visibilityDelaySeconds?: number } = {}): Promise<void> {
    const body = Buffer.from(JSON.stringify(renewalMessageSchema.parse(message)), 'utf8').toString('base64');
    try {
      this.#ready ??= this.#queue.createIfNotExists().catch((error: unknown) => {
        this.#ready = undefined;
        throw error;
      });
      await this.#ready;
      await this.#queue.sendMessage(body, { visibilityTimeout: options.visibilityDelaySeconds });
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

  /** A new renewal of the app (its first certificate on create with bootstrap, or a drift repair). */
  async requestRenewal(appId: string, trigger: RenewalMessage['trigger'], reason?: string): Promise<string> {
    const renewalId = randomUUID();
    await this.enqueue({ appId, renewalId, stage: 'deploy', trigger, reason });
    return renewalId;
  }
}
