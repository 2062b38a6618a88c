import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createEventPublisher } from '../../../src/lib/serviceClients.js';
import { PreconditionError, RetriableError, ValidationError } from '../../../src/lib/errors.js';
import type { EventPublisher, RotatorEvent } from '../../../src/lib/eventgrid/eventPublisher.js';
import { EventGridEmulator } from '../../emulators/eventGrid.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../../support/identity.js';

const topicKey = randomBytes(32).toString('base64');
let identity: TestIdentity;
let topic: EventGridEmulator;
let eventsDir: string;
let publisher: EventPublisher;

const noCredential = () => {
  throw new Error('the topic key is configured: no token credential may be asked for');
};

function renewed(appId = randomUUID()): RotatorEvent {
  return {
    id: `renewal-${randomUUID()}-renewed`,
    type: 'EntraCertRotator.CertificateRenewed',
    source: `/entra-cert-rotator/apps/${appId}`,
    subject: appId,
    data: { appId, thumbprint: 'AB'.repeat(20), trigger: 'schedule' },
  };
}

async function post(body: unknown, headers: Record<string, string>) {
  return fetch(`${topic.topicEndpoint}?api-version=2018-01-01`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  });
}

const validEvent = () => ({
  specversion: '1.0',
  id: randomUUID(),
  source: '/entra-cert-rotator/apps/x',
  type: 'EntraCertRotator.CertificateRenewed',
  data: {},
});

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  eventsDir = mkdtempSync(join(tmpdir(), 'ecr-events-'));
  topic = new EventGridEmulator({
    tls,
    keys: [topicKey],
    verifyToken: (token, audiences) => identity.authority.verifyAccessToken(token, audiences),
    dataSenders: [identity.managedIdentity.principalId],
    eventsFile: join(eventsDir, 'events.jsonl'),
  });
  await topic.start();
  publisher = createEventPublisher({ topicEndpoint: topic.topicEndpoint, topicKey }, noCredential, { retryOptions: FAST_RETRIES });
});

afterAll(async () => {
  await topic?.close();
  await identity?.close();
  rmSync(eventsDir, { recursive: true, force: true });
});

beforeEach(() => {
  topic.server.clearFaults();
  topic.clearEvents();
});

