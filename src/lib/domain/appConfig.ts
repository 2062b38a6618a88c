import { z } from 'zod';
import { isGuid } from './identifiers.js';
import { keyVaultInputSchema, MAX_RECIPIENTS, settingsShape, storedKeyVaultSchema } from './appSettingsFields.js';
import type { FieldIssue } from '../errors.js';

/**
 * The per-application configuration of docs/configuration.md, its renewal state and its history, as zod
 * schemas. This module is the single definition: the store validates what it reads back, the
 * use cases validate what callers send, and the OpenAPI document is generated from the same
 * schemas. Every object is `.strict()` so that an unknown field is an error, never silently kept.
 * The settings' fields, each with its own check, are in appSettingsFields.ts.
 */

// trim and toLowerCase are zod's in-place overwrites, not transforms, so the schema has a JSON
// Schema in both directions (the OpenAPI document is generated from it).
export const appIdSchema = z
  .string({ error: 'must be the application (client) id of the app registration, a GUID' })
  .trim()
  .toLowerCase()
  .refine(isGuid, 'must be the application (client) id of the app registration, a GUID');

type Loose = Record<string, unknown>;
const isObject = (value: unknown): value is Loose => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The rules of docs/configuration.md that tie fields together; each issue names the field a caller should change.
 * They run even when some field failed its own check (`when` below), so that one 400 names every
 * bad field; a rule is only judged on fields that are themselves of the right type.
 */
function checkCrossFieldRules(value: unknown, ctx: z.RefinementCtx) {
  if (!isObject(value)) return;
  // Paths that already failed their own check: a rule reading one of them is not judged.
  const failed = ctx.issues.map((issue) => (issue.path ?? []).join('.'));
  const sound = (...paths: string[]) => paths.every((path) => !failed.some((f) => f === path || f.startsWith(`${path}.`)));
  const { enabled, lifetimeDays, renewBeforeDays, graphMode } = value;
  const notifications = isObject(value.notifications) ? value.notifications : {};
  const keyVaultEnabled = isObject(value.keyVault) ? value.keyVault.enabled : undefined;
  if (
    sound('renewBeforeDays', 'lifetimeDays') &&
    typeof renewBeforeDays === 'number' &&
    typeof lifetimeDays === 'number' &&
    renewBeforeDays >= lifetimeDays
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['renewBeforeDays'],
      message: `must be less than lifetimeDays (${lifetimeDays})`,
    });
  }
  if (
    sound('notifications.enabled', 'notifications.recipients') &&
    notifications.enabled === true &&
    Array.isArray(notifications.recipients) &&
    notifications.recipients.length === 0
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['notifications', 'recipients'],
      message: `must list 1 to ${MAX_RECIPIENTS} email addresses when notifications are enabled`,
    });
  }
  // A PFX attachment only reaches someone when notifications are on; without them the renewed key
  // would land nowhere, which is exactly what the rule forbids.
  const keyByEmail =
    notifications.enabled === true && notifications.includeCertificate === true && notifications.attachmentFormat === 'pfx';
  const notificationsTyped =
    typeof notifications.enabled === 'boolean' &&
    typeof notifications.includeCertificate === 'boolean' &&
    (notifications.attachmentFormat === 'cer' || notifications.attachmentFormat === 'pfx');
  const keyHomeSound = sound(
    'enabled',
    'keyVault.enabled',
    'notifications.enabled',
    'notifications.includeCertificate',
    'notifications.attachmentFormat',
  );
  if (keyHomeSound && enabled === true && keyVaultEnabled === false && notificationsTyped && !keyByEmail) {
    ctx.addIssue({
      code: 'custom',
      path: ['keyVault', 'enabled'],
      message:
        'must be true for an enabled app unless the renewed private key is emailed (notifications.enabled, notifications.includeCertificate and notifications.attachmentFormat "pfx"): otherwise the new key would be stored nowhere',
    });
  }
  if (sound('graphMode', 'keyVault.enabled') && graphMode === 'self' && keyVaultEnabled === false) {
    ctx.addIssue({
      code: 'custom',
      path: ['keyVault', 'enabled'],
      message: 'must be true when graphMode is "self": the app signs in with its current certificate from Key Vault',
    });
  }
}

/** Runs the cross-field rules whatever else failed (zod skips a refinement after an issue by default). */
const ALWAYS = { when: () => true };

/** The writable configuration as a caller sends it (PUT body; a PATCH is merged onto it first). */
export const appConfigInputSchema = z
  .object({ ...settingsShape, keyVault: keyVaultInputSchema.prefault({}) })
  .strict()
  .superRefine(checkCrossFieldRules, ALWAYS);

