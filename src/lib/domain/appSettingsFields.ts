import { z } from 'zod';
import { KEY_SIZES, MAX_LIFETIME_DAYS, MIN_LIFETIME_DAYS } from '../certificates/generateCertificate.js';
import { isGuid, isKeyVaultResourceId, parseKeyVaultUrl } from './identifiers.js';

/**
 * The fields of an app's settings (docs/configuration.md), each with its own check and limits;
 * appConfig.ts assembles them into the config and adds the rules that tie fields together.
 */

export const CERTIFICATE_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;
export const MAX_RECIPIENTS = 50;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_VAULT_READERS = 20;

const wholeNumber = (min: number, max: number) =>
  z
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

export const keyVaultUrlSchema = z
  .string({ error: 'must be a Key Vault URL' })
  // The longest vault origin (a 24-character name under the longest cloud suffix) is about 60 characters.
  .max(200, 'must be at most 200 characters')
  .transform((value, ctx) => {
    const parsed = parseKeyVaultUrl(value.trim());
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.url;
  })
  // The transform's result, declared, so that the output side has a JSON Schema too.
  .pipe(z.string());

export const keyVaultResourceIdSchema = z
  .string({ error: "must be the vault's Azure Resource Manager id" })
  .trim()
  .refine(isKeyVaultResourceId, {
    error:
      "must be the vault's Azure Resource Manager id: /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}",
  });

const objectIdSchema = z
  .string({ error: "must be a principal's object id, a GUID" })
  .trim()
  .toLowerCase()
  .refine(isGuid, "must be a principal's object id (a managed identity, service principal or group), a GUID");

/** Who else may read the certificate (docs/consumers.md): distinct object ids, so each grant is made once. */
export const vaultReadersSchema = z
  .array(objectIdSchema)
  .max(MAX_VAULT_READERS, `must list at most ${MAX_VAULT_READERS} object ids`)
  .superRefine((readers, ctx) => {
    readers.forEach((reader, index) => {
      if (readers.indexOf(reader) !== index) ctx.addIssue({ code: 'custom', path: [index], message: `lists ${reader} twice` });
    });
  });

export const certificateNameSchema = z
  .string({ error: 'must be a string' })
  .regex(CERTIFICATE_NAME_PATTERN, 'must be 1-127 characters, letters, digits and hyphens only (Key Vault object name rules)');

export const notificationsSchema = z
  .object({
    enabled: z.boolean().default(false),
    recipients: z
      // 254 characters: the longest address SMTP can carry (RFC 5321's 256-octet path, less the brackets).
      .array(z.email({ error: 'must be an email address' }).max(MAX_EMAIL_LENGTH, `must be at most ${MAX_EMAIL_LENGTH} characters`))
      .max(MAX_RECIPIENTS, `must list at most ${MAX_RECIPIENTS} addresses`)
      .default([]),
    thresholdDays: wholeNumber(1, 90).default(14),
    includeCertificate: z.boolean().default(false),
    attachmentFormat: z
      .enum(['cer', 'pfx'], { error: 'must be "cer" (public certificate only) or "pfx" (with the private key)' })
      .default('cer'),
  })
  .strict();

/** What a caller sends (PUT body): vaultUrl and certificateName may be left to their defaults. */
export const keyVaultInputSchema = z
  .object({
    enabled: z.boolean().default(true),
    vaultUrl: keyVaultUrlSchema.optional(),
    certificateName: certificateNameSchema.optional(),
    resourceId: keyVaultResourceIdSchema.optional(),
    grantAppRead: z.boolean().default(true),
    readers: vaultReadersSchema.default([]),
  })
  .strict();

const keySizeSchema = z.union([z.literal(2048), z.literal(3072), z.literal(4096)], { error: `must be one of ${KEY_SIZES.join(', ')}` });

export const graphModeSchema = z.enum(['owner', 'self'], { error: 'must be "owner" or "self"' });

/** The settings of every config but keyVault, whose input and stored forms differ. */
export const settingsShape = {
  enabled: z.boolean().default(true),
  lifetimeDays: wholeNumber(MIN_LIFETIME_DAYS, MAX_LIFETIME_DAYS).default(365),
  renewBeforeDays: wholeNumber(1, 365).default(30),
  // prefault, not default: zod 4's default skips parsing, so the nested defaults would not apply.
  notifications: notificationsSchema.prefault({}),
  keySize: keySizeSchema.default(2048),
  graphMode: graphModeSchema.default('owner'),
  bootstrap: z.boolean().default(false),
};

/** The Key Vault settings as stored: every default resolved. */
export const storedKeyVaultSchema = z
  .object({
    enabled: z.boolean(),
    vaultUrl: keyVaultUrlSchema,
    certificateName: certificateNameSchema,
    /** Absent when the vault is not the default one and the config names none: no grants then. */
    resourceId: keyVaultResourceIdSchema.optional(),
    // Defaults for rows written before access grants existed.
    grantAppRead: z.boolean().default(true),
    readers: vaultReadersSchema.default([]),
  })
  .strict();
