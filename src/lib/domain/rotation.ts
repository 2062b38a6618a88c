import { z } from 'zod';
import { actorSchema, appIdSchema, type Actor } from './appConfig.js';

/**
 * A bulk rotation (docs/http-api.md): which apps an admin asked to renew at once and why, and where each app's
 * renewal for it stands. The schemas are the one definition: the API parses requests with them, the
 * store validates what it reads back, and the OpenAPI document is generated from them.
 */

const isoDateTime = z.iso.datetime({ offset: true });

/** Enough for a large fleet named one by one; `all` or another criterion covers more. */
export const MAX_SELECTED_APP_IDS = 5000;
export const MAX_SELECTED_THUMBPRINTS = 5000;

/**
 * Which managed apps to rotate. Criteria combine (an app must meet each one given); `all` stands
 * alone, so that "everything" is never the accident of an empty or misspelt criterion.
 */
export const rotationSelectorSchema = z
  .object({
    all: z.literal(true, { error: 'must be true (to rotate every managed app), or left out' }).optional(),
    appIds: z.array(appIdSchema).min(1).max(MAX_SELECTED_APP_IDS).optional(),
    /** Apps whose current certificate became valid before this instant. */
    issuedBefore: isoDateTime.optional(),
    /** Apps whose current certificate is one of these (SHA-1, as Entra shows it). */
    thumbprints: z
      .array(z.string().regex(/^[0-9a-fA-F]{40}$/, 'must be a SHA-1 thumbprint: 40 hex digits'))
      .min(1)
      .max(MAX_SELECTED_THUMBPRINTS)
      .optional(),
    /** Apps whose current key is smaller than this many bits. */
    keySizeBelow: z.int().min(1025).max(16384).optional(),
  })
  .strict()
  .superRefine((selector, ctx) => {
    const criteria = Object.keys(selector).filter((key) => selector[key as keyof typeof selector] !== undefined);
    if (criteria.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'name the apps: all, appIds, issuedBefore, thumbprints or keySizeBelow' });
    } else if (selector.all && criteria.length > 1) {
      ctx.addIssue({ code: 'custom', path: ['all'], message: 'all selects every managed app; leave out the other criteria, or all' });
    }
  });

export type RotationSelector = z.output<typeof rotationSelectorSchema>;

export const rotationRequestSchema = z
  .object({
    selector: rotationSelectorSchema,
    /** Why (a suspected key compromise, a policy change): kept in each app's history and every event. */
    reason: z.string().trim().min(1, 'say why the apps are rotated').max(500),
  })
  .strict();

export type RotationRequest = z.output<typeof rotationRequestSchema>;

/**
 * Where one app's renewal for a rotation is. queued → deployed → verified, or failed; skipped when
 * the app was not renewed for it (management off, no certificate yet, or deleted since).
 */
export const ROTATION_APP_STAGES = ['queued', 'deployed', 'verified', 'failed', 'skipped'] as const;
export type RotationAppStage = (typeof ROTATION_APP_STAGES)[number];

export function isRotationAppStage(value: unknown): value is RotationAppStage {
  return typeof value === 'string' && (ROTATION_APP_STAGES as readonly string[]).includes(value);
}

export function isSettled(stage: RotationAppStage): boolean {
  return stage === 'verified' || stage === 'failed' || stage === 'skipped';
}

export const rotationAppSchema = z
  .object({
    appId: appIdSchema,
    displayName: z.string(),
    stage: z.enum(ROTATION_APP_STAGES),
    /** The renewal that answers the rotation for this app: its own, or another that began after it (docs/http-api.md). */
    renewalId: z.string().optional(),
    /** Why it was skipped or failed. */
    detail: z.string().optional(),
    updatedAt: isoDateTime,
  })
  .strict();

export type RotationApp = z.output<typeof rotationAppSchema>;

export const rotationCountsSchema = z
  .object(Object.fromEntries(ROTATION_APP_STAGES.map((stage) => [stage, z.int().min(0)])) as Record<RotationAppStage, z.ZodInt>)
  .strict();

export type RotationCounts = z.output<typeof rotationCountsSchema>;

