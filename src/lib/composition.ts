import { EmailClient } from '@azure/communication-email';
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import { loadSettings, type EmailSettings, type EventGridSettings, type Settings } from './config.js';
import { NotificationMailer } from './email/NotificationMailer.js';
import { EventPublisher } from './eventgrid/EventPublisher.js';
import { CertificateVaultClient } from './keyvault/CertificateVaultClient.js';

/**
 * The composition root: the one place that reads the environment, builds SDK clients and adapters,
 * and hands them to the use cases. Everything is built lazily on first use, so a cold start pays only
 * for what the first invocation needs, and a bad setting fails that invocation with a message naming
 * the setting rather than crashing the host at import.
 */
let settings: Settings | undefined;

export function getSettings(): Settings {
  settings ??= loadSettings(process.env);
  return settings;
}

let azureCredential: TokenCredential | undefined;

/**
 * The rotator's own identity for every Azure client (managed identity in Azure). Instance discovery
 * is off when the authority is not a public-cloud one (a private cloud or the loopback emulator),
 * where the discovery endpoint does not exist.
 */
export function getAzureCredential(): TokenCredential {
  const s = getSettings();
  azureCredential ??= new DefaultAzureCredential({ authorityHost: s.authorityHost, disableInstanceDiscovery: !s.authorityIsPublicCloud });
  return azureCredential;
}

const vaultClients = new Map<string, CertificateVaultClient>();

/** The Key Vault adapter for a vault (default: DEFAULT_KEYVAULT_URL), one per vault URL. */
export function getCertificateVaultClient(vaultUrl?: string): CertificateVaultClient {
  const url = vaultUrl ?? getSettings().defaultKeyVaultUrl;
  let client = vaultClients.get(url);
  if (!client) {
    client = createCertificateVaultClient(url, getAzureCredential());
    vaultClients.set(url, client);
  }
  return client;
}

let mailer: NotificationMailer | null | undefined;

/** The email adapter, or undefined when email is not configured (§7: no email without the settings). */
export function getNotificationMailer(): NotificationMailer | undefined {
  if (mailer === undefined) {
    const email = getSettings().email;
    mailer = email ? createNotificationMailer(email, () => getAzureCredential()) : null;
  }
  return mailer ?? undefined;
}

let publisher: EventPublisher | null | undefined;

/** The Event Grid adapter, or undefined when no topic endpoint is configured. */
export function getEventPublisher(): EventPublisher | undefined {
  if (publisher === undefined) {
    const eventGrid = getSettings().eventGrid;
    publisher = eventGrid ? createEventPublisher(eventGrid, () => getAzureCredential()) : null;
  }
  return publisher ?? undefined;
}

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
    { timeoutInMs: options.timeoutInMs },
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
