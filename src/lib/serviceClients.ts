import { EmailClient } from '@azure/communication-email';
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import type { TokenCredential } from '@azure/identity';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import type { EmailSettings, EventGridSettings } from './config.js';
import { NotificationMailer } from './email/notificationMailer.js';
import { EventPublisher } from './eventgrid/eventPublisher.js';
import { CertificateVaultClient } from './keyvault/certificateVaultClient.js';

/*
 * Part of the composition root (composition.ts): the adapters that take their settings and
 * credential as arguments, not from the process, so tests build exactly what production builds.
 */

/** Key Vault DNS suffixes whose challenge resource the SDK can verify against the vault's host name. */
const KEY_VAULT_HOST = /\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)$/i;

/** Options every SDK client gets: retries with the SDK's backoff, which honours Retry-After. */
export interface ServiceClientOptions {
  readonly retryOptions?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
  /** Deadline of one adapter call, retries included; each adapter has its own default. */
  readonly timeoutInMs?: number;
}

/**
 * The Key Vault adapter over its two SDK clients. Against a vault that is not on a Key Vault domain
 * (the loopback emulator), the SDK's check that the challenge's resource matches the vault host
 * cannot pass, so it is turned off there and only there.
 */
export function createCertificateVaultClient(
  vaultUrl: string,
  credential: TokenCredential,
  options: ServiceClientOptions = {},
): CertificateVaultClient {
  const disableChallengeResourceVerification = !KEY_VAULT_HOST.test(new URL(vaultUrl).hostname);
  const clientOptions = { disableChallengeResourceVerification, retryOptions: options.retryOptions };
  return new CertificateVaultClient(
    new CertificateClient(vaultUrl, credential, clientOptions),
    new SecretClient(vaultUrl, credential, clientOptions),
    {
      timeoutInMs: options.timeoutInMs,
    },
  );
}

/** The email adapter: the access key of EMAIL_CONNECTION_STRING when given, else the rotator's identity. */
export function createNotificationMailer(
  email: EmailSettings,
  credential: () => TokenCredential,
  options: ServiceClientOptions & { pollIntervalInMs?: number } = {},
): NotificationMailer {
  const clientOptions = { retryOptions: options.retryOptions };
  const client = email.connectionString
    ? new EmailClient(email.connectionString, clientOptions)
    : new EmailClient(email.endpoint, credential(), clientOptions);
  return new NotificationMailer(client, email.sender, { pollIntervalInMs: options.pollIntervalInMs, timeoutInMs: options.timeoutInMs });
}

/** The Event Grid adapter: EVENTGRID_TOPIC_KEY when given, else the rotator's identity. */
export function createEventPublisher(
  eventGrid: EventGridSettings,
  credential: () => TokenCredential,
  options: ServiceClientOptions = {},
): EventPublisher {
  const clientOptions = { retryOptions: options.retryOptions };
  const client = eventGrid.topicKey
    ? new EventGridPublisherClient(eventGrid.topicEndpoint, 'CloudEvent', new AzureKeyCredential(eventGrid.topicKey), clientOptions)
    : new EventGridPublisherClient(eventGrid.topicEndpoint, 'CloudEvent', credential(), clientOptions);
  return new EventPublisher(client, eventGrid.topicEndpoint, { timeoutInMs: options.timeoutInMs });
}
