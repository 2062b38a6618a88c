import { z } from 'zod';
import { MIN_PFX_PASSWORD_LENGTH } from '../certificates/pfx.js';
import { actorSchema, appIdSchema, appSettingsSchema, historyEntrySchema, renewalStateSchema } from '../domain/appConfig.js';
import { inventoryItemSchema } from '../domain/inventory.js';
import { ROTATION_STATUSES, rotationAppSchema, rotationCountsSchema, rotationSelectorSchema } from '../domain/rotation.js';

/**
 * What the HTTP API reads from URLs and answers, as zod schemas: the handlers parse with them and
 * the OpenAPI document (src/lib/http/openApiDocument.ts) is generated from them, so the two cannot
 * drift apart. Bodies of the config routes come from src/lib/domain/appConfig.ts, certificate views
 * from src/lib/apps/certificateViews.ts.
 */

const isoDateTime = z.iso.datetime({ offset: true });

/** `true` or `false` in a query string. */
const booleanQuery = z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).transform((v) => v === 'true');

export const pageQuerySchema = z
  .object({
    pageSize: z.coerce
      .number({ error: 'must be a whole number from 1 to 100' })
      .int('must be a whole number from 1 to 100')
      .min(1)
      .max(100)
      .optional(),
    // Our tokens are a few hundred characters; a longer one is no token of ours.
    continuationToken: z.string().min(1).max(2048, 'is not a continuation token returned by this API').optional(),
  })
  .strict();

/** GET /api/apps: a page, optionally only the apps whose certificate expires within N days. */
export const appsQuerySchema = pageQuerySchema
  .extend({
    expiringWithinDays: z.coerce
      .number({ error: 'must be a whole number of days from 0 to 3650' })
      .int('must be a whole number of days from 0 to 3650')
      .min(0, 'must be a whole number of days from 0 to 3650')
      .max(3650, 'must be a whole number of days from 0 to 3650')
      .optional(),
  })
  .strict();

/** A route that takes no query parameters: each one given is named in the 400. */
export const noQuerySchema = z.object({}).strict();

/** One app as GET /api/apps/{appId} shows it (AppView in src/lib/apps/appService.ts). */
export const appViewSchema = z
  .object({
    appId: appIdSchema,
    displayName: z.string(),
    config: appSettingsSchema,
    state: renewalStateSchema,
    etag: z.string(),
    createdAt: isoDateTime,
    updatedAt: isoDateTime,
    updatedBy: actorSchema.optional(),
  })
  .strict();

const pageOf = <T extends z.ZodType>(item: T) =>
  z
    .object({
      items: z.array(item),
      /** Absent on the last page. */
      continuationToken: z.string().optional(),
      /** This request's path and query, relative, with the next continuationToken; absent on the last page. */
      nextLink: z.string().optional(),
    })
    .strict();

export const appPageSchema = pageOf(appViewSchema);
export const historyPageSchema = pageOf(historyEntrySchema);

const THUMBPRINT = '(?:[0-9A-Fa-f]{2}[: ]?){19}[0-9A-Fa-f]{2}';
const GUID = '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}';
const GUID_PATTERN = new RegExp(`^${GUID}$`);

/**
 * `{certificateId}` of /certificates/{certificateId}: the SHA-1 thumbprint (as Entra shows it, colons
 * or spaces allowed) or the credential's keyId. One name for both, because OpenAPI (and the
 * Functions route table) cannot hold two templates differing only in a parameter's name.
 */
export const certificateIdSchema = z
  .string()
  .trim()
  .regex(new RegExp(`^(?:${THUMBPRINT}|${GUID})$`), 'must be a SHA-1 thumbprint (40 hex digits) or a keyId (GUID)');

export function toCertificateReference(certificateId: string): { keyId: string } | { thumbprint: string } {
  return GUID_PATTERN.test(certificateId) ? { keyId: certificateId.toLowerCase() } : { thumbprint: certificateId };
}

/** GET /certificates takes no query parameters. */
export const listQuerySchema = z.object({}).strict();

