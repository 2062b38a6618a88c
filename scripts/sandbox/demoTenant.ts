import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../../src/lib/domain/appConfig.js';
import type { AppStore } from '../../src/lib/tables/appStore.js';
import { generateCertificate } from '../../src/lib/certificates/generateCertificate.js';
import { managedDisplayName } from '../../src/lib/graph/appRegistrationClient.js';
import { ROLES, type Role } from '../../src/lib/http/bearerAuthenticator.js';
import { keyIdForRenewal } from '../../src/lib/renewal/deployStage.js';
import type { EntraAuthority } from '../../test/emulators/entraAuthority.js';
import type { GraphEmulator } from '../../test/emulators/graph.js';
import type { KeyVaultEmulator } from '../../test/emulators/keyVault.js';

/**
 * The sandbox's demo tenant, and the one piece of sandbox-only code that writes state behind the
 * product's back: a certificate due for renewal within minutes cannot be made through the API (a
 * new one starts now and lives at least 30 days), so the seed writes a backdated one straight into
 * the Graph and Key Vault emulators and the store, exactly as a completed renewal would have left
 * them. Ids are fixed so that the README's commands work as written.
 */
export const DEMO = {
  tenantId: '5a4db0c5-0000-4000-8000-000000000000',
  /** The rotator's managed identity (what the Function App's system-assigned identity is in Azure). */
  rotator: { clientId: '5a4db0c5-0000-4000-8000-0000000000f1', principalId: '5a4db0c5-0000-4000-8000-0000000000f2' },
  /** The API's own app registration: App ID URI and client id, both accepted as `aud`. */
  api: { audience: 'api://entra-cert-rotator-sandbox', clientId: '5a4db0c5-0000-4000-8000-0000000000a1' },
  /** Managed, Key Vault and notifications on, renewal due a few minutes after the first start. */
  managedApp: { appId: '5a4db0c5-0000-4000-8000-000000000001', displayName: 'Contoso Payments API' },
  /** In Entra (the rotator owns it) but not managed yet: the quick start creates its config. */
  unmanagedApp: { appId: '5a4db0c5-0000-4000-8000-000000000002', displayName: 'Contoso Reporting Worker' },
  /** The Key Vault emulator's resource id (DEFAULT_KEYVAULT_RESOURCE_ID), scope of the access grants. */
  vaultResourceId:
    '/subscriptions/5a4db0c5-0000-4000-8000-0000000000c1/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-sandbox',
  recipients: ['platform-team@contoso.example'],
  emailSender: 'DoNotReply@sandbox.contoso.example',
  /** Object ids of the people the role tokens stand for. */
  users: {
    'CertRotator.Reader': '5a4db0c5-0000-4000-8000-0000000000b1',
    'CertRotator.Operator': '5a4db0c5-0000-4000-8000-0000000000b2',
    'CertRotator.Admin': '5a4db0c5-0000-4000-8000-0000000000b3',
  } satisfies Record<Role, string>,
} as const;

const DAY_MS = 24 * 3600 * 1000;
/** The demo app's policy: the smallest lifetime the product allows, renewed a week before expiry. */
const DEMO_LIFETIME_DAYS = 30;
const DEMO_RENEW_BEFORE_DAYS = 7;
/** Written by RenewalService on every Key Vault version it imports (its MANAGED_TAG). */
const MANAGED_TAG = 'entra-cert-rotator';

export interface SeedResult {
  readonly renewalDueAt: Date;
  readonly thumbprint: string;
}

