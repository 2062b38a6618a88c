import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { jsonShapeIssues } from '../domain/jsonShape.js';
import type { AccessReviewer, AppRegistrationDirectory } from '../domain/ports.js';
import { ConflictError, NotFoundError, PreconditionError, PreconditionFailedError, ValidationError } from '../errors.js';
import type { AppManagementPolicyReader } from '../domain/appManagementPolicy.js';
import { preflightOutcome } from '../renewal/preflightOutcome.js';
import { changedPaths, isPlainObject, mergePatch } from './mergePatch.js';
import { checkResourceId, KeyVaultPlacement } from './keyVaultPlacement.js';
import { retryOnETagConflict } from '../domain/retryOnETagConflict.js';
import type { AppRepository, Page, PageOptions, StoredApp } from '../domain/storedApp.js';
import { BOOTSTRAP_DUE_AT } from '../renewal/decide/schedule.js';
import {
  appConfigInputSchema,
  toFieldIssues,
  type Actor,
  type AppConfig,
  type AppSettingsInput,
  type HistoryEntry,
  type RenewalState,
  renewalStateSchema,
} from '../domain/appConfig.js';

/**
 * The config API's use cases: read, create or replace, patch and delete an app's configuration.
 * Every write is validated as a whole, conditional on the ETag it read, and records who did it.
 */

/** An app as the API shows it: the writable config apart from what only the rotator writes. */
export interface AppView {
  readonly appId: string;
  readonly displayName: string;
  readonly config: Omit<AppConfig, 'appId' | 'displayName'>;
  readonly state: RenewalState;
  readonly etag: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly updatedBy: Actor | undefined;
}

export interface WriteOptions {
  readonly caller: Actor;
  /** The client's `If-Match`: the write happens only on that version (`*`: on any existing one). */
  readonly ifMatch?: string;
  /** The client's `If-None-Match: *`: create only. */
  readonly ifNoneMatch?: string;
}

export interface AppServiceOptions {
  readonly store: AppRepository;
  readonly directory: AppRegistrationDirectory;
  /** `DEFAULT_KEYVAULT_URL`, used when an app enables Key Vault without a URL. */
  readonly defaultKeyVaultUrl: string;
  /** `DEFAULT_KEYVAULT_RESOURCE_ID`: the default vault's resource id, for access grants (docs/consumers.md). */
  readonly defaultKeyVaultResourceId?: string;
  /** Attempts of a read-merge-write when another writer got in between (no If-Match sent). */
  readonly maxAttempts?: number;
  /**
   * Whether an app may name a loopback Key Vault (an emulator): only when the rotator itself runs
   * against emulators (a loopback authority). Default false.
   */
  readonly allowLoopbackVaultUrls?: boolean;
  /**
   * Queues the first certificate of an app created with `bootstrap: true` (docs/configuration.md), under the renewal
   * id the create recorded as queued (so the scheduler re-sends that same id if the message is lost).
   */
  readonly requestBootstrap?: (appId: string, renewalId: string) => Promise<unknown>;
  /** The clock of the `expiringWithinDays` filter. */
  readonly now?: () => Date;
  /** Key Vault read access (docs/consumers.md): granted on create and update, removed on delete. Absent: not managed. */
  readonly access?: AccessReviewer;
  /** Tells the admins (email, event) that `state.access` changed to a status that needs them. */
  readonly notifyAccess?: (app: StoredApp) => Promise<StoredApp>;
  /** The tenant's app management policies, checked on create and update (docs/renewal.md, "Preflight"). Absent: not checked. */
  readonly policies?: AppManagementPolicyReader;
}

export function toAppView(app: StoredApp): AppView {
  const { appId, displayName, ...config } = app.config;
  return {
    appId,
    displayName,
    config,
    state: app.state,
    etag: app.etag,
    createdAt: app.createdAt,
    updatedAt: app.updatedAt,
    updatedBy: app.updatedBy,
  };
}

function parseInput(body: unknown): AppSettingsInput {
  if (!isPlainObject(body)) throw ValidationError.forField('', 'must be a JSON object with the app configuration');
  const result = appConfigInputSchema.safeParse(body);
  if (!result.success) throw new ValidationError(toFieldIssues(result.error));
  return result.data;
}