export const ROTATION_STATUSES = ['starting', 'running', 'completed'] as const;
export type RotationStatus = (typeof ROTATION_STATUSES)[number];

/** The rotation as stored (its apps are rows of their own). */
export const rotationRecordSchema = z
  .object({
    id: z.string(),
    status: z.enum(ROTATION_STATUSES),
    selector: rotationSelectorSchema,
    reason: z.string(),
    requestedBy: actorSchema,
    createdAt: isoDateTime,
    /** SHA-256 of the request, so a retry with the same Idempotency-Key and another body is refused. */
    requestHash: z.string(),
    /** While `starting`: the start that holds it until then; a retry after it takes over. */
    startingUntil: isoDateTime.optional(),
    total: z.int().min(0).optional(),
    completedAt: isoDateTime.optional(),
    counts: rotationCountsSchema.optional(),
    /** Whether RotationCompleted went out; retried by the scheduler until it has. */
    completionPublished: z.boolean().optional(),
  })
  .strict();

export type RotationRecord = z.output<typeof rotationRecordSchema>;

/** How many unsettled apps a rotation view lists; the counts cover all of them. */
export const OPEN_APPS_SHOWN = 200;

/** A rotation as GET /api/rotations/{id} answers it. */
export interface RotationView {
  readonly id: string;
  readonly status: RotationStatus;
  readonly reason: string;
  readonly selector: RotationSelector;
  readonly requestedBy: Actor;
  readonly createdAt: string;
  readonly completedAt?: string;
  readonly total: number;
  readonly counts: RotationCounts;
  /** The apps not yet verified, failed or skipped (the first OPEN_APPS_SHOWN). */
  readonly openApps: readonly RotationApp[];
  readonly failedApps: readonly RotationApp[];
  /** The apps not renewed for it, each with why (the first OPEN_APPS_SHOWN). */
  readonly skippedApps: readonly RotationApp[];
}

export function emptyCounts(): RotationCounts {
  return { queued: 0, deployed: 0, verified: 0, failed: 0, skipped: 0 };
}

export function countStages(apps: readonly Pick<RotationApp, 'stage'>[]): RotationCounts {
  const counts = emptyCounts();
  for (const app of apps) counts[app.stage] += 1;
  return counts;
}

/**
 * The rotation store (Table adapter: src/lib/tables/rotationStore.ts). A rotation's record and its
 * apps are written separately; each app row is conditional on the ETag it was read with.
 */
export interface RotationRepository {
  /** Creates the record; `undefined` when one with this id exists already (then read it). */
  createRotation(record: RotationRecord): Promise<{ etag: string } | undefined>;
  getRotation(id: string): Promise<{ record: RotationRecord; etag: string } | undefined>;
  /** Replaces the record if it still has this ETag; PreconditionFailedError otherwise. */
  updateRotation(record: RotationRecord, etag: string): Promise<{ etag: string }>;
  listRotations(): Promise<RotationRecord[]>;
  listRotationApps(id: string): Promise<RotationApp[]>;
  /** How many of the rotation's apps are at each stage, reading no more of each row than its stage. */
  countRotationApps(id: string): Promise<RotationCounts>;
  /** Adds the apps that have no row yet (a start taken over keeps what the first one wrote). */
  addRotationApps(id: string, apps: readonly RotationApp[]): Promise<void>;
  getRotationApp(id: string, appId: string): Promise<{ app: RotationApp; etag: string } | undefined>;
  /**
   * Replaces the app's row if it still has this ETag (PreconditionFailedError otherwise); settling it
   * (from `previous`, an open stage) takes it off the open apps in the same commit.
   */
  updateRotationApp(id: string, app: RotationApp, etag: string, previous: RotationAppStage): Promise<void>;
  /** Whether any app of the rotation is not settled yet: one indexed read, not a scan. */
  hasOpenApps(id: string): Promise<boolean>;
  /** The ids of unsettled apps (for the scheduler's reconciliation, which reads each row itself), at most `limit`. */
  listOpenAppIds(id: string, limit: number): Promise<string[]>;
}