/** Registers the demo apps in Entra (Graph) and gives the managed one its backdated certificate everywhere. */
export async function seedDemoTenant(options: {
  graph: GraphEmulator;
  keyVault: KeyVaultEmulator;
  store: AppStore;
  dueInSeconds: number;
  now?: Date;
}): Promise<SeedResult> {
  const { graph, keyVault, store } = options;
  const now = options.now ?? new Date();
  const owners = [{ id: DEMO.rotator.principalId, type: 'servicePrincipal' as const, appId: DEMO.rotator.clientId }];
  for (const app of [DEMO.managedApp, DEMO.unmanagedApp]) {
    graph.createApplication({ tenantId: DEMO.tenantId, appId: app.appId, displayName: app.displayName, owners });
  }

  // notAfter − renewBeforeDays = due; generateCertificate backdates notBefore by its 5 minutes of skew.
  const renewalDueAt = new Date(now.getTime() + options.dueInSeconds * 1000);
  const notAfter = new Date(renewalDueAt.getTime() + DEMO_RENEW_BEFORE_DAYS * DAY_MS);
  const certificate = await generateCertificate({
    displayName: DEMO.managedApp.displayName,
    lifetimeDays: DEMO_LIFETIME_DAYS,
    now: new Date(notAfter.getTime() - DEMO_LIFETIME_DAYS * DAY_MS + 5 * 60 * 1000),
  });
  const renewalId = randomUUID();
  const certificateName = 'contoso-payments-api';
  const credential = graph.seedCertificate(DEMO.managedApp.appId, certificate.der, {
    keyId: keyIdForRenewal(renewalId),
    displayName: managedDisplayName(certificate),
    addedAt: certificate.notBefore,
  });
  const version = keyVault.seedCertificate(certificateName, {
    der: certificate.der,
    privateKey: certificate.privateKey,
    tags: { managedBy: MANAGED_TAG, appId: DEMO.managedApp.appId, renewalId, thumbprint: certificate.thumbprints.sha1 },
  });

  const config: AppConfig = {
    appId: DEMO.managedApp.appId,
    displayName: DEMO.managedApp.displayName,
    enabled: true,
    lifetimeDays: DEMO_LIFETIME_DAYS,
    renewBeforeDays: DEMO_RENEW_BEFORE_DAYS,
    keySize: 2048,
    graphMode: 'owner',
    bootstrap: false,
    // A threshold below the days left, so the first email the demo sends is the renewal's.
    notifications: { enabled: true, recipients: [...DEMO.recipients], thresholdDays: 3, includeCertificate: true, attachmentFormat: 'cer' },
    keyVault: {
      enabled: true,
      vaultUrl: keyVault.vaultUrl,
      certificateName,
      resourceId: DEMO.vaultResourceId,
      grantAppRead: true,
      readers: [],
    },
  };
  const verifiedAt = new Date(certificate.notBefore.getTime() + 60_000).toISOString();
  await store.createApp({
    config,
    state: {
      currentThumbprint: certificate.thumbprints.sha1,
      currentThumbprintSha256: certificate.thumbprints.sha256,
      keyId: credential.keyId,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      verifiedAt,
      lastOutcome: 'verified',
      lastOutcomeAt: verifiedAt,
      keySize: certificate.keySize,
      keyVaultVersion: version.version,
      keyVaultId: `${keyVault.vaultUrl}certificates/${certificateName}/${version.version}`,
      renewal: { id: renewalId, trigger: 'manual', stage: 'completed', deployedAt: certificate.notBefore.toISOString() },
    },
    history: {
      action: 'config.created',
      trigger: 'sandbox-seed',
      outcome: 'succeeded',
      thumbprint: certificate.thumbprints.sha1,
      at: certificate.notBefore.toISOString(),
    },
  });
  return { renewalDueAt, thumbprint: certificate.thumbprints.sha1 };
}

/** One bearer token per API role, as Entra would issue them to three admins, valid for 24 hours. */
export async function issueRoleTokens(authority: EntraAuthority): Promise<{ tokens: Record<string, string>; expiresAt: Date }> {
  const lifetimeSeconds = 24 * 3600;
  const expiresAt = new Date(Date.now() + lifetimeSeconds * 1000);
  const tokens: Record<string, string> = {};
  for (const role of ROLES) {
    const short = role.replace('CertRotator.', '');
    tokens[short] = await authority.issueAccessToken({
      tenantId: DEMO.tenantId,
      audience: DEMO.api.audience,
      version: 2,
      roles: [role],
      oid: DEMO.users[role],
      name: `Sandbox ${short}`,
      claims: { preferred_username: `${short.toLowerCase()}@contoso.example`, scp: 'user_impersonation' },
      lifetimeSeconds,
    });
  }
  return { tokens, expiresAt };
}

/**
 * The dashboard's sign-in (README, Dashboard): the API's app registration with the dashboard's address
 * on its single-page-app platform (what scripts/register-api-app.sh --spa-redirect-uri does in Entra),
 * and the three people behind the role tokens, one role each, for the authority's pick-a-user page.
 */
export function registerDashboardSignIn(authority: EntraAuthority, dashboardUrl: string): void {
  authority.signIn.registerSinglePageApp({
    tenantId: DEMO.tenantId,
    clientId: DEMO.api.clientId,
    appIdUri: DEMO.api.audience,
    redirectUris: [dashboardUrl],
    scopes: ['user_impersonation'],
  });
  for (const role of ROLES) {
    const short = role.replace('CertRotator.', '');
    authority.signIn.addUser({
      tenantId: DEMO.tenantId,
      oid: DEMO.users[role],
      name: `Sandbox ${short}`,
      username: `${short.toLowerCase()}@contoso.example`,
      appRoles: [role],
    });
  }
}