/** The client's own If-Match / If-None-Match failed on a fresh read: another attempt cannot change that. */
class ClientPreconditionFailedError extends PreconditionFailedError {}

function checkIfMatch(current: StoredApp | undefined, options: WriteOptions, appId: string): void {
  if (options.ifNoneMatch !== undefined && current !== undefined) {
    throw new ClientPreconditionFailedError(`App ${appId} exists already (If-None-Match: ${options.ifNoneMatch})`);
  }
  if (options.ifMatch === undefined) return;
  if (current === undefined) throw new ClientPreconditionFailedError(`App ${appId} is not managed, so If-Match cannot match`);
  if (options.ifMatch !== '*' && options.ifMatch !== current.etag) {
    throw new ClientPreconditionFailedError(
      `App ${appId} has changed since ETag ${options.ifMatch}; read it again and reapply your change`,
    );
  }
}

function required(app: StoredApp | undefined, appId: string): StoredApp {
  if (!app) throw new NotFoundError(`App ${appId} is not managed by the rotator`);
  return app;
}

export class AppService {
  readonly #store: AppRepository;
  readonly #directory: AppRegistrationDirectory;
  readonly #placement: KeyVaultPlacement;
  readonly #maxAttempts: number;
  readonly #requestBootstrap: ((appId: string, renewalId: string) => Promise<unknown>) | undefined;
  readonly #access: AccessReviewer | undefined;
  readonly #notifyAccess: ((app: StoredApp) => Promise<StoredApp>) | undefined;
  readonly #now: () => Date;
  readonly #policies: AppManagementPolicyReader | undefined;

