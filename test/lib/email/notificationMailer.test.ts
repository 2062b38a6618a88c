import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createNotificationMailer } from '../../../src/lib/serviceClients.js';
import type { NotificationEmail, NotificationMailer } from '../../../src/lib/email/notificationMailer.js';
import { PreconditionError, RetriableError, ValidationError } from '../../../src/lib/errors.js';
import { EmailEmulator } from '../../emulators/email.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../../support/identity.js';

const SENDER = 'DoNotReply@rotator.example.com';
const accessKey = randomBytes(32).toString('base64');
let identity: TestIdentity;
let email: EmailEmulator;
let outbox: string;
let mailer: NotificationMailer;

const fast = { retryOptions: FAST_RETRIES, pollIntervalInMs: 10 };

function message(overrides: Partial<NotificationEmail> = {}): NotificationEmail {
  return {
    to: ['admin@contoso.example'],
    subject: 'Certificate renewed for Payroll API',
    plainText: 'The certificate was renewed.',
    html: '<p>The certificate was <b>renewed</b>.</p>',
    ...overrides,
  };
}

/** Signs a request as the access-key scheme asks, so raw requests can test the emulator's checks. */
function signedHeaders(method: string, url: URL, body: string, key = accessKey): Record<string, string> {
  const date = new Date().toUTCString();
  const hash = createHash('sha256').update(body).digest('base64');
  const signature = createHmac('sha256', Buffer.from(key, 'base64'))
    .update(`${method}\n${url.pathname}${url.search}\n${date};${url.host};${hash}`)
    .digest('base64');
  return {
    'content-type': 'application/json',
    'x-ms-date': date,
    'x-ms-content-sha256': hash,
    authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
  };
}

const rawBody = JSON.stringify({
  senderAddress: SENDER,
  recipients: { to: [{ address: 'admin@contoso.example' }] },
  content: { subject: 'raw', plainText: 'raw' },
});

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  outbox = mkdtempSync(join(tmpdir(), 'ecr-outbox-'));
  email = new EmailEmulator({
    tls,
    accessKey,
    outboxDir: outbox,
    senderDomains: ['rotator.example.com'],
    verifyToken: (token, audiences) => identity.authority.verifyAccessToken(token, audiences),
  });
  await email.start();
  mailer = createNotificationMailer(
    { sender: SENDER, endpoint: email.server.url, connectionString: email.connectionString },
    () => {
      throw new Error('the access key is configured: no token credential may be asked for');
    },
    fast,
  );
});

afterAll(async () => {
  await email?.close();
  await identity?.close();
  rmSync(outbox, { recursive: true, force: true });
});

beforeEach(() => {
  email.server.clearFaults();
  email.clearMessages();
});

