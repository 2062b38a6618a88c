import type { Client } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import type { AppManagementPolicyReader, PolicyFacts, PolicyOfApp } from '../domain/appManagementPolicy.js';
import { AccessDeniedError } from '../errors.js';
import { toRotatorError } from './graphErrors.js';

/**
 * The app management policies that bind an app, through Microsoft Graph: the tenant default
 * (GET /policies/defaultAppManagementPolicy, Policy.Read.All), the app's own (GET
 * /applications/{id}/appManagementPolicies, Policy.Read.All and Application.Read.All), and the app's
 * creation time, certificate count and collection items. The tenant default is kept for five minutes per process: it
 * changes rarely, and a renewal burst would otherwise read it once per app.
 */

const TENANT_POLICY_CACHE_MS = 5 * 60_000;
const restriction = z
  .object({
    restrictionType: z.string(),
    maxLifetime: z.string().nullable().optional(),
    restrictForAppsCreatedAfterDateTime: z.string().nullable().optional(),
    state: z.string().nullable().optional(),
  })
  .loose();
const tenantPolicySchema = z
  .object({
    id: z.string(),
    displayName: z.string().nullable().optional(),
    isEnabled: z.boolean(),
    applicationRestrictions: z
      .object({ keyCredentials: z.array(restriction).nullable().optional() })
      .loose()
      .nullable()
      .optional(),
  })
  .loose();
const appPoliciesSchema = z.object({
  value: z.array(
    z
      .object({
        id: z.string(),
        displayName: z.string().nullable().optional(),
        isEnabled: z.boolean(),
        restrictions: z
          .object({ keyCredentials: z.array(restriction).nullable().optional() })
          .loose()
          .nullable()
          .optional(),
      })
      .loose(),
  ),
});
const list = z.array(z.unknown()).nullable().optional();
const redirects = z.object({ redirectUris: list }).loose().nullable().optional();
const appSchema = z
  .object({
    id: z.string(),
    createdDateTime: z.string().nullable().optional(),
    keyCredentials: z.array(z.unknown()),
    passwordCredentials: list,
    identifierUris: list,
    appRoles: list,
    tags: list,
    addIns: list,
    requiredResourceAccess: z
      .array(z.object({ resourceAccess: list }).loose())
      .nullable()
      .optional(),
    api: z
      .object({ oauth2PermissionScopes: list, preAuthorizedApplications: list, knownClientApplications: list })
      .loose()
      .nullable()
      .optional(),
    web: redirects,
    spa: redirects,
    publicClient: redirects,
  })
  .loose();
/** The app object's collection properties, which Entra limits to about 1,000 items in all (decide/appManagementPolicy.ts). */
const APP_SELECT =
  'id,createdDateTime,keyCredentials,passwordCredentials,identifierUris,appRoles,tags,addIns,requiredResourceAccess,api,web,spa,publicClient';
/**
 * Graph names enum members added after unknownFutureValue only to a client that asks
 * (learn.microsoft.com/graph/best-practices-concept, evolvable enumerations): without it a newer
 * restriction type reads as unknownFutureValue.
 */
const PREFER_ENUMS = 'include-unknown-enum-members';

function collectionItems(app: z.output<typeof appSchema>): number {
  const n = (items: readonly unknown[] | null | undefined) => items?.length ?? 0;
  return (
    app.keyCredentials.length +
    n(app.passwordCredentials) +
    n(app.identifierUris) +
    n(app.appRoles) +
    n(app.tags) +
    n(app.addIns) +
    (app.requiredResourceAccess ?? []).reduce((sum, r) => sum + 1 + n(r.resourceAccess), 0) +
    n(app.api?.oauth2PermissionScopes) +
    n(app.api?.preAuthorizedApplications) +
    n(app.api?.knownClientApplications) +
    n(app.web?.redirectUris) +
    n(app.spa?.redirectUris) +
    n(app.publicClient?.redirectUris)
  );
}

export class AppManagementPolicyClient implements AppManagementPolicyReader {
  readonly #graph: Client;
  readonly #now: () => number;
  #tenant: { policy: PolicyOfApp | undefined; at: number } | undefined;

  constructor(options: { graph: Client; now?: () => number }) {
    this.#graph = options.graph;
    this.#now = options.now ?? Date.now;
  }

  async policyFacts(appId: string): Promise<PolicyFacts | { readonly unreadable: string }> {
    try {
      const app = appSchema.parse(await this.#graph.api(`/applications(appId='${appId}')`).select(APP_SELECT).get());
      const [tenant, own] = await Promise.all([
        this.#tenantPolicy(),
        this.#graph.api(`/applications/${app.id}/appManagementPolicies`).header('Prefer', PREFER_ENUMS).get() as Promise<unknown>,
      ]);
      return {
        tenant,
        app: appPoliciesSchema.parse(own).value.map((p) => ({
          id: p.id,
          displayName: p.displayName ?? null,
          isEnabled: p.isEnabled,
          keyCredentials: p.restrictions?.keyCredentials ?? [],
        })),
        appCreatedAt: app.createdDateTime ? new Date(app.createdDateTime) : undefined,
        keyCredentialCount: app.keyCredentials.length,
        collectionItems: collectionItems(app),
      };
    } catch (error) {
      const translated = toRotatorError(error, { appId, operation: 'read' });
      // Without Policy.Read.All the policies cannot be read: a warning to fix, not a refusal.
      if (translated instanceof AccessDeniedError) {
        return {
          unreadable: `the rotator may not read the tenant's app management policies: grant its identity the Graph application permission Policy.Read.All (${translated.message})`,
        };
      }
      throw translated;
    }
  }

  async #tenantPolicy(): Promise<PolicyOfApp | undefined> {
    if (this.#tenant && this.#now() - this.#tenant.at < TENANT_POLICY_CACHE_MS) return this.#tenant.policy;
    const policy = tenantPolicySchema.parse(
      await this.#graph.api('/policies/defaultAppManagementPolicy').header('Prefer', PREFER_ENUMS).get(),
    );
    const parsed: PolicyOfApp = {
      id: policy.id,
      displayName: policy.displayName ?? null,
      isEnabled: policy.isEnabled,
      keyCredentials: policy.applicationRestrictions?.keyCredentials ?? [],
    };
    this.#tenant = { policy: parsed, at: this.#now() };
    return parsed;
  }
}