export type AppConfigInput = z.input<typeof appConfigInputSchema>;
export type AppSettingsInput = z.output<typeof appConfigInputSchema>;

/**
 * The stored settings without appId and displayName, as the API shows them under `config`. No
 * cross-field checks here: they run on appConfigSchema, which every write goes through.
 */
export const appSettingsSchema = z.object({ ...settingsShape, keyVault: storedKeyVaultSchema }).strict();

/** The stored configuration: every default resolved, plus appId and the displayName read from Entra. */
export const appConfigSchema = z
  .object({
    appId: appIdSchema,
    displayName: z.string().min(1).max(256),
    ...settingsShape,
    keyVault: storedKeyVaultSchema,
  })
  .strict()
  .superRefine(checkCrossFieldRules, ALWAYS);

export type AppConfig = z.output<typeof appConfigSchema>;

const isoDateTime = z.iso.datetime({ offset: true });

/** What started a renewal: the scheduler, an admin's generation, bootstrap, a drift check, or a bulk rotation (docs/http-api.md). */
export const RENEWAL_TRIGGERS = ['scheduled', 'manual', 'bootstrap', 'drift', 'rotation'] as const;

/** Where one renewal is: the two stages of docs/renewal.md, and its end. */
export const renewalProgressSchema = z
  .object({
    id: z.string(),
    trigger: z.enum(RENEWAL_TRIGGERS),
    /** The bulk rotation it was made for (docs/http-api.md). */
    rotationId: z.string().optional(),
    stage: z.enum(['deployed', 'completed', 'failed']),
    deployedAt: isoDateTime.optional(),
    reason: z.string().optional(),
    requestedBy: z.object({ oid: z.string(), name: z.string() }).strict().optional(),
  })
  .strict();

export type RenewalProgress = z.output<typeof renewalProgressSchema>;

/** A notification (email or event) that could not be sent yet; what to send is rebuilt from it. */
export const pendingNotificationSchema = z
  .object({
    /** Stable per renewal and kind, so a retry replaces rather than duplicates. */
    id: z.string(),
    channel: z.enum(['email', 'event']),
    kind: z.enum(['generated', 'renewed', 'failed', 'near-expiry', 'removed', 'access-failed']),
    renewalId: z.string().optional(),
    thumbprint: z.string().optional(),
    keyId: z.string().optional(),
    notAfter: isoDateTime.optional(),
    error: z.string().optional(),
    /** What started the renewal, and the bulk rotation it was for: the retried event says what the first one said. */
    trigger: z.string().optional(),
    rotationId: z.string().optional(),
    reason: z.string().optional(),
    attempts: z.int().min(0),
    lastError: z.string().optional(),
  })
  .strict();

export type PendingNotification = z.output<typeof pendingNotificationSchema>;

/** A role assignment the rotator made (docs/consumers.md): the ones it may remove, and no others. */
export const vaultGrantSchema = z
  .object({
    name: z.string(),
    scope: z.string(),
    role: z.enum(['Key Vault Secrets User', 'Key Vault Certificate User']),
    principalId: z.string(),
  })
  .strict();

export type VaultGrant = z.output<typeof vaultGrantSchema>;

export const ACCESS_STATUSES = ['granted', 'pending', 'missing-permission', 'not-configured'] as const;
export type AccessStatus = (typeof ACCESS_STATUSES)[number];

/** Whether the services that use the certificate may read it from Key Vault (docs/consumers.md). */
export const accessStateSchema = z
  .object({
    status: z.enum(ACCESS_STATUSES),
    checkedAt: isoDateTime,
    /** What is missing and what to do: the role to grant and where, or what the rotator waits for. */
    message: z.string().optional(),
    /** (21 principals × 2 roles) */
    grants: z.array(vaultGrantSchema).max(42).default([]),
  })
  .strict();

export type AccessState = z.output<typeof accessStateSchema>;

