import { Cron } from 'croner';
import { z } from 'zod';
import {
  isGuid,
  isKeyVaultResourceId,
  isLoopbackUrl,
  parseKeyVaultUrl,
  vaultNameOfResourceId,
  vaultNameOfUrl,
} from './domain/identifiers.js';
import { ConfigurationError, type FieldIssue } from './errors.js';
import { resolveConfigStorage, resolveWebJobsStorage, type StorageConnection } from './storageSettings.js';
import { DEFAULT_RENEWAL_SCHEDULE } from './renewalScheduleBinding.js';

export { DEFAULT_RENEWAL_SCHEDULE };
export type { StorageConnection };

/**
 * The application settings of docs/configuration.md, read from the environment once, validated, with
 * defaults applied. Nothing else in the app reads process.env: the composition root calls
 * `loadSettings()` and hands the result to whoever needs a piece of it.
 */

export interface EmailSettings {
  readonly sender: string;
  readonly endpoint: string;
  /** Absent: managed identity (DefaultAzureCredential). */
  readonly connectionString?: string;
}

export interface EventGridSettings {
  readonly topicEndpoint: string;
  /** Absent: managed identity (DefaultAzureCredential). */
  readonly topicKey?: string;
}

export interface Settings {
  readonly webJobsStorage: StorageConnection;
  /** Where configs, state and history live; `CONFIG_STORAGE`, else `AzureWebJobsStorage`. */
  readonly configStorage: StorageConnection;
  readonly managedTenantId: string;
  readonly renewalSchedule: string;
  readonly renewalLeaseSeconds: number;
  readonly verifyWindowMinutes: number;
  /** How long after a deploy the confirm stage first tries to sign in (Entra's propagation). */
  readonly confirmDelaySeconds: number;
  /** No trailing slash. */
  readonly graphBaseUrl: string;
  /** Azure Resource Manager (`ARM_BASE_URL`), for Key Vault access grants (docs/consumers.md). No trailing slash. */
  readonly armBaseUrl: string;
  /** No trailing slash. */
  readonly authorityHost: string;
  /** False for private clouds and emulators: credentials must then skip instance discovery. */
  readonly authorityIsPublicCloud: boolean;
  /**
   * The authority is a loopback emulator (the sandbox, tests): only then are loopback Key Vault URLs
   * accepted, so that a deployed rotator can never be pointed at something listening on its host.
   */
  readonly authorityIsLoopback: boolean;
  /** With a trailing slash, as Key Vault ids are written. */
  readonly defaultKeyVaultUrl: string;
  /**
   * The default vault's Azure Resource Manager id (`DEFAULT_KEYVAULT_RESOURCE_ID`): the scope of the
   * read grants of docs/consumers.md for apps that name no vault of their own. Absent: not configured.
   */
  readonly defaultKeyVaultResourceId: string | undefined;
  readonly email: EmailSettings | undefined;
  readonly eventGrid: EventGridSettings | undefined;
  readonly apiAudiences: readonly string[];
  readonly apiTenantId: string;
}

export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com';
export const DEFAULT_ARM_BASE_URL = 'https://management.azure.com';
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** Authorities of the Azure clouds whose instance discovery works (public, US Gov, China). */
const PUBLIC_CLOUD_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

const httpsUrl = (example: string) =>
  z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be an absolute URL such as ${example}` });
        return;
      }
      if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `must use https (got ${url.protocol})` });
    })
    .transform((value) => value.replace(/\/+$/, ''));

/** An optional https URL; an empty value (as local.settings.json and app settings often hold) is unset. */
const optionalHttpsUrl = (example: string) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), httpsUrl(example).optional());

const positiveIntFromString = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max} (got "${raw}")` });
        return z.NEVER;
      }
      return Number(raw);
    });

const guid = (what: string) =>
  z
    .string({ error: `is required: the ${what} (a GUID)` })
    .trim()
    .refine(isGuid, { error: `must be the ${what} as a GUID` });

/**
 * NCRONTAB as the Functions timer trigger takes it: six fields, seconds first. Checked with croner,
 * which the local host also uses to run the schedule, so what validates here also runs there.
 */