describe('NotificationMailer against the Communication Services Email emulator', () => {
  it('sends text, HTML and an attachment with the access key, polls until Succeeded, and writes an .eml', async () => {
    const cer = randomBytes(700);
    const { operationId } = await mailer.send(
      message({ attachments: [{ name: 'payroll.cer', contentType: 'application/pkix-cert', content: cer }] }),
    );

    const [sent] = email.messages();
    expect(sent).toMatchObject({
      operationId,
      caller: 'access-key',
      message: { senderAddress: SENDER, content: { subject: 'Certificate renewed for Payroll API' } },
    });
    expect(sent!.message.attachments?.[0]).toEqual({
      name: 'payroll.cer',
      contentType: 'application/pkix-cert',
      contentInBase64: cer.toString('base64'),
    });
    expect(email.server.count('getSendResult')).toBeGreaterThanOrEqual(2);

    const eml = readFileSync(sent!.path!, 'utf8');
    expect(eml).toContain('Subject: Certificate renewed for Payroll API');
    expect(eml).toContain('To: admin@contoso.example');
    expect(eml).toContain('Content-Type: text/html; charset=utf-8');
    expect(eml).toContain('Content-Disposition: attachment; filename="payroll.cer"');
    expect(eml.replace(/\r\n/g, '')).toContain(cer.toString('base64'));
  });

  it('sends with a bearer token of the managed identity (DefaultAzureCredential, IDENTITY_ENDPOINT)', async () => {
    await identity.withManagedIdentity(async (credential) => {
      const viaIdentity = createNotificationMailer({ sender: SENDER, endpoint: email.server.url }, () => credential, fast);
      await viaIdentity.send(message());
    });
    expect(email.messages().map((m) => m.caller)).toEqual([identity.managedIdentity.principalId]);
  });

  it('sends a resent Operation-Id once', async () => {
    const operationId = randomUUID();
    await mailer.send(message({ operationId }));
    await mailer.send(message({ operationId }));
    expect(email.messages().map((m) => m.operationId)).toEqual([operationId]);
  });

  it('refuses an unsigned request, a wrong signature and a body changed after signing, as the service does', async () => {
    const url = new URL(`${email.server.url}/emails:send?api-version=2025-09-01`);
    const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: rawBody });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toEqual({ error: { code: 'Denied', message: 'Denied by the resource provider.' } });

    const otherKey = randomBytes(32).toString('base64');
    expect((await fetch(url, { method: 'POST', headers: signedHeaders('POST', url, rawBody, otherKey), body: rawBody })).status).toBe(401);
    const tampered = rawBody.replace('raw', 'changed');
    expect((await fetch(url, { method: 'POST', headers: signedHeaders('POST', url, rawBody), body: tampered })).status).toBe(401);
    expect(email.messages()).toEqual([]);

    // The same signing, done right, is accepted: the refusals above are about the signature.
    expect((await fetch(url, { method: 'POST', headers: signedHeaders('POST', url, rawBody), body: rawBody })).status).toBe(202);
  });

  it('maps a wrong access key and a token for another resource to a PreconditionError', async () => {
    const wrongKey = createNotificationMailer(
      {
        sender: SENDER,
        endpoint: email.server.url,
        connectionString: `endpoint=${email.server.url}/;accesskey=${randomBytes(32).toString('base64')}`,
      },
      () => identity.clientSecretCredential,
      fast,
    );
    await expect(wrongKey.send(message())).rejects.toBeInstanceOf(PreconditionError);
    const wrongAudience = createNotificationMailer(
      { sender: SENDER, endpoint: email.server.url },
      () => identity.wrongAudienceCredential(),
      fast,
    );
    await expect(wrongAudience.send(message())).rejects.toThrow(/refused \(401\)/);
    expect(email.messages()).toEqual([]);
  });

  it('validates the message before sending, and the emulator rejects what the service rejects', async () => {
    await expect(mailer.send(message({ to: ['not-an-address'] }))).rejects.toBeInstanceOf(ValidationError);
    const url = new URL(`${email.server.url}/emails:send?api-version=2025-09-01`);
    const noContent = JSON.stringify({
      senderAddress: SENDER,
      recipients: { to: [{ address: 'a@b.example' }] },
      content: { subject: 's' },
    });
    const response = await fetch(url, { method: 'POST', headers: signedHeaders('POST', url, noContent), body: noContent });
    expect(response.status).toBe(400);
    const otherDomain = createNotificationMailer(
      { sender: 'x@unlinked.example', endpoint: email.server.url, connectionString: email.connectionString },
      () => {
        throw new Error('unused');
      },
      fast,
    );
    await expect(otherDomain.send(message())).rejects.toThrow(/DomainNotLinked/);
  });

  it('reports an operation that ends Failed as a RetriableError naming the service’s reason', async () => {
    email.failNextOperation({ code: 'EmailDroppedAllRecipientsSuppressed', message: 'All recipients are on the suppression list.' });
    const attempt = mailer.send(message());
    await expect(attempt).rejects.toBeInstanceOf(RetriableError);
    await expect(attempt).rejects.toThrow(/EmailDroppedAllRecipientsSuppressed/);
    expect(email.messages()).toEqual([]);
  });

  describe('faults', () => {
    it('waits out a 429 with Retry-After and then sends once', async () => {
      const throttled = email.server.inject('send', { status: 429, retryAfterSeconds: 1, times: 1 });
      await mailer.send(message());
      expect(throttled.served).toBe(1);
      expect(email.messages()).toHaveLength(1);
      expect(
        email.server
          .requests('send')
          .slice(-2)
          .map((r) => r.status),
      ).toEqual([429, 202]);
    });

    it('gets past N 5xx on send and on the status poll, and a dropped connection', async () => {
      const failures = email.server.inject('send', { status: 500, times: 2 });
      const dropped = email.server.inject('getSendResult', { drop: true, times: 1 });
      await mailer.send(message());
      expect(failures.served).toBe(2);
      expect(dropped.served).toBe(1);
      expect(email.messages()).toHaveLength(1);
    });

    it('turns a service that does not answer in time into a RetriableError', async () => {
      const impatient = createNotificationMailer(
        { sender: SENDER, endpoint: email.server.url, connectionString: email.connectionString },
        () => identity.clientSecretCredential,
        { ...fast, timeoutInMs: 300 },
      );
      const slow = email.server.inject('send', { delayMs: 1500, times: 1 });
      await expect(impatient.send(message())).rejects.toBeInstanceOf(RetriableError);
      expect(slow.served).toBe(1);
    });

    it('gives up with a RetriableError when the service keeps failing', async () => {
      const down = email.server.inject('send', { status: 503, retryAfterSeconds: 0 });
      await expect(mailer.send(message())).rejects.toBeInstanceOf(RetriableError);
      expect(down.served).toBe(1 + FAST_RETRIES.maxRetries);
      expect(email.messages()).toEqual([]);
    });
  });
});
