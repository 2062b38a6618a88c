import type { EventGridPublisherClient } from '@azure/eventgrid';
import { z } from 'zod';
import { toRotatorError, withDeadline } from '../azureErrors.js';
import { ValidationError } from '../errors.js';
import type { RotatorEvent } from '../domain/ports.js';

/**
 * The Event Grid adapter: publishes CloudEvents 1.0 to the topic. Each event carries an id the caller
 * chose (stable per renewal and event type), so a retried publish is recognisable downstream as a
 * duplicate, as docs/operations.md asks.
 */

export type { RotatorEvent } from '../domain/ports.js';

const eventSchema = z.object({
  id: z.string().min(1).max(256),
  type: z.string().regex(/^[A-Za-z0-9.]+$/, 'must be a dotted event type such as EntraCertRotator.CertificateRenewed'),
  source: z.string().min(1).startsWith('/', 'must be a URI reference such as /entra-cert-rotator/apps/{appId}'),
  subject: z.string().min(1).optional(),
  time: z.date().optional(),
  data: z.record(z.string(), z.unknown()),
});

/** Event Grid refuses a batch over 1 MB; stay clear of it. */
const MAX_BATCH_BYTES = 1024 * 1024 - 16 * 1024;

export class EventPublisher {
  readonly #client: EventGridPublisherClient<'CloudEvent'>;
  readonly #topic: string;
  readonly #options: { readonly timeoutInMs?: number };
  constructor(
    client: EventGridPublisherClient<'CloudEvent'>,
    /** For messages: the topic endpoint. */
    topic: string,
    /** Deadline of one publish, the SDK's retries included (default 30 s). */
    options: { readonly timeoutInMs?: number } = {},
  ) {
    this.#client = client;
    this.#topic = topic;
    this.#options = options;
  }

  async publish(events: readonly RotatorEvent[]): Promise<void> {
    if (events.length === 0) return;
    const issues = events.flatMap((event, index) => {
      const parsed = eventSchema.safeParse(event);
      return parsed.success ? [] : parsed.error.issues.map((i) => ({ path: [index, ...i.path].join('.'), message: i.message }));
    });
    if (issues.length > 0) throw new ValidationError(issues);
    const batch = events.map((event) => ({
      id: event.id,
      type: event.type,
      source: event.source,
      subject: event.subject,
      time: event.time ?? new Date(),
      datacontenttype: 'application/json',
      data: event.data,
    }));
    if (Buffer.byteLength(JSON.stringify(batch)) > MAX_BATCH_BYTES) {
      throw ValidationError.forField('events', 'the batch exceeds Event Grid’s 1 MB limit; publish fewer events at a time');
    }
    try {
      await withDeadline(this.#options.timeoutInMs ?? 30_000, (abortSignal) => this.#client.send(batch, { abortSignal }));
    } catch (error) {
      throw toRotatorError(error, {
        operation: `Publishing ${events.length} event(s) (${[...new Set(events.map((e) => e.type))].join(', ')}) to ${this.#topic}`,
        roleToGrant: 'EventGrid Data Sender',
        scope: `the Event Grid topic ${this.#topic}`,
        field: 'events',
      });
    }
  }
}
