import type { EmulatorRequest } from './emulatorServer.js';
import type { EntraAuthority } from './entraAuthority.js';
import type { GraphApplication } from './graph.js';
import { GraphFailure } from './graphFailure.js';

/**
 * Who calls the Graph emulator and what they may do: the bearer token's tenant, object id, app id
 * and roles. Permissions as Graph documents them (https://learn.microsoft.com/graph/api/application-get
 * and friends): Application.ReadWrite.OwnedBy (owned apps only) / Application.ReadWrite.All /
 * Application.Read.All; owners per https://learn.microsoft.com/graph/api/application-list-owners.
 */

const WRITE_ALL = ['Application.ReadWrite.All', 'Directory.ReadWrite.All'];
const READ_ALL = ['Application.Read.All', 'Directory.Read.All', ...WRITE_ALL];
const OWNED_BY = 'Application.ReadWrite.OwnedBy';

export interface GraphCaller {
  tenantId: string;
  oid: string;
  appId: string;
  roles: string[];
}

/** The caller of a request, from an access token the authority issued for one of `audiences`. */
export async function authenticateCaller(request: EmulatorRequest, authority: EntraAuthority, audiences: string[]): Promise<GraphCaller> {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || !/^Bearer \S+$/i.test(header)) {
    throw new GraphFailure(401, 'InvalidAuthenticationToken', 'Access token is empty.');
  }
  const claims = await authority.verifyAccessToken(header.slice(7), audiences);
  if (!claims)
    throw new GraphFailure(
      401,
      'InvalidAuthenticationToken',
      'Access token validation failure. Invalid audience, issuer, signature or lifetime.',
    );
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    tenantId: str(claims.tid).toLowerCase(),
    oid: str(claims.oid).toLowerCase(),
    appId: (str(claims.appid) || str(claims.azp)).toLowerCase(),
    roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
  };
}

function isOwner(app: GraphApplication, caller: GraphCaller): boolean {
  return app.owners.some((o) => o.id.toLowerCase() === caller.oid);
}

export function canRead(app: GraphApplication, caller: GraphCaller): boolean {
  return caller.roles.some((r) => READ_ALL.includes(r)) || (caller.roles.includes(OWNED_BY) && isOwner(app, caller));
}

export function canWrite(app: GraphApplication, caller: GraphCaller): boolean {
  return caller.roles.some((r) => WRITE_ALL.includes(r)) || (caller.roles.includes(OWNED_BY) && isOwner(app, caller));
}

/**
 * Application.Read.All, or Application.ReadWrite.OwnedBy, which "allows an app to call … GET
 * /servicePrincipals to list all … service principals in the tenant" (serviceprincipal-get).
 */
export function canReadServicePrincipals(caller: GraphCaller): boolean {
  return caller.roles.some((r) => READ_ALL.includes(r) || r === OWNED_BY);
}

export function mayRollKeys(app: GraphApplication, caller: GraphCaller): boolean {
  // "Applications don't need any specific permission to roll their own keys."
  return caller.appId === app.appId || canWrite(app, caller);
}
