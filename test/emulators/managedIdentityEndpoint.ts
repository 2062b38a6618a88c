import type { EmulatorRequest, EmulatorResponse } from './emulatorServer.js';
import type { ManagedIdentity } from './entraAuthority.js';

/**
 * App Service managed identity, protocol 2019-08-01, for the Entra authority emulator:
 * https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
 * (GET IDENTITY_ENDPOINT?resource=…&api-version=2019-08-01 with header X-IDENTITY-HEADER; answer
 * { access_token, expires_on (epoch seconds as a string), resource, token_type, client_id }).
 */

export interface ManagedIdentityTokenRequest {
  readonly identity: ManagedIdentity;
  /** The resource as asked for, answered back as is. */
  readonly resource: string;
  /** The resource without `/.default` or a trailing slash. */
  readonly normalized: string;
}

/** The identity and resource a request is for, or the endpoint's refusal. */
export function parseManagedIdentityRequest(
  request: EmulatorRequest,
  identities: ReadonlyMap<string, ManagedIdentity>,
): ManagedIdentityTokenRequest | { refusal: EmulatorResponse } {
  const header = request.headers['x-identity-header'];
  const identity = typeof header === 'string' ? identities.get(header) : undefined;
  if (!identity) {
    return { refusal: { status: 401, body: { statusCode: 401, message: 'Unauthorized: the X-IDENTITY-HEADER is missing or wrong.' } } };
  }
  const apiVersion = request.url.searchParams.get('api-version');
  if (apiVersion !== '2019-08-01') {
    return {
      refusal: {
        status: 400,
        body: { statusCode: 400, message: `Unsupported api-version '${apiVersion ?? ''}': this endpoint speaks 2019-08-01.` },
      },
    };
  }
  const resource = request.url.searchParams.get('resource');
  if (!resource) return { refusal: { status: 400, body: { statusCode: 400, message: "The 'resource' parameter is required." } } };
  for (const [param, value] of [
    ['client_id', identity.clientId],
    ['principal_id', identity.principalId],
    ['object_id', identity.principalId],
  ] as const) {
    const asked = request.url.searchParams.get(param);
    if (asked !== null && asked.toLowerCase() !== value.toLowerCase()) {
      return {
        refusal: {
          status: 400,
          body: { statusCode: 400, message: `No managed identity with ${param} '${asked}' is assigned to this app.` },
        },
      };
    }
  }
  const normalized = resource.replace(/\/\.default$/, '').replace(/\/+$/, '');
  return { identity, resource, normalized };
}
