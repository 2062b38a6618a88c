import { randomBytes } from 'node:crypto';
import type { TransactionAction, TableEntity } from '@azure/data-tables';
import { z } from 'zod';
import { ConflictError, ValidationError } from '../errors.js';
import {
  appConfigSchema,
  historyEntrySchema,
  renewalStateSchema,
  type Actor,
  type AppConfig,
  type RenewalState,
} from '../domain/appConfig.js';
import type { HistoryInput, StoredApp } from '../domain/storedApp.js';
import { scheduledRenewalAt } from '../renewal/decide/schedule.js';

/**
 * The row layout of the apps table (the app configs, their renewal state, the due index, the Key
 * Vault certificate-name reservations and the history): keys, entities and the pure functions that
 * build them. AppStore (appStore.ts) is the only module that writes them.
 *
 * Layout: every row lives in ONE partition (`apps`), told apart by a RowKey prefix:
 *   app_{appId}                       config + state (JSON, validated on read), the keys below; or,
 *                                     between the two steps of a delete, a tombstone (see deleteApp)
 *   due_{dueEpochMs, 15 digits}_{appId}   the due index: one row per app that has a due time
 *   kvname_{vaultHost}_{name}         reserves a Key Vault certificate name in a vault for one app
 *   hist_{appId}_{invertedMs}_{rand}  history, newest first within an app's range
 *   pending_{appId}                   the app has notifications to retry (see markPendingNotifications)
 *   sched_{name}                      the scheduler's own bookkeeping (the drift slice cursor)
 *
 * Why one partition: an entity-group transaction can only span one partition, and with every row
 * in it, each write commits the app row, its due-index row, its name reservation and its history
 * row atomically (the "intra-partition secondary index" pattern of the Azure Table design guide,
 * https://learn.microsoft.com/azure/storage/tables/table-storage-design-patterns). So the index can
 * never disagree with the config after a crash: there is no second write to crash between, and the
 * name uniqueness per vault is enforced by the service (an insert that collides fails the whole
 * transaction) rather than by a racy read. The cost is one partition's throughput (about 2,000
 * entities/s), far above what a certificate rotator writes. `repairIndex` re-derives index rows
 * from the app rows for damage done outside this code (a hand edit, a restore).
 *
 * The scheduler's query is a RowKey range (`due_` … `due_{now}`) inside that partition, so it reads
 * only the due rows: its cost follows the number of due apps, not the number of apps.
 */

export const APPS_PARTITION = 'apps';
export const APP_PREFIX = 'app_';
export const DUE_PREFIX = 'due_';
const NAME_PREFIX = 'kvname_';
export const HISTORY_PREFIX = 'hist_';
export const PENDING_PREFIX = 'pending_';
export const SCHEDULER_PREFIX = 'sched_';
/** Larger than any epoch millisecond this code will see; history keys count down from it. */
const HISTORY_EPOCH_CEILING = 9_999_999_999_999;

export type AppEntity = {
  partitionKey: string;
  rowKey: string;
  appId: string;
  config: string;
  state: string;
  /** RowKey of this app's due-index row, '' when it has none. */
  dueKey: string;
  /** RowKey of this app's certificate-name reservation. */
  nameKey: string;
  createdAt: string;
  updatedAt: string;
  updatedByOid: string;
  updatedByName: string;
};

const appEntitySchema = z.object({
  partitionKey: z.literal(APPS_PARTITION),
  rowKey: z.string().startsWith(APP_PREFIX),
  etag: z.string(),
  appId: z.string(),
  config: z.string(),
  state: z.string(),
  dueKey: z.string(),
  nameKey: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  updatedByOid: z.string().default(''),
  updatedByName: z.string().default(''),
});

// The SDK's token: the service's NextPartitionKey/NextRowKey, which are opaque (encoded by the service).
// A forged one could name another partition or carry a key the service refuses: only this table's
// partition, and a RowKey as the service encodes it (base64-ish, bounded), pass.
const continuationTokenSchema = z.object({
  nextPartitionKey: z.string().max(1024),
  nextRowKey: z
    .string()
    .max(1024)
    .regex(/^[A-Za-z0-9+/=_!*.-]*$/)
    .optional(),
});

export const appRowKey = (appId: string) => `${APP_PREFIX}${appId}`;

export function dueRowKey(dueAt: Date, appId: string): string {
  return `${DUE_PREFIX}${String(Math.max(0, dueAt.getTime())).padStart(15, '0')}_${appId}`;
}

/** Key Vault names are case-insensitive within a vault; the host (with port) identifies the vault. */
export function certificateNameRowKey(vaultUrl: string, certificateName: string): string {
  return `${NAME_PREFIX}${new URL(vaultUrl).host.toLowerCase()}_${certificateName.toLowerCase()}`;
}