/** POST /certificates */
export const generateQuerySchema = z
  .object({
    include: z
      .enum(['pfx', 'pem'], { error: 'must be "pfx" (PKCS#12 and its password) or "pem" (certificate and private key)' })
      .optional(),
    legacy: booleanQuery.optional(),
  })
  .strict()
  .superRefine((query, ctx) => {
    if (query.legacy !== undefined && query.include !== 'pfx') {
      ctx.addIssue({ code: 'custom', path: ['legacy'], message: 'applies to include=pfx only' });
    }
  });

/** GET /certificates/{certificateId} */
export const downloadQuerySchema = z
  .object({
    format: z.enum(['cer', 'pem', 'pfx'], { error: 'must be "cer", "pem" or "pfx"' }).default('cer'),
    encoding: z.enum(['der', 'pem'], { error: 'must be "der" or "pem"' }).optional(),
    legacy: booleanQuery.optional(),
  })
  .strict()
  .superRefine((query, ctx) => {
    if (query.encoding !== undefined && query.format !== 'cer') {
      ctx.addIssue({ code: 'custom', path: ['encoding'], message: 'applies to format=cer only' });
    }
    if (query.legacy !== undefined && query.format !== 'pfx') {
      ctx.addIssue({ code: 'custom', path: ['legacy'], message: 'applies to format=pfx only' });
    }
  });

/** DELETE /certificates/{certificateId} */
export const deleteQuerySchema = z.object({ force: booleanQuery.optional() }).strict();

/**
 * POST /certificates/{certificateId}/export: the raw PFX under the caller's own password. The
 * password travels in this body, never in a URL or a header (which proxies and gateways log).
 */
export const pfxExportBodySchema = z
  .object({
    password: z
      .string({ error: 'must be a string' })
      .min(MIN_PFX_PASSWORD_LENGTH, `must have at least ${MIN_PFX_PASSWORD_LENGTH} characters (128 bits or more)`)
      .max(128, 'must be at most 128 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    legacy: z.boolean({ error: 'must be true or false' }).default(false),
  })
  .strict();

/** GET /api/health */
export const healthSchema = z
  .object({
    status: z.enum(['ok', 'ready']),
    checks: z.array(z.object({ name: z.string(), status: z.enum(['up', 'down']), reason: z.string().optional() }).strict()).optional(),
  })
  .strict();

/** The Idempotency-Key header of POST /api/rotations: one the client made up for this rotation (a UUID, say). */
export const idempotencyKeySchema = z
  .string({ error: 'send an Idempotency-Key header (a new UUID for each new rotation), so that a retried request starts nothing twice' })
  .trim()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** A bulk rotation as GET /api/rotations/{id} answers it (RotationView in src/lib/domain/rotation.ts). */
export const rotationViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(ROTATION_STATUSES),
    reason: z.string(),
    selector: rotationSelectorSchema,
    requestedBy: actorSchema,
    createdAt: isoDateTime,
    completedAt: isoDateTime.optional(),
    total: z.int().min(0),
    counts: rotationCountsSchema,
    openApps: z.array(rotationAppSchema),
    failedApps: z.array(rotationAppSchema),
    skippedApps: z.array(rotationAppSchema),
  })
  .strict();

export const rotationListSchema = z.object({ items: z.array(rotationViewSchema) }).strict();

/** GET /api/inventory: filters, and the previous page's token (CSV answers every page at once). */
export const inventoryQuerySchema = z
  .object({
    credential: z.enum(['secret', 'certificate', 'none'], { error: 'must be "secret", "certificate" or "none"' }).optional(),
    expiringWithinDays: appsQuerySchema.shape.expiringWithinDays,
    managed: booleanQuery.optional(),
    continuationToken: pageQuerySchema.shape.continuationToken,
  })
  .strict();

export const inventoryPageSchema = z
  .object({ items: z.array(inventoryItemSchema), continuationToken: z.string().optional(), nextLink: z.string().optional() })
  .strict();
