import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { audiencesFor, bearerTokenOf, type BearerVerifier } from './bearerAuth.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, type EmulatorTlsOptions } from './emulatorServer.js';

/**
 * Loopback emulator of an Event Grid custom topic with the CloudEvents 1.0 input schema, as
 * @azure/eventgrid 5.12's EventGridPublisherClient publishes to it. It follows:
 * - Publish to a custom topic: https://learn.microsoft.com/azure/event-grid/post-to-custom-topic
 *   (POST {topic}/api/events?api-version=2018-01-01, `aeg-sas-key` header; 200 with an empty body;
 *   400 malformed, 401 bad key, 413 over the size limits; `{ error: { code, message, details } }`)
 * - CloudEvents input schema: https://learn.microsoft.com/azure/event-grid/cloud-event-schema and
 *   the CloudEvents 1.0 spec https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
 *   (batch as `application/cloudevents-batch+json; charset=utf-8`; specversion "1.0", id, source
 *   and type required; extension names of lower-case letters and digits)
 * - Microsoft Entra auth for publishers: https://learn.microsoft.com/azure/event-grid/authenticate-with-microsoft-entra-id
 *   (bearer token for https://eventgrid.azure.net, role "EventGrid Data Sender")
 * Events are kept in memory and, when `eventsFile` is set, appended to it as JSON lines.
 */

export const EVENT_GRID_RESOURCE = 'https://eventgrid.azure.net';
/** An event, and a whole batch, may hold at most 1 MB. */
const MAX_BYTES = 1024 * 1024;
const REQUIRED_API_VERSION = '2018-01-01';
const CONTEXT_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'datacontenttype',
  'dataschema',
  'subject',
  'time',
  'data',
  'data_base64',
]);

export interface EventGridEmulatorOptions {
  readonly tls: EmulatorTlsOptions;
  /** The topic's access keys (key1, key2); a request with either in `aeg-sas-key` is accepted. */
  readonly keys: readonly string[];
  /** Bearer tokens are refused when absent. */
  readonly verifyToken?: BearerVerifier;
  /**
   * RBAC for bearer tokens: only these principals (`oid`) hold "EventGrid Data Sender"; any valid
   * token when absent.
   */
  readonly dataSenders?: readonly string[];
  /** Append each accepted event to this file as one JSON line. */
  readonly eventsFile?: string;
}

export interface CloudEventRecord {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time?: string;
  readonly subject?: string;
  readonly datacontenttype?: string;
  readonly dataschema?: string;
  readonly data?: unknown;
  readonly data_base64?: string;
  readonly [extension: string]: unknown;
}

export interface PublishedEvent {
  readonly event: CloudEventRecord;
  readonly receivedAt: Date;
  /** `aeg-sas-key`, or the bearer token's `oid`. */
  readonly publisher: string;
}

function report(): string {
  return `Report '${randomUUID()}:${new Date().toUTCString()}' to our forums for assistance or raise a support ticket.`;
}

const failure = (status: number, code: string, message: string, detailCode = code): EmulatorResponse => ({
  status,
  body: { error: { code, message: `${message} ${report()}`, details: [{ code: detailCode, message: `${message} ${report()}` }] } },
});

export class EventGridEmulator {
  readonly server: EmulatorServer;
  readonly #published: PublishedEvent[] = [];

  readonly #options: EventGridEmulatorOptions;

