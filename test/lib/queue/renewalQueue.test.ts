import { randomBytes, randomUUID } from 'node:crypto';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { RenewalMessage } from '../../../src/lib/domain/ports.js';
import { RetriableError } from '../../../src/lib/errors.js';
import { StorageRenewalQueue } from '../../../src/lib/queue/renewalQueue.js';

/**
 * The queue adapter against Azurite: each stage goes to its own queue (a confirm never waits behind
 * deploys, see src/lib/domain/renewalQueueName.ts), created on first use, base64 JSON as the
 * Functions queue trigger reads it, and a visibility delay that really hides the message.
 */

let service: QueueServiceClient;
let deploy: QueueClient;
let confirm: QueueClient;

beforeAll(() => {
  service = QueueServiceClient.fromConnectionString(inject('storageConnectionString'));
  const suffix = randomBytes(5).toString('hex');
  deploy = service.getQueueClient(`rq-deploy-${suffix}`);
  confirm = service.getQueueClient(`rq-confirm-${suffix}`);
});
afterAll(async () => {
  await deploy.deleteIfExists();
  await confirm.deleteIfExists();
});

const message = (stage: RenewalMessage['stage']): RenewalMessage => ({
  appId: randomUUID(),
  renewalId: randomUUID(),
  stage,
  trigger: 'scheduled',
});
const decoded = (text: string) => JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as RenewalMessage;
const peek = async (queue: QueueClient) =>
  (await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) => decoded(m.messageText));

describe('StorageRenewalQueue', () => {
  it('sends a deploy to the deploy queue and a confirm to the confirm queue, creating each on first use', async () => {
    const queue = new StorageRenewalQueue({ deploy, confirm });
    const first = message('deploy');
    const second = { ...message('confirm'), rotationId: randomUUID(), reason: 'key compromise' };
    await queue.enqueue(first);
    await queue.enqueue(second);
    expect(await peek(deploy)).toEqual([first]);
    expect(await peek(confirm)).toEqual([second]);
  });

  it('hides a message for its visibility delay', async () => {
    const queue = new StorageRenewalQueue({ deploy, confirm });
    await confirm.clearMessages();
    await queue.enqueue(message('confirm'), { visibilityDelaySeconds: 60 });
    expect(await peek(confirm)).toEqual([]);
    expect((await confirm.getProperties()).approximateMessagesCount).toBe(1);
  });

  it('refuses a malformed message before sending anything', async () => {
    const queue = new StorageRenewalQueue({ deploy, confirm });
    await deploy.clearMessages();
    await expect(queue.enqueue({ ...message('deploy'), appId: 'not-a-guid' })).rejects.toThrow(/appId/);
    expect(await peek(deploy)).toEqual([]);
  });

  it('says storage is unavailable as a retriable error', async () => {
    const unreachable = new QueueServiceClient('http://127.0.0.1:9/devstoreaccount1', undefined, { retryOptions: { maxTries: 1 } });
    const failing = new StorageRenewalQueue({
      deploy: unreachable.getQueueClient('rq-down'),
      confirm: unreachable.getQueueClient('rq-down'),
    });
    const error = await failing.enqueue(message('deploy')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriableError);
    expect((error as Error).message).toMatch(/storage is unavailable/);
  });
});