const ncrontab = z
  .string()
  .trim()
  .optional()
  .transform((raw, ctx) => {
    const value = raw === undefined || raw === '' ? DEFAULT_RENEWAL_SCHEDULE : raw;
    const fields = value.split(/\s+/);
    if (fields.length !== 6) {
      ctx.addIssue({
        code: 'custom',
        message: `must be an NCRONTAB expression with six fields ({second} {minute} {hour} {day} {month} {day-of-week}), such as "${DEFAULT_RENEWAL_SCHEDULE}"; got ${fields.length} field(s)`,
      });
      return z.NEVER;
    }
    try {
      new Cron(value, { paused: true }).stop();
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `is not a valid NCRONTAB expression: ${(error as Error).message}` });
      return z.NEVER;
    }
    return value;
  });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const envSchema = z.object({
  AzureWebJobsStorage: optionalString,
  AzureWebJobsStorage__accountName: optionalString,
  AzureWebJobsStorage__tableServiceUri: optionalString,
  AzureWebJobsStorage__queueServiceUri: optionalString,
  AzureWebJobsStorage__blobServiceUri: optionalString,
  AzureWebJobsStorage__clientId: optionalString,
  CONFIG_STORAGE: optionalString,
  CONFIG_STORAGE__accountName: optionalString,
  CONFIG_STORAGE__tableServiceUri: optionalString,
  CONFIG_STORAGE__clientId: optionalString,
  MANAGED_TENANT_ID: guid('tenant id of the managed app registrations'),
  RENEWAL_SCHEDULE: ncrontab,
  RENEWAL_LEASE_SECONDS: positiveIntFromString(60, 86_400, 600),
  VERIFY_WINDOW_MINUTES: positiveIntFromString(1, 120, 10),
  CONFIRM_DELAY_SECONDS: positiveIntFromString(0, 600, 30),
  GRAPH_BASE_URL: optionalHttpsUrl(DEFAULT_GRAPH_BASE_URL),
  ARM_BASE_URL: optionalHttpsUrl(DEFAULT_ARM_BASE_URL),
  AZURE_AUTHORITY_HOST: optionalHttpsUrl(DEFAULT_AUTHORITY_HOST),
  DEFAULT_KEYVAULT_URL: z
    .string({ error: 'is required: the vault used when an app enables Key Vault without a URL, such as https://my-vault.vault.azure.net/' })
    .trim()
    .transform((raw, ctx) => {
      const parsed = parseKeyVaultUrl(raw);
      if ('error' in parsed) {
        ctx.addIssue({ code: 'custom', message: parsed.error });
        return z.NEVER;
      }
      return parsed.url;
    }),
  DEFAULT_KEYVAULT_RESOURCE_ID: optionalString.refine((value) => value === undefined || isKeyVaultResourceId(value), {
    error:
      'must be a Key Vault resource id: /subscriptions/{subscription-id}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}',
  }),
  EMAIL_ENDPOINT: optionalHttpsUrl('https://my-acs.europe.communication.azure.com'),
  EMAIL_CONNECTION_STRING: optionalString,
  EMAIL_SENDER: optionalString,
  EVENTGRID_TOPIC_ENDPOINT: optionalHttpsUrl('https://my-topic.westeurope-1.eventgrid.azure.net/api/events'),
  EVENTGRID_TOPIC_KEY: optionalString,
  API_AUDIENCE: z.string({ error: "is required: the API's App ID URI and/or client id, comma-separated" }).transform((raw, ctx) => {
    const audiences = raw
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    if (audiences.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must list at least one audience (App ID URI or client id)' });
      return z.NEVER;
    }
    const bad = audiences.filter((a) => !isGuid(a) && !/^[a-z][a-z0-9+.-]*:\/\/?\S+$/i.test(a));
    if (bad.length > 0) {
      ctx.addIssue({ code: 'custom', message: `each audience must be a GUID or a URI such as api://…; not ${bad.join(', ')}` });
      return z.NEVER;
    }
    return audiences;
  }),
  API_TENANT_ID: guid('tenant id that issues tokens for the API'),
});

type Env = Readonly<Record<string, string | undefined>>;

function resolveEmail(parsed: z.infer<typeof envSchema>, issues: FieldIssue[]): EmailSettings | undefined {
  let endpoint = parsed.EMAIL_ENDPOINT;
  const connectionString = parsed.EMAIL_CONNECTION_STRING;
  if (connectionString !== undefined) {
    const match = /(?:^|;)\s*endpoint=([^;]+);?/i.exec(connectionString);
    const hasKey = /(?:^|;)\s*accesskey=[^;]+/i.test(connectionString);
    if (!match || !hasKey || !match[1]!.trim().startsWith('https://')) {
      issues.push({
        path: 'EMAIL_CONNECTION_STRING',
        message: 'must be a Communication Services connection string: endpoint=https://….communication.azure.com/;accesskey=…',
      });
      return undefined;
    }
    endpoint ??= match[1]!.trim().replace(/\/+$/, '');
  }
  if (endpoint === undefined) {
    if (parsed.EMAIL_SENDER !== undefined) {
      issues.push({
        path: 'EMAIL_ENDPOINT',
        message: 'is required when EMAIL_SENDER is set (or set EMAIL_CONNECTION_STRING); without either, remove EMAIL_SENDER',
      });
    }
    return undefined;
  }
  if (parsed.EMAIL_SENDER === undefined) {
    issues.push({
      path: 'EMAIL_SENDER',
      message: 'is required when email is configured: the sender address of a verified domain, such as DoNotReply@….azurecomm.net',
    });
    return undefined;
  }
  if (!z.email().safeParse(parsed.EMAIL_SENDER).success) {
    issues.push({ path: 'EMAIL_SENDER', message: 'must be an email address' });
    return undefined;
  }
  return { sender: parsed.EMAIL_SENDER, endpoint, connectionString };
}