/** Renewal state per app (docs/configuration.md); read-only over the API, written by the renewal use cases. */
export const renewalStateSchema = z
  .object({
    currentThumbprint: z.string().optional(),
    currentThumbprintSha256: z.string().optional(),
    keyId: z.string().optional(),
    notBefore: isoDateTime.optional(),
    notAfter: isoDateTime.optional(),
    verifiedAt: isoDateTime.optional(),
    /** Derived by the store on every write (decide/schedule.ts: notAfter, renewBeforeDays, the app's place in the spread); kept for readers. */
    nextRenewalDueAt: isoDateTime.optional(),
    lastOutcome: z.enum(['deployed', 'verified', 'failed']).optional(),
    lastOutcomeAt: isoDateTime.optional(),
    lastError: z.string().optional(),
    consecutiveFailures: z.int().min(0).default(0),
    /** RSA modulus of the current certificate (the drift check compares it with the config). */
    keySize: z.int().optional(),
    /** Key Vault version (and its full id) holding the current certificate and its key. */
    keyVaultVersion: z.string().optional(),
    keyVaultId: z.string().optional(),
    /** The renewal that made (or is making) the current certificate. */
    renewal: renewalProgressSchema.optional(),
    /** Held while a renewal stage runs, so that two renewals of one app never interleave (docs/renewal.md). */
    lease: z.object({ owner: z.string(), renewalId: z.string(), until: isoDateTime }).strict().optional(),
    /** Set by the scheduler when it enqueues: a due app is enqueued once per due period. */
    queued: z.object({ renewalId: z.string(), forDueAt: isoDateTime, at: isoDateTime }).strict().optional(),
    /** Emails and events that failed and are retried on later ticks; never fail a renewal. */
    pendingNotifications: z.array(pendingNotificationSchema).max(50).default([]),
    /** `thumbprint:thresholdDays` of the near-expiry warnings already sent (the newest few). */
    nearExpiryWarned: z.array(z.string()).max(20).default([]),
    /**
     * Renewal ids whose deploy stage took the lease, oldest first (the newest few), written with the
     * lease: a first attempt knows it has no earlier work to look for, and a late redelivery knows
     * whether a newer renewal has been recorded since.
     */
    deployAttempts: z.array(z.string()).max(20).default([]),
    /** Key Vault read access of the app and its readers (docs/consumers.md); absent while Key Vault is off. */
    access: accessStateSchema.optional(),
    /** What the last preflight against the tenant's app management policies warned about (docs/renewal.md). */
    preflight: z
      .object({ checkedAt: isoDateTime, warnings: z.array(z.string()).max(10) })
      .strict()
      .optional(),
  })
  .strict();

export type RenewalState = z.output<typeof renewalStateSchema>;
export type RenewalStateInput = z.input<typeof renewalStateSchema>;

export const actorSchema = z.object({ oid: z.string(), name: z.string() }).strict();
export type Actor = z.output<typeof actorSchema>;

/** One row of an app's history: a renewal attempt or an admin action (docs/configuration.md). */
export const historyEntrySchema = z
  .object({
    at: isoDateTime,
    /** `config.created`, `config.replaced`, `config.updated`, `config.deleted`, `renewal.deploy`, … */
    action: z.string().min(1),
    /** What started it: `api` for an admin's call, `schedule`, `queue`, … */
    trigger: z.string().min(1),
    /** The caller's object id and name, for API actions. */
    actor: actorSchema.optional(),
    outcome: z.enum(['succeeded', 'failed']),
    thumbprint: z.string().optional(),
    error: z.string().optional(),
    /** Field paths a config write changed, so "who changed lifetimeDays" is answerable. */
    changes: z.array(z.string()).optional(),
    /** The bulk rotation (docs/http-api.md) a renewal was for, and why it was asked for. */
    rotationId: z.string().optional(),
    reason: z.string().optional(),
  })
  .strict();

export type HistoryEntry = z.output<typeof historyEntrySchema>;

/**
 * A Key Vault certificate name from a display name: runs of other characters become one hyphen.
 * A name with nothing usable falls back to one built from the appId.
 */
export function deriveCertificateName(displayName: string, appId: string): string {
  const name = displayName
    .normalize('NFKD')
    .replace(/[^0-9a-zA-Z-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 127)
    .replace(/-+$/, '');
  return name === '' ? `app-${appId}` : name;
}

/** zod issues as the field paths a caller wrote, one per offending field (unknown keys included). */
export function toFieldIssues(error: z.ZodError, prefix: readonly (string | number)[] = []): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({
          path: [...path, key].join('.'),
          message: READ_ONLY_FIELDS.has(key) && path.length === 0 ? `is read-only: ${READ_ONLY_FIELDS.get(key)}` : 'is not a known field',
        });
      }
    } else {
      issues.push({ path: path.join('.'), message: issue.message });
    }
  }
  return issues;
}

const READ_ONLY_FIELDS = new Map([
  ['appId', 'it is the {appId} of the URL'],
  ['displayName', 'it is read from Entra when the app is added'],
  ['state', 'renewal state is written by the rotator only'],
  ['etag', 'send it in the If-Match header'],
]);