function historyRowKey(appId: string, at: Date): string {
  const inverted = String(HISTORY_EPOCH_CEILING - at.getTime()).padStart(13, '0');
  return `${HISTORY_PREFIX}${appId}_${inverted}_${randomBytes(4).toString('hex')}`;
}

/** The first RowKey after every key that starts with `prefix` (for `lt` in range queries). */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/**
 * Our continuation tokens wrap the SDK's with the range they continue (the NextRowKey inside is
 * opaque to us: the service encodes it), so a token from one app's history cannot be replayed
 * against another's, and a forged one is the caller's error, not a 500.
 */
export function encodeToken(sdkToken: string | undefined, scope: string): string | undefined {
  return sdkToken === undefined ? undefined : Buffer.from(JSON.stringify({ s: scope, t: sdkToken }), 'utf8').toString('base64url');
}

const wrappedTokenSchema = z.object({ s: z.string(), t: z.string() }).strict();

export function decodeToken(token: string | undefined, scope: string): string | undefined {
  if (token === undefined) return undefined;
  try {
    const wrapped = wrappedTokenSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (wrapped.s !== scope) throw new Error('token of another range');
    continuationTokenSchema.parse(JSON.parse(Buffer.from(wrapped.t, 'base64').toString('utf8')));
    return wrapped.t;
  } catch {
    throw ValidationError.forField('continuationToken', 'is not a continuation token returned by this API for this list');
  }
}

/** What a deleted app's row holds until the delete's second step removes it: read as no app. */
export type Tombstone = { partitionKey: string; rowKey: string; appId: string; deleted: true; deletedAt: string };

export const isTombstone = (entity: object): boolean => (entity as { deleted?: unknown }).deleted === true;

export function toStoredApp(entity: unknown): StoredApp {
  const row = appEntitySchema.parse(entity);
  return {
    config: appConfigSchema.parse(JSON.parse(row.config)),
    state: renewalStateSchema.parse(JSON.parse(row.state)),
    etag: row.etag,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    updatedBy: row.updatedByOid === '' ? undefined : { oid: row.updatedByOid, name: row.updatedByName },
  };
}

export function nameConflictError(config: AppConfig): ConflictError {
  return new ConflictError(
    `keyVault.certificateName "${config.keyVault.certificateName}" is already used by another app in ${config.keyVault.vaultUrl}; choose another name`,
  );
}

/** The state with its due time derived from config and state: no caller sets nextRenewalDueAt. */
export function withDerivedState(config: AppConfig, state: RenewalState): RenewalState {
  const dueAt = scheduledRenewalAt(config, state);
  const { nextRenewalDueAt: _previous, ...rest } = state;
  return dueAt === undefined ? rest : { ...rest, nextRenewalDueAt: dueAt.toISOString() };
}

/** The RowKeys of the app's index rows: its due row ('' when nothing is due) and its name reservation. */
export function indexKeysOf(config: AppConfig, state: RenewalState): { dueKey: string; nameKey: string } {
  const dueAt = scheduledRenewalAt(config, state);
  return {
    dueKey: dueAt === undefined ? '' : dueRowKey(dueAt, config.appId),
    nameKey: certificateNameRowKey(config.keyVault.vaultUrl, config.keyVault.certificateName),
  };
}

export function appEntityOf(config: AppConfig, state: RenewalState, createdAt: Date, updatedAt: Date, actor: Actor | undefined): AppEntity {
  const keys = indexKeysOf(config, state);
  return {
    partitionKey: APPS_PARTITION,
    rowKey: appRowKey(config.appId),
    appId: config.appId,
    config: JSON.stringify(config),
    state: JSON.stringify(state),
    ...keys,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
    updatedByOid: actor?.oid ?? '',
    updatedByName: actor?.name ?? '',
  };
}

export function dueRowActions(dueKey: string, appId: string, state: RenewalState): TransactionAction[] {
  if (dueKey === '') return [];
  return [['create', { partitionKey: APPS_PARTITION, rowKey: dueKey, appId, dueAt: new Date(state.nextRenewalDueAt!) }]];
}

export function historyRow(
  appId: string,
  at: Date,
  input: HistoryInput,
  actor: Actor | undefined,
): TableEntity<{ appId: string; entry: string }> {
  const entry = historyEntrySchema.parse({ ...input, at: input.at ?? at.toISOString(), actor: input.actor ?? actor });
  return { partitionKey: APPS_PARTITION, rowKey: historyRowKey(appId, at), appId, entry: JSON.stringify(entry) };
}

export function historyAction(appId: string, at: Date, input: HistoryInput, actor: Actor | undefined): TransactionAction {
  return ['create', historyRow(appId, at, input, actor)];
}

export function storedAppOf(entity: AppEntity, config: AppConfig, state: RenewalState, etag: string, actor: Actor | undefined): StoredApp {
  return { config, state, etag, createdAt: entity.createdAt, updatedAt: entity.updatedAt, updatedBy: actor };
}
