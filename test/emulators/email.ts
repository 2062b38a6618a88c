import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { audiencesFor, bearerTokenOf, type BearerVerifier } from './bearerAuth.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, type EmulatorTlsOptions } from './emulatorServer.js';

/**
 * Loopback emulator of Azure Communication Services Email, as @azure/communication-email 1.1 calls it.
 * It follows:
 * - Email REST API 2025-09-01 (the spec's Send and Get Send Result, with their examples):
 *   https://learn.microsoft.com/rest/api/communication/dataplane/email/send and
 *   https://github.com/Azure/azure-rest-api-specs/tree/main/specification/communication/data-plane/Email/stable/2025-09-01
 *   (POST /emails:send → 202, Operation-Location and retry-after, body { id, status: "Running" };
 *   GET /emails/operations/{id} → { id, status } until "Succeeded"; `Operation-Id` names the operation)
 * - Access-key auth: https://learn.microsoft.com/azure/communication-services/tutorials/hmac-header-tutorial
 *   (`Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=…`, the
 *   signature being HMAC-SHA256 with the base64-decoded key over
 *   "{VERB}\n{path and query}\n{x-ms-date};{host};{x-ms-content-sha256}"), or a bearer token for
 *   https://communication.azure.com.
 * A bad or missing signature gets 401 `{ error: { code: "Denied", message: "Denied by the resource provider." } }`.
 * Each accepted message is kept in memory and written as an .eml file (MIME) to the outbox directory.
 */

export const COMMUNICATION_RESOURCE = 'https://communication.azure.com';
/** Communication Services accepts an x-ms-date this far from its clock. */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** The documented limit of a whole send request, attachments included. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** To, CC and BCC together. */
const MAX_RECIPIENTS = 50;

export interface EmailEmulatorOptions {
  readonly tls: EmulatorTlsOptions;
  /** The resource's access key (base64), as in `endpoint=…;accesskey=…`. */
  readonly accessKey: string;
  /** Bearer tokens are refused when absent. */
  readonly verifyToken?: BearerVerifier;
  /** Where each accepted message is written as `{time}-{operationId}.eml`; memory only when absent. */
  readonly outboxDir?: string;
  /** Domains the resource has linked; a sender from another domain is refused. All when absent. */
  readonly senderDomains?: readonly string[];
  /** How many status polls answer "Running" before "Succeeded" (default 1, so the SDK really polls). */
  readonly runningPolls?: number;
  /** The retry-after (seconds) sent with non-terminal answers; the service sends a few seconds, tests want 0. */
  readonly pollRetryAfterSeconds?: number;
  readonly now?: () => Date;
}

const emailAddress = z.object({ address: z.email(), displayName: z.string().optional() });
const emailMessage = z.object({
  headers: z.record(z.string(), z.string()).optional(),
  senderAddress: z.email(),
  content: z
    .object({ subject: z.string().min(1), plainText: z.string().optional(), html: z.string().optional() })
    .refine((c) => c.plainText !== undefined || c.html !== undefined, { message: 'Either plainText or html content is required.' }),
  recipients: z.object({
    to: z.array(emailAddress),
    cc: z.array(emailAddress).optional(),
    bcc: z.array(emailAddress).optional(),
  }),
  attachments: z
    .array(
      z.object({
        name: z.string().min(1),
        contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type'),
        contentInBase64: z.base64(),
        contentId: z.string().optional(),
      }),
    )
    .optional(),
  replyTo: z.array(emailAddress).optional(),
  userEngagementTrackingDisabled: z.boolean().optional(),
});

export type EmailMessage = z.infer<typeof emailMessage>;

export interface SentEmail {
  readonly operationId: string;
  readonly message: EmailMessage;
  /** The MIME text written to the outbox. */
  readonly eml: string;
  /** The .eml file, when an outbox directory is configured. */
  readonly path: string | undefined;
  readonly acceptedAt: Date;
  /** How the request authenticated: the access key, or the bearer token's `oid`. */
  readonly caller: string;
}

interface Operation {
  readonly id: string;
  polls: number;
  /** Set when the operation is to end Failed, as for a suppressed recipient. */
  readonly failure?: { readonly code: string; readonly message: string };
}

const failure = (status: number, code: string, message: string): EmulatorResponse => ({
  status,
  headers: { 'x-ms-error-code': code },
  body: { error: { code, message } },
});
const denied = () => failure(401, 'Denied', 'Denied by the resource provider.');

export class EmailEmulator {
  readonly server: EmulatorServer;
  readonly #sent: SentEmail[] = [];
  readonly #operations = new Map<string, Operation>();
  readonly #pendingFailures: { code: string; message: string }[] = [];
  readonly #now: () => Date;

  readonly #options: EmailEmulatorOptions;