describe('EventPublisher against the Event Grid emulator', () => {
  it('publishes a CloudEvents batch with the caller’s event ids, and the topic keeps them as JSON lines', async () => {
    const events = [renewed(), renewed()];
    await publisher.publish(events);
    expect(topic.events().map((e) => e.event)).toMatchObject(
      events.map((e) => ({
        specversion: '1.0',
        id: e.id,
        type: e.type,
        source: e.source,
        subject: e.subject,
        data: e.data,
        datacontenttype: 'application/json',
      })),
    );
    expect(topic.events().every((e) => e.publisher === 'aeg-sas-key')).toBe(true);
    const request = topic.server.requests('publish').at(-1)!;
    expect(request.headers['content-type']).toBe('application/cloudevents-batch+json; charset=utf-8');
    const lines = readFileSync(join(eventsDir, 'events.jsonl'), 'utf8').trim().split('\n');
    expect(lines.slice(-2).map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(events.map((e) => e.id));
  });

  it('publishes with the managed identity (DefaultAzureCredential, IDENTITY_ENDPOINT) when no key is set', async () => {
    await identity.withManagedIdentity(async (credential) => {
      const viaIdentity = createEventPublisher({ topicEndpoint: topic.topicEndpoint }, () => credential, { retryOptions: FAST_RETRIES });
      await viaIdentity.publish([renewed()]);
    });
    expect(topic.events().map((e) => e.publisher)).toEqual([identity.managedIdentity.principalId]);
  });

  it('names the EventGrid Data Sender role when the topic refuses the caller', async () => {
    const notASender = createEventPublisher({ topicEndpoint: topic.topicEndpoint }, () => identity.clientSecretCredential, {
      retryOptions: FAST_RETRIES,
    });
    const attempt = notASender.publish([renewed()]);
    await expect(attempt).rejects.toBeInstanceOf(PreconditionError);
    await expect(attempt).rejects.toThrow(/'EventGrid Data Sender' role/);
    const wrongKey = createEventPublisher({ topicEndpoint: topic.topicEndpoint, topicKey: 'bm90IHRoZSBrZXk=' }, noCredential, {
      retryOptions: FAST_RETRIES,
    });
    await expect(wrongKey.publish([renewed()])).rejects.toBeInstanceOf(PreconditionError);
    expect(topic.events()).toEqual([]);
  });

  it('refuses an event without source and a token for another audience, as Event Grid does', async () => {
    const { source: _source, ...withoutSource } = validEvent();
    const missing = await post([validEvent(), withoutSource], { 'aeg-sas-key': topicKey });
    expect(missing.status).toBe(400);
    const body = (await missing.json()) as { error: { code: string; message: string; details: { code: string }[] } };
    expect(body.error.code).toBe('BadRequest');
    expect(body.error.message).toMatch(/Required property 'source' was not found/);
    expect(body.error.details[0]!.code).toBe('InputJsonInvalid');

    const token = (await identity.wrongAudienceCredential().getToken('https://eventgrid.azure.net/.default'))!.token;
    expect((await post([validEvent()], { authorization: `Bearer ${token}` })).status).toBe(401);
    expect((await post([validEvent()], {})).status).toBe(401);
    // The same request with the key is accepted: the refusals are about the event and the token.
    expect((await post([validEvent()], { 'aeg-sas-key': topicKey })).status).toBe(200);
    expect(topic.events()).toHaveLength(1);
  });

  it('validates events before publishing', async () => {
    const before = topic.server.count('publish');
    await expect(publisher.publish([{ ...renewed(), source: 'no-slash' }])).rejects.toBeInstanceOf(ValidationError);
    await expect(publisher.publish([{ ...renewed(), data: { blob: 'x'.repeat(1024 * 1024) } }])).rejects.toThrow(/1 MB/);
    expect(topic.server.count('publish')).toBe(before);
  });

  describe('faults', () => {
    it('waits out a 429 with Retry-After and then publishes', async () => {
      const throttled = topic.server.inject('publish', { status: 429, retryAfterSeconds: 1, times: 1 });
      await publisher.publish([renewed()]);
      expect(throttled.served).toBe(1);
      expect(
        topic.server
          .requests('publish')
          .slice(-2)
          .map((r) => r.status),
      ).toEqual([429, 200]);
      expect(topic.events()).toHaveLength(1);
    });

    it('gets past N 5xx failures and a dropped connection', async () => {
      const failures = topic.server.inject('publish', { status: 500, times: 2 });
      await publisher.publish([renewed()]);
      expect(failures.served).toBe(2);
      const dropped = topic.server.inject('publish', { drop: true, times: 1 });
      await publisher.publish([renewed()]);
      expect(dropped.served).toBe(1);
      expect(topic.events()).toHaveLength(2);
    });

    it('turns a topic that does not answer in time into a RetriableError', async () => {
      const impatient = createEventPublisher({ topicEndpoint: topic.topicEndpoint, topicKey }, noCredential, {
        retryOptions: FAST_RETRIES,
        timeoutInMs: 300,
      });
      const slow = topic.server.inject('publish', { delayMs: 1500, times: 1 });
      await expect(impatient.publish([renewed()])).rejects.toBeInstanceOf(RetriableError);
      expect(slow.served).toBe(1);
    });

    it('gives up with a RetriableError carrying Retry-After when the topic keeps failing', async () => {
      const down = topic.server.inject('publish', { status: 503, retryAfterSeconds: 0 });
      const attempt = publisher.publish([renewed()]);
      await expect(attempt).rejects.toBeInstanceOf(RetriableError);
      await expect(attempt).rejects.toMatchObject({ retryAfterSeconds: 0 });
      expect(down.served).toBe(1 + FAST_RETRIES.maxRetries);
      expect(topic.events()).toEqual([]);
    });
  });
});
