import type { GraphApplication } from './graph.js';
import { presentCollections } from './graphAppObject.js';
import { badRequest } from './graphFailure.js';
import { graphDate, presentKeyCredential } from './graphKeyCredential.js';

/**
 * An application, its owners and its service principal as Graph v1.0 answers them, for the Graph
 * emulator (graph.ts keeps the routes): https://learn.microsoft.com/graph/api/resources/application,
 * https://learn.microsoft.com/graph/api/application-get (`$select` of known properties only),
 * https://learn.microsoft.com/graph/api/application-list-owners, serviceprincipal-get.
 */

/** The properties `$select` names, or undefined without one. */
export function selectedFields(url: URL): string[] | undefined {
  const select = url.searchParams.get('$select');
  return select === null
    ? undefined
    : select
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

export function presentApplication(app: GraphApplication, select: string[] | undefined, withKeys: boolean): Record<string, unknown> {
  const full: Record<string, unknown> = {
    id: app.id,
    deletedDateTime: null,
    appId: app.appId,
    createdDateTime: graphDate(app.createdDateTime),
    displayName: app.displayName,
    signInAudience: app.signInAudience ?? 'AzureADMyOrg',
    publisherDomain: 'contoso.onmicrosoft.com',
    ...presentCollections(app.collections),
    passwordCredentials: (app.passwordCredentials ?? []).map((c) => ({
      customKeyIdentifier: null,
      displayName: c.displayName,
      endDateTime: graphDate(c.endDateTime),
      hint: c.hint,
      keyId: c.keyId,
      secretText: null,
      startDateTime: graphDate(c.startDateTime),
    })),
    keyCredentials: app.keyCredentials.map((c) => presentKeyCredential(c, withKeys)),
  };
  if (!select) return full;
  const unknown = select.filter((s) => !(s in full));
  if (unknown.length > 0) throw badRequest(`Could not find a property named '${unknown[0]}' on type 'microsoft.graph.application'.`);
  return Object.fromEntries(select.map((s) => [s, full[s]]));
}

export function ownersBody(graphUrl: string, app: GraphApplication): Record<string, unknown> {
  return {
    '@odata.context': `${graphUrl}/v1.0/$metadata#directoryObjects`,
    value: app.owners.map((o) => ({
      '@odata.type': `#microsoft.graph.${o.type}`,
      id: o.id,
      displayName: o.displayName ?? null,
      ...(o.type === 'servicePrincipal' ? { appId: o.appId ?? null } : {}),
    })),
  };
}

/** Only the service principal's fields the rotator reads. */
export function servicePrincipalBody(graphUrl: string, app: GraphApplication): Record<string, unknown> {
  return {
    '@odata.context': `${graphUrl}/v1.0/$metadata#servicePrincipals/$entity`,
    id: app.servicePrincipalId,
    appId: app.appId,
    displayName: app.displayName,
    servicePrincipalType: 'Application',
    accountEnabled: true,
  };
}
