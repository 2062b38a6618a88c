import type { EmailClient, EmailMessage } from '@azure/communication-email';
import { z } from 'zod';
import { toRotatorError, withDeadline } from '../azureErrors.js';
import { RetriableError, ValidationError } from '../errors.js';

/**
 * The email adapter over Azure Communication Services Email: one message (plain text and HTML,
 * optional attachments) per call, waiting until the service reports the send operation Succeeded.
 */

export interface NotificationAttachment {
  readonly name: string;
  readonly contentType: string;
  readonly content: Buffer;
}

export interface NotificationEmail {
  readonly to: readonly string[];
  readonly subject: string;
  readonly plainText: string;
  readonly html: string;
  readonly attachments?: readonly NotificationAttachment[];
  /**
   * A stable GUID for this notification (Communication Services' `Operation-Id`), so that a resend
   * after a lost answer names the same operation instead of mailing the admins twice.
   */
  readonly operationId?: string;
}

export interface NotificationMailerOptions {
  /** How often to poll the send operation when the service gives no retry-after (default 2 s). */
  readonly pollIntervalInMs?: number;
  /** Deadline of one send, polling and the SDK's retries included (default 60 s). */
  readonly timeoutInMs?: number;
}

/** The service's limit of recipients per message (To, CC and BCC together). */
const MAX_RECIPIENTS = 50;
/** The service's limit of a whole request; base64 makes attachments a third larger on the wire. */
const MAX_ATTACHMENT_BYTES = Math.floor((10 * 1024 * 1024 * 3) / 4) - 64 * 1024;

const emailSchema = z.object({
  to: z.array(z.email()).min(1).max(MAX_RECIPIENTS),
  subject: z.string().min(1).max(998),
  plainText: z.string(),
  html: z.string(),
  attachments: z
    .array(
      z.object({ name: z.string().min(1).max(255), contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/), content: z.instanceof(Buffer) }),
    )
    .optional()
    .refine((a) => (a ?? []).reduce((n, x) => n + x.content.length, 0) <= MAX_ATTACHMENT_BYTES, {
      message: 'attachments exceed the 10 MB message limit',
    }),
  operationId: z.uuid().optional(),
});

export class NotificationMailer {
  readonly #client: EmailClient;
  readonly #sender: string;
  readonly #options: NotificationMailerOptions;
  constructor(client: EmailClient, sender: string, options: NotificationMailerOptions = {}) {
    this.#client = client;
    this.#sender = sender;
    this.#options = options;
  }

  /** Sends and waits for the service to accept delivery; returns the operation id. */
  async send(email: NotificationEmail): Promise<{ operationId: string }> {
    const parsed = emailSchema.safeParse(email);
    if (!parsed.success) {
      throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    }
    const message: EmailMessage = {
      senderAddress: this.#sender,
      recipients: { to: parsed.data.to.map((address) => ({ address })) },
      content: { subject: parsed.data.subject, plainText: parsed.data.plainText, html: parsed.data.html },
      attachments: parsed.data.attachments?.map((a) => ({
        name: a.name,
        contentType: a.contentType,
        contentInBase64: a.content.toString('base64'),
      })),
    };
    const context = {
      operation: `Sending the email '${parsed.data.subject}'`,
      roleToGrant: 'Communication and Email Service Owner',
      scope: 'the Communication Services resource',
      field: 'email',
    };
    let result;
    try {
      result = await withDeadline(this.#options.timeoutInMs ?? 60_000, async (abortSignal) => {
        const poller = await this.#client.beginSend(message, {
          operationId: parsed.data.operationId,
          updateIntervalInMs: this.#options.pollIntervalInMs,
          abortSignal,
        });
        return poller.pollUntilDone({ abortSignal });
      });
    } catch (error) {
      // core-lro reports an operation that ended Failed as a plain Error carrying the service's code.
      if (error instanceof Error && error.message.startsWith('The long-running operation has failed')) {
        throw new RetriableError(`${context.operation} ended Failed: ${error.message}`, { cause: error });
      }
      throw toRotatorError(error, context);
    }
    if (result.status !== 'Succeeded') {
      const why = result.error ? `${result.error.code ?? ''} ${result.error.message ?? ''}`.trim() : 'no reason given';
      throw new RetriableError(`${context.operation} ended ${result.status}: ${why}`);
    }
    return { operationId: result.id };
  }
}