  constructor(options: EventGridEmulatorOptions) {
    this.#options = options;
    this.server = new EmulatorServer('event-grid', options.tls);
    this.server.route('POST', '/api/events', 'publish', (r) => this.#publish(r));
  }

  start(port?: number): Promise<string> {
    return this.server.start(port);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** The topic endpoint an EventGridPublisherClient takes. */
  get topicEndpoint(): string {
    return `${this.server.url}/api/events`;
  }

  /** Events accepted so far, in order. */
  events(): readonly PublishedEvent[] {
    return [...this.#published];
  }

  clearEvents(): void {
    this.#published.length = 0;
  }

  async #authenticate(request: EmulatorRequest): Promise<{ publisher: string } | EmulatorResponse> {
    const key = request.headers['aeg-sas-key'];
    if (typeof key === 'string') {
      return this.#options.keys.includes(key)
        ? { publisher: 'aeg-sas-key' }
        : failure(
            401,
            'Unauthorized',
            `The request authorization key is not authorized for ${request.headers.host ?? 'this topic'}. This is due to the reason: The specified key is not valid.`,
          );
    }
    const token = bearerTokenOf(request.headers);
    if (token !== undefined && this.#options.verifyToken) {
      const claims = await this.#options.verifyToken(token, audiencesFor(EVENT_GRID_RESOURCE));
      if (!claims) return failure(401, 'Unauthorized', 'The provided access token is invalid, expired, or issued for another audience.');
      const oid = typeof claims.oid === 'string' ? claims.oid : '';
      if (this.#options.dataSenders && !this.#options.dataSenders.includes(oid)) {
        return failure(
          403,
          'Forbidden',
          `The principal '${oid}' does not have the required role 'EventGrid Data Sender' to publish to this topic.`,
        );
      }
      return { publisher: oid || 'bearer' };
    }
    return failure(
      401,
      'Unauthorized',
      'The request did not include an aeg-sas-key, aeg-sas-token or Authorization header. Provide one of them to publish to this topic.',
    );
  }

  async #publish(request: EmulatorRequest): Promise<EmulatorResponse> {
    const auth = await this.#authenticate(request);
    if (!('publisher' in auth)) return auth;
    const apiVersion = request.url.searchParams.get('api-version');
    if (apiVersion !== REQUIRED_API_VERSION) {
      return failure(
        400,
        'BadRequest',
        `The api-version '${apiVersion ?? ''}' is invalid. The supported versions are '${REQUIRED_API_VERSION}'.`,
      );
    }
    const contentType = (request.headers['content-type'] ?? '').toLowerCase();
    const batch = contentType.startsWith('application/cloudevents-batch+json');
    if (!batch && !contentType.startsWith('application/cloudevents+json')) {
      return failure(
        400,
        'BadRequest',
        `This resource is configured for 'CloudEventSchemaV1_0' schema and requires content type 'application/cloudevents-batch+json' or 'application/cloudevents+json'; got '${contentType}'.`,
      );
    }
    if (request.body.length > MAX_BYTES) return failure(413, 'PayloadTooLarge', 'The maximum size (1536000) has been exceeded.');
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString('utf8'));
    } catch {
      return failure(400, 'BadRequest', 'The request body is not valid JSON.', 'InputJsonInvalid');
    }
    const events = batch ? body : [body];
    if (!Array.isArray(events)) {
      return failure(
        400,
        'BadRequest',
        'Unexpected token when reading JSON. Expected: StartArray, actual: StartObject.',
        'InputJsonInvalid',
      );
    }
    if (events.length === 0) return failure(400, 'BadRequest', 'The request contains no events.', 'InputJsonInvalid');
    const checked: CloudEventRecord[] = [];
    for (const [index, event] of events.entries()) {
      const problem = cloudEventProblem(event);
      if (problem) return failure(400, 'BadRequest', `Event ${index}: ${problem}`, 'InputJsonInvalid');
      if (Buffer.byteLength(JSON.stringify(event)) > MAX_BYTES) return failure(413, 'PayloadTooLarge', `Event ${index} exceeds 1 MB.`);
      checked.push(event as CloudEventRecord);
    }
    const receivedAt = new Date();
    for (const event of checked) {
      this.#published.push({ event, receivedAt, publisher: auth.publisher });
      if (this.#options.eventsFile !== undefined) {
        mkdirSync(dirname(this.#options.eventsFile), { recursive: true });
        appendFileSync(this.#options.eventsFile, `${JSON.stringify(event)}\n`);
      }
    }
    return { status: 200 };
  }
}

/** Why an event breaks the CloudEvents 1.0 JSON format, or undefined when it does not. */
export function cloudEventProblem(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return 'an event must be a JSON object.';
  const e = event as Record<string, unknown>;
  for (const name of ['id', 'source', 'type'] as const) {
    if (e[name] === undefined) return `Required property '${name}' was not found.`;
    if (typeof e[name] !== 'string' || e[name] === '') return `Property '${name}' must be a non-empty string.`;
  }
  if (e.specversion === undefined) return "Required property 'specversion' was not found.";
  if (e.specversion !== '1.0') return `Property 'specversion' has an unsupported value ${JSON.stringify(e.specversion)}; expected '1.0'.`;
  if (
    e.time !== undefined &&
    (typeof e.time !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(e.time))
  ) {
    return "Property 'time' must be an RFC 3339 timestamp.";
  }
  for (const name of ['subject', 'datacontenttype', 'dataschema'] as const) {
    if (e[name] !== undefined && typeof e[name] !== 'string') return `Property '${name}' must be a string.`;
  }
  if (e.data !== undefined && e.data_base64 !== undefined) return "An event may carry 'data' or 'data_base64', not both.";
  for (const name of Object.keys(e)) {
    if (CONTEXT_ATTRIBUTES.has(name)) continue;
    if (!/^[a-z0-9]{1,20}$/.test(name)) return `Extension attribute '${name}' must be 1 to 20 lower-case letters or digits.`;
  }
  return undefined;
}