  constructor(options: AppServiceOptions) {
    this.#policies = options.policies;
    this.#access = options.access;
    this.#notifyAccess = options.notifyAccess;
    this.#requestBootstrap = options.requestBootstrap;
    this.#store = options.store;
    this.#directory = options.directory;
    this.#placement = new KeyVaultPlacement({
      store: options.store,
      defaultKeyVaultUrl: options.defaultKeyVaultUrl,
      defaultKeyVaultResourceId: options.defaultKeyVaultResourceId,
      allowLoopbackVaultUrls: options.allowLoopbackVaultUrls ?? false,
    });
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#now = options.now ?? (() => new Date());
  }

  async getApp(appId: string): Promise<AppView> {
    return toAppView(await this.#require(appId));
  }

  /**
   * A page of apps; with `expiringWithinDays`, only those whose current certificate expires within
   * that many days (or has expired). The filter runs on each stored page (the state is JSON, not a
   * column), so a page may hold fewer items than asked, even none, with a continuation token.
   */
  async listApps(page: PageOptions, filter: { readonly expiringWithinDays?: number } = {}): Promise<Page<AppView>> {
    const result = await this.#store.listApps(page);
    const within = filter.expiringWithinDays;
    const limit = within === undefined ? undefined : this.#now().getTime() + within * 86_400_000;
    const items = limit === undefined ? result.items : result.items.filter((app) => expiresBy(app.state.notAfter, limit));
    return { items: items.map(toAppView), continuationToken: result.continuationToken };
  }

  async listHistory(appId: string, page: PageOptions): Promise<Page<HistoryEntry>> {
    const result = await this.#store.listHistory(appId, page);
    // An app that is no longer managed keeps its history (it is an audit trail); an app that never
    // was has none.
    if (result.items.length === 0 && page.continuationToken === undefined && !(await this.#store.getApp(appId))) {
      throw new NotFoundError(`App ${appId} is not managed and has no history`);
    }
    return result;
  }

  /** PUT: creates the app (with the directory preflight) or replaces its whole config. */
  async putApp(appId: string, body: unknown, options: WriteOptions): Promise<{ app: AppView; created: boolean }> {
    const input = parseInput(body);
    return this.#withRetries(appId, options, async (current) => {
      checkIfMatch(current, options, appId);
      if (current === undefined) return { app: toAppView(await this.#create(appId, input, options.caller)), created: true };
      const config = await this.#resolve(input, current);
      return { app: toAppView(await this.#update(current, config, 'config.replaced', options.caller)), created: false };
    });
  }

  /** PATCH: a JSON merge patch onto the current config, validated as a whole. */
  async patchApp(appId: string, patch: unknown, options: WriteOptions): Promise<AppView> {
    if (!isPlainObject(patch)) throw ValidationError.forField('', 'must be a JSON object (a merge patch of the app configuration)');
    // mergePatch recurses and assigns keys: bounded depth and no prototype keys first.
    const shapeIssues = jsonShapeIssues(patch);
    if (shapeIssues.length > 0) throw new ValidationError(shapeIssues);
    return this.#withRetries(appId, options, async (found) => {
      const current = required(found, appId);
      checkIfMatch(current, options, appId);
      const { appId: _appId, displayName: _displayName, ...settings } = current.config;
      const input = parseInput(mergePatch(settings, patch));
      const config = await this.#resolve(input, current);
      return toAppView(await this.#update(current, config, 'config.updated', options.caller));
    });
  }

  /** DELETE: stops managing the app. Its certificates stay on the app registration and in Key Vault. */
  async deleteApp(appId: string, options: WriteOptions): Promise<void> {
    await this.#withRetries(appId, options, async (found) => {
      const current = required(found, appId);
      checkIfMatch(current, options, appId);
      const left = await this.#revokeAll(current);
      // The history outlives the app: what is left to remove by hand stays on record.
      if (left !== undefined) {
        await this.#store.appendHistory(
          appId,
          { action: 'access.revoked', trigger: 'api', outcome: 'failed', error: left },
          options.caller,
        );
      }
      await this.#store.deleteApp(current, {
        actor: options.caller,
        history: { action: 'config.deleted', trigger: 'api', outcome: 'succeeded' },
      });
    });
  }

  async #require(appId: string): Promise<StoredApp> {
    return required(await this.#store.getApp(appId), appId);
  }

  /**
   * Re-runs the read-check-write when another writer changed the app between our read and our write.
   * With a client ETag there is nothing to retry: the client's version is stale, and it hears 412.
   */
  #withRetries<T>(appId: string, options: WriteOptions, write: (current: StoredApp | undefined) => Promise<T>): Promise<T> {
    const conditional = (options.ifMatch !== undefined && options.ifMatch !== '*') || options.ifNoneMatch !== undefined;
    return retryOnETagConflict(this.#store, appId, write, {
      attempts: this.#maxAttempts,
      retries: (error) => !conditional && !(error instanceof ClientPreconditionFailedError),
      exhausted: () => new ConflictError('The app is being changed by others at the same time; try again', { retryAfterSeconds: 1 }),
    });
  }

  async #create(appId: string, input: AppSettingsInput, caller: Actor): Promise<StoredApp> {
    // Validated before the preflight: Entra is not asked about a body that cannot be stored.
    const vaultUrl = this.#placement.vaultUrl(input);
    checkResourceId(vaultUrl, input.keyVault.resourceId);
    const registration = await this.#directory.getAppRegistration(appId).catch((error: unknown) => {
      if (error instanceof NotFoundError) {
        throw new ValidationError([{ path: 'appId', message: `names no app registration in the managed tenant: ${error.message}` }]);
      }
      throw error;
    });
    await this.#directory.assertManageable(appId, input.graphMode);
    const keyVault = await this.#placement.forCreate(appId, registration.displayName, input, vaultUrl);
    const config: AppConfig = { ...input, appId, displayName: registration.displayName, keyVault };
    // A bootstrap app is created already marked queued for its first certificate (it is due at
    // once in the due index), in the same write; the message follows. Should it be lost, the
    // scheduler re-sends the same renewal id once the mark is stale, so the first certificate is
    // made exactly once either way.
    const bootstrap = config.bootstrap && config.enabled ? randomUUID() : undefined;
    const preflight = await this.#preflight(config);
    // No certificate is in the vault yet, so this only records what the grants wait for.
    const review = await this.#access?.review(config, renewalStateSchema.parse({}));
    const stored = await this.#store.createApp({
      config,
      state: {
        ...(bootstrap ? { queued: { renewalId: bootstrap, forDueAt: BOOTSTRAP_DUE_AT.toISOString(), at: new Date().toISOString() } } : {}),
        ...(review?.access ? { access: review.access } : {}),
        ...(preflight ? { preflight } : {}),
      },
      actor: caller,
      history: { action: 'config.created', trigger: 'api', outcome: 'succeeded', changes: changedPaths({}, this.#settingsOf(config)) },
    });
    if (bootstrap) await this.#requestBootstrap?.(appId, bootstrap);
    return review?.notify ? this.#told(stored) : stored;
  }

  /** The whole config of a replace/patch: the stored identity, Key Vault settings resolved. */
  async #resolve(input: AppSettingsInput, current: StoredApp): Promise<AppConfig> {
    const { appId, displayName } = current.config;
    const keyVault = await this.#placement.forReplace(input, current.config);
    if (input.graphMode !== current.config.graphMode) await this.#directory.assertManageable(appId, input.graphMode);
    return { ...input, appId, displayName, keyVault };
  }

  #settingsOf(config: AppConfig): z.output<typeof appConfigInputSchema> {
    const { appId: _a, displayName: _d, ...settings } = config;
    return settings;
  }

  async #update(current: StoredApp, config: AppConfig, action: string, caller: Actor): Promise<StoredApp> {
    const changes = changedPaths(this.#settingsOf(current.config), this.#settingsOf(config));
    // Nothing changed: no write, no new ETag, no history row.
    if (changes.length === 0) return current;
    const preflight = await this.#preflight(config);
    // Grants follow the config in the same write; a refusal is recorded there, never a failed write.
    const review = await this.#access?.review(config, current.state);
    const stored = await this.#store.updateApp(current, {
      config,
      ...(review || preflight
        ? { state: { ...current.state, ...(review ? { access: review.access } : {}), ...(preflight ? { preflight } : {}) } }
        : {}),
      actor: caller,
      history: { action, trigger: 'api', outcome: 'succeeded', changes },
    });
    return review?.notify ? this.#told(stored) : stored;
  }

  /**
   * The config against the app management policies that bind the app: a lifetime above the policy's
   * cap is a 400 on lifetimeDays, a trusted-CA rule a precondition error, both naming the policy;
   * what only needs attention comes back as the state's warnings. A disabled config is never
   * renewed, so what a policy would refuse is only a warning there: an admin can always switch an
   * app off, and switching it on again is checked.
   */
  async #preflight(config: AppConfig): Promise<RenewalState['preflight']> {
    if (!this.#policies) return undefined;
    const { refusal, warnings } = await preflightOutcome(this.#policies, config);
    const checkedAt = this.#now().toISOString();
    if (refusal && !config.enabled) return { checkedAt, warnings: [`when enabled: ${refusal.message}`, ...warnings] };
    if (refusal?.kind === 'lifetime') throw ValidationError.forField('lifetimeDays', refusal.message);
    if (refusal) throw new PreconditionError(refusal.message);
    return { checkedAt, warnings: [...warnings] };
  }

  /** Email and event about the new access status; a failure to send is recorded as pending, not thrown. */
  async #told(app: StoredApp): Promise<StoredApp> {
    return this.#notifyAccess ? this.#notifyAccess(app) : app;
  }

  /** Removes the grants the rotator made for an app it stops managing; says what is left, if anything. */
  async #revokeAll(app: StoredApp): Promise<string | undefined> {
    if (!this.#access || (app.state.access?.grants.length ?? 0) === 0) return undefined;
    const nothing = { ...app.config, keyVault: { ...app.config.keyVault, grantAppRead: false, readers: [] } };
    const { access } = await this.#access.review(nothing, app.state);
    if (!access || access.grants.length === 0) return undefined;
    const left = access.grants.map((grant) => `${grant.role} of ${grant.principalId} on ${grant.scope} (${grant.name})`).join(', ');
    return `these role assignments could not be removed and must be removed by hand: ${left}. ${access.message ?? ''}`.trim();
  }
}

/** A certificate expiring by `limit` (ms); an app with no certificate yet has nothing to expire. */
function expiresBy(notAfter: string | undefined, limit: number): boolean {
  return notAfter !== undefined && Date.parse(notAfter) <= limit;
}
