import { isAbsolute, join, relative } from 'node:path';
import type { StoredApp } from '../../src/lib/domain/storedApp.js';
import { DEMO } from './demoTenant.js';
import { AT_RISK_HORIZON_DAYS } from './expiryFigures.js';
import type { SandboxLayout } from './sandboxLayout.js';

/** A path relative to the working directory when it lies under it, else as is: what the user can paste. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** What the banner reports of a started sandbox. */
export interface RunningSandbox {
  /** Whether the state was kept from the last run. */
  readonly kept: boolean;
  readonly apiBaseUrl: string;
  readonly dashboardUrl: string;
  readonly paths: SandboxLayout['paths'];
  /** The demo apps as stored: undefined while not managed. */
  readonly managed: StoredApp | undefined;
  readonly reporting: StoredApp | undefined;
  readonly tokensExpireAt: Date;
  /** SANDBOX_APP's entry point, when the host runs a deploy package. */
  readonly appEntryPoint: string | undefined;
  readonly emulators: {
    readonly authority: string;
    readonly graph: string;
    readonly keyVault: string;
    readonly email: string;
    readonly eventGrid: string;
    readonly resourceManager: string;
  };
  readonly storage: { readonly tableEndpoint: string; readonly queueEndpoint: string };
  readonly caPath: string;
  /** The safety net's figures (expiryFigures.ts), or the line saying they could not be read. */
  readonly expiry: readonly string[];
}

/** The lines printed once the sandbox runs: where everything is and what to try first. */
export function sandboxBanner(s: RunningSandbox): string {
  const { apiBaseUrl, dashboardUrl, paths, managed, reporting } = s;
  const adminToken = displayPath(join(paths.tokens, 'admin.jwt'));
  const due = managed?.state.nextRenewalDueAt;
  return [
    '',
    `Entra Cert Rotator sandbox is running${s.kept ? ' (state kept from the last run; --reset starts clean)' : ''}. Ctrl-C stops it.`,
    '',
    `  API        ${apiBaseUrl}`,
    `  Dashboard  ${dashboardUrl} (sign in as Sandbox Reader, Operator or Admin; the browser must trust the CA below, or accept ${s.emulators.authority} once)`,
    `  Tenant     ${DEMO.tenantId}`,
    `  Demo apps  ${DEMO.managedApp.appId}  ${DEMO.managedApp.displayName}: ${managed ? `managed, renewal due ${due ?? '(not scheduled)'}` : 'in Entra, not managed'}`,
    `             ${DEMO.unmanagedApp.appId}  ${DEMO.unmanagedApp.displayName}: ${reporting ? `managed, renewal due ${reporting.state.nextRenewalDueAt ?? '(not scheduled)'}` : 'in Entra, not managed yet'}`,
    `  Tokens     ${displayPath(paths.sandboxJson)} and ${displayPath(paths.tokens)}/{reader,operator,admin}.jwt (valid until ${s.tokensExpireAt.toISOString()})`,
    `  Emails     ${displayPath(paths.outbox)}/*.eml`,
    `  Events     ${displayPath(paths.events)}`,
    ...(s.appEntryPoint ? [`  App        ${displayPath(s.appEntryPoint)} (SANDBOX_APP)`] : []),
    `  Emulators  authority ${s.emulators.authority}, Graph ${s.emulators.graph}, Key Vault ${s.emulators.keyVault}, email ${s.emulators.email}, Event Grid ${s.emulators.eventGrid}, Resource Manager ${s.emulators.resourceManager}`,
    `  Storage    Azurite, tables ${s.storage.tableEndpoint}, queues ${s.storage.queueEndpoint}`,
    `  CA         ${displayPath(s.caPath)} (NODE_EXTRA_CA_CERTS for your own clients of the emulators)`,
    ...s.expiry,
    '',
    'Try:',
    `  curl -s ${apiBaseUrl}/apps -H "Authorization: Bearer $(cat ${adminToken})"`,
    `  curl -s "${apiBaseUrl}/apps?expiringWithinDays=${AT_RISK_HORIZON_DAYS}" -H "Authorization: Bearer $(cat ${adminToken})"`,
    '',
  ].join('\n');
}