function resolveEventGrid(parsed: z.infer<typeof envSchema>, issues: FieldIssue[]): EventGridSettings | undefined {
  if (parsed.EVENTGRID_TOPIC_ENDPOINT === undefined) {
    if (parsed.EVENTGRID_TOPIC_KEY !== undefined) {
      issues.push({ path: 'EVENTGRID_TOPIC_ENDPOINT', message: 'is required when EVENTGRID_TOPIC_KEY is set' });
    }
    return undefined;
  }
  return { topicEndpoint: parsed.EVENTGRID_TOPIC_ENDPOINT, topicKey: parsed.EVENTGRID_TOPIC_KEY };
}

/**
 * Validates the environment and returns the settings, or throws one ConfigurationError that names
 * every missing or malformed setting at once (so a deployment is fixed in one round, not one per
 * restart).
 */
export function loadSettings(env: Env): Settings {
  // Each setting is parsed on its own so that one bad value does not hide the others, and the
  // cross-field rules below still see every setting that did parse.
  const issues: FieldIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    const result = schema.safeParse(env[name]);
    if (result.success) values[name] = result.data;
    else for (const issue of result.error.issues) issues.push({ path: name, message: issue.message });
  }
  const parsed = values as z.infer<typeof envSchema>;
  const fieldsOk = issues.length === 0;

  const webJobsStorage = resolveWebJobsStorage(parsed, issues);
  const configStorage = resolveConfigStorage(parsed, webJobsStorage, issues);
  const email = resolveEmail(parsed, issues);
  const eventGrid = resolveEventGrid(parsed, issues);

  const authorityHost = parsed.AZURE_AUTHORITY_HOST ?? DEFAULT_AUTHORITY_HOST;
  const authorityIsLoopback = isLoopbackUrl(authorityHost);
  if (parsed.DEFAULT_KEYVAULT_URL !== undefined && isLoopbackUrl(parsed.DEFAULT_KEYVAULT_URL) && !authorityIsLoopback) {
    issues.push({
      path: 'DEFAULT_KEYVAULT_URL',
      message:
        'is a loopback URL, which is accepted only with a loopback AZURE_AUTHORITY_HOST (the sandbox and tests); use https://{vault-name}.vault.azure.net/',
    });
  }

  // Both name the default vault: a resource id of another vault would grant readers the wrong one.
  const vaultNameInId =
    parsed.DEFAULT_KEYVAULT_RESOURCE_ID === undefined ? undefined : vaultNameOfResourceId(parsed.DEFAULT_KEYVAULT_RESOURCE_ID);
  const vaultNameInUrl = parsed.DEFAULT_KEYVAULT_URL === undefined ? undefined : vaultNameOfUrl(parsed.DEFAULT_KEYVAULT_URL);
  if (vaultNameInId !== undefined && vaultNameInUrl !== undefined && !authorityIsLoopback && vaultNameInId !== vaultNameInUrl) {
    issues.push({
      path: 'DEFAULT_KEYVAULT_RESOURCE_ID',
      message: `names vault "${vaultNameInId}", but DEFAULT_KEYVAULT_URL names "${vaultNameInUrl}": both must be the default vault`,
    });
  }

  if (!fieldsOk || issues.length > 0 || !webJobsStorage || !configStorage) throw new ConfigurationError(issues);
  return {
    webJobsStorage,
    configStorage,
    managedTenantId: parsed.MANAGED_TENANT_ID.toLowerCase(),
    renewalSchedule: parsed.RENEWAL_SCHEDULE,
    renewalLeaseSeconds: parsed.RENEWAL_LEASE_SECONDS,
    verifyWindowMinutes: parsed.VERIFY_WINDOW_MINUTES,
    confirmDelaySeconds: parsed.CONFIRM_DELAY_SECONDS,
    graphBaseUrl: parsed.GRAPH_BASE_URL ?? DEFAULT_GRAPH_BASE_URL,
    armBaseUrl: parsed.ARM_BASE_URL ?? DEFAULT_ARM_BASE_URL,
    authorityHost,
    authorityIsPublicCloud: PUBLIC_CLOUD_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase()),
    authorityIsLoopback,
    defaultKeyVaultUrl: parsed.DEFAULT_KEYVAULT_URL,
    defaultKeyVaultResourceId: parsed.DEFAULT_KEYVAULT_RESOURCE_ID,
    email,
    eventGrid,
    apiAudiences: parsed.API_AUDIENCE,
    apiTenantId: parsed.API_TENANT_ID.toLowerCase(),
  };
}