  constructor(options: EmailEmulatorOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.server = new EmulatorServer('communication-email', options.tls);
    // The base's route syntax reads `:x` as a parameter, so `/emails:send` is matched as a pattern and
    // checked for the literal path in the handler.
    this.server
      .route('POST', '/emails:send', 'send', (r) =>
        r.path === '/emails:send' ? this.#authenticated(r, (caller) => this.#send(r, caller)) : notFound(r),
      )
      .route('GET', '/emails/operations/:operationId', 'getSendResult', (r) => this.#authenticated(r, () => this.#getSendResult(r)));
  }

  start(port?: number): Promise<string> {
    return this.server.start(port);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** The connection string an EmailClient takes (`endpoint=…;accesskey=…`). */
  get connectionString(): string {
    return `endpoint=${this.server.url}/;accesskey=${this.#options.accessKey}`;
  }

  /** Messages accepted so far, oldest first. */
  messages(): readonly SentEmail[] {
    return [...this.#sent];
  }

  clearMessages(): void {
    this.#sent.length = 0;
  }

  /** The next accepted send ends Failed with this error instead of Succeeded (and is not delivered). */
  failNextOperation(error: { code: string; message: string }): void {
    this.#pendingFailures.push(error);
  }

  async #authenticated(request: EmulatorRequest, serve: (caller: string) => EmulatorResponse): Promise<EmulatorResponse> {
    const authorization = request.headers.authorization ?? '';
    if (/^HMAC-SHA256 /i.test(authorization)) {
      return this.#signatureIsValid(request, authorization) ? serve('access-key') : denied();
    }
    const token = bearerTokenOf(request.headers);
    if (token !== undefined && this.#options.verifyToken) {
      const claims = await this.#options.verifyToken(token, audiencesFor(COMMUNICATION_RESOURCE));
      if (claims) return serve(typeof claims.oid === 'string' ? claims.oid : 'bearer');
    }
    return denied();
  }

  #signatureIsValid(request: EmulatorRequest, authorization: string): boolean {
    const match = /^HMAC-SHA256 SignedHeaders=([^&]+)&Signature=(\S+)$/.exec(authorization);
    if (!match || match[1] !== 'x-ms-date;host;x-ms-content-sha256') return false;
    const date = header(request, 'x-ms-date');
    const host = header(request, 'host');
    const contentHash = header(request, 'x-ms-content-sha256');
    if (date === undefined || host === undefined || contentHash === undefined) return false;
    const sentAt = Date.parse(date);
    if (!Number.isFinite(sentAt) || Math.abs(sentAt - this.#now().getTime()) > MAX_CLOCK_SKEW_MS) return false;
    // The body must be the one that was signed.
    if (createHash('sha256').update(request.body).digest('base64') !== contentHash) return false;
    const pathAndQuery = `${request.url.pathname}${request.url.search}`;
    const stringToSign = `${request.method}\n${pathAndQuery}\n${date};${host};${contentHash}`;
    const expected = createHmac('sha256', Buffer.from(this.#options.accessKey, 'base64')).update(stringToSign, 'utf8').digest();
    const given = Buffer.from(match[2]!, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #send(request: EmulatorRequest, caller: string): EmulatorResponse {
    const apiVersion = request.url.searchParams.get('api-version');
    if (!apiVersion)
      return failure(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
    if (request.body.length > MAX_REQUEST_BYTES) return failure(413, 'RequestEntityTooLarge', 'The request size exceeds the 10 MB limit.');
    if (!/^application\/json\b/i.test(header(request, 'content-type') ?? '')) {
      return failure(415, 'UnsupportedMediaType', 'The request content type must be application/json.');
    }
    const parsed = emailMessage.safeParse(request.json);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      return failure(400, 'BadRequest', `Invalid request: ${first.path.join('.') || '(body)'}: ${first.message}`);
    }
    const message = parsed.data;
    const recipientCount = message.recipients.to.length + (message.recipients.cc?.length ?? 0) + (message.recipients.bcc?.length ?? 0);
    if (recipientCount === 0) return failure(400, 'BadRequest', 'At least one recipient is required.');
    if (recipientCount > MAX_RECIPIENTS)
      return failure(400, 'BadRequest', `The number of recipients exceeds the maximum of ${MAX_RECIPIENTS}.`);
    const senderDomain = message.senderAddress.split('@')[1]!.toLowerCase();
    if (this.#options.senderDomains && !this.#options.senderDomains.some((d) => d.toLowerCase() === senderDomain)) {
      return failure(400, 'DomainNotLinked', 'The specified sender domain has not been linked.');
    }

    const requested = header(request, 'operation-id');
    if (requested !== undefined && !z.uuid().safeParse(requested).success) {
      return failure(400, 'BadRequest', 'The Operation-Id header must be a GUID.');
    }
    const operationId = requested ?? randomUUID();
    // A resent Operation-Id names the same operation: the message is not sent a second time.
    if (!this.#operations.has(operationId)) {
      const failure = this.#pendingFailures.shift();
      this.#operations.set(operationId, { id: operationId, polls: 0, failure });
      if (!failure) this.#deliver(operationId, message, caller);
    }
    return {
      status: 202,
      headers: {
        'operation-location': `${this.server.url}/emails/operations/${operationId}?api-version=${apiVersion}`,
        'retry-after': String(this.#options.pollRetryAfterSeconds ?? 0),
      },
      body: { id: operationId, status: 'Running' },
    };
  }

  #getSendResult(request: EmulatorRequest): EmulatorResponse {
    if (!request.url.searchParams.get('api-version')) {
      return failure(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
    }
    const operation = this.#operations.get(request.params.operationId!);
    if (!operation) return failure(404, 'NotFound', `Operation ${request.params.operationId} was not found.`);
    operation.polls += 1;
    if (operation.polls <= (this.#options.runningPolls ?? 1)) {
      return {
        status: 200,
        headers: { 'retry-after': String(this.#options.pollRetryAfterSeconds ?? 0) },
        body: { id: operation.id, status: 'Running' },
      };
    }
    if (operation.failure) return { status: 200, body: { id: operation.id, status: 'Failed', error: operation.failure } };
    return { status: 200, body: { id: operation.id, status: 'Succeeded' } };
  }

  #deliver(operationId: string, message: EmailMessage, caller: string): void {
    const acceptedAt = this.#now();
    const eml = toEml(message, operationId, acceptedAt);
    let path: string | undefined;
    if (this.#options.outboxDir !== undefined) {
      mkdirSync(this.#options.outboxDir, { recursive: true });
      path = join(this.#options.outboxDir, `${acceptedAt.toISOString().replace(/[:.]/g, '-')}-${operationId}.eml`);
      writeFileSync(path, eml);
    }
    this.#sent.push({ operationId, message, eml, path, acceptedAt, caller });
  }
}

function header(request: EmulatorRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function notFound(request: EmulatorRequest): EmulatorResponse {
  return failure(404, 'NotFound', `${request.method} ${request.path}`);
}

/**
 * MIME (RFC 5322, 2045-2047) by hand: the project has no mail library, and the outbox only needs the
 * one layout a mail client opens: multipart/mixed of a multipart/alternative (text, HTML) and the
 * attachments in base64.
 */
export function toEml(message: EmailMessage, operationId: string, date: Date): string {
  const boundary = (kind: string) => `=_${kind}_${operationId.replace(/-/g, '')}`;
  const addresses = (list: readonly { address: string; displayName?: string | undefined }[]) =>
    list.map((a) => (a.displayName ? `${encodeWord(a.displayName)} <${a.address}>` : a.address)).join(', ');
  const wrap = (b64: string) => b64.match(/.{1,76}/g)?.join('\r\n') ?? '';
  const lines = [
    `From: ${message.senderAddress}`,
    `To: ${addresses(message.recipients.to)}`,
    ...(message.recipients.cc?.length ? [`Cc: ${addresses(message.recipients.cc)}`] : []),
    ...(message.replyTo?.length ? [`Reply-To: ${addresses(message.replyTo)}`] : []),
    `Subject: ${encodeWord(message.content.subject)}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: <${operationId}@communication.azure.com.emulator>`,
    ...Object.entries(message.headers ?? {}).map(([k, v]) => `${k}: ${encodeWord(v)}`),
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary('mixed')}"`,
    '',
    `--${boundary('mixed')}`,
    `Content-Type: multipart/alternative; boundary="${boundary('alt')}"`,
    '',
  ];
  const bodies: [string, string | undefined][] = [
    ['text/plain', message.content.plainText],
    ['text/html', message.content.html],
  ];
  for (const [type, text] of bodies) {
    if (text === undefined) continue;
    lines.push(
      `--${boundary('alt')}`,
      `Content-Type: ${type}; charset=utf-8`,
      'Content-Transfer-Encoding: base64',
      '',
      wrap(Buffer.from(text, 'utf8').toString('base64')),
    );
  }
  lines.push(`--${boundary('alt')}--`, '');
  for (const attachment of message.attachments ?? []) {
    const filename = attachment.name.replace(/["\\\r\n]/g, '_');
    lines.push(
      `--${boundary('mixed')}`,
      `Content-Type: ${attachment.contentType}; name="${filename}"`,
      `Content-Disposition: attachment; filename="${filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      wrap(attachment.contentInBase64.replace(/\s+/g, '')),
    );
  }
  lines.push(`--${boundary('mixed')}--`, '');
  return lines.join('\r\n');
}

/** RFC 2047 encoded-word for header text that is not plain printable ASCII. */
function encodeWord(text: string): string {
  const safe = text.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(safe) ? safe : `=?utf-8?B?${Buffer.from(safe, 'utf8').toString('base64')}?=`;
}
