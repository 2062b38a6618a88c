/**
 * The application object's other collection properties, for the Graph emulator (graph.ts presents
 * them beside the credentials): Entra limits the object to "about 1000 items across all the
 * collection properties on the app object" (learn.microsoft.com/entra/identity-platform/
 * supported-accounts-validation), so a reader of the object's size headroom needs them. Shapes as
 * in Graph v1.0's application resource; a test fills what it needs, the rest reads as empty.
 */

export interface AppObjectCollections {
  identifierUris?: string[];
  appRoles?: Record<string, unknown>[];
  tags?: string[];
  addIns?: Record<string, unknown>[];
  requiredResourceAccess?: { resourceAppId: string; resourceAccess: { id: string; type: string }[] }[];
  api?: {
    oauth2PermissionScopes?: Record<string, unknown>[];
    preAuthorizedApplications?: Record<string, unknown>[];
    knownClientApplications?: string[];
  };
  web?: { redirectUris?: string[] };
  spa?: { redirectUris?: string[] };
  publicClient?: { redirectUris?: string[] };
}

/** The properties as Graph returns them (every collection present, empty when unset). */
export function presentCollections(c: AppObjectCollections = {}): Record<string, unknown> {
  return {
    identifierUris: c.identifierUris ?? [],
    appRoles: c.appRoles ?? [],
    tags: c.tags ?? [],
    addIns: c.addIns ?? [],
    requiredResourceAccess: c.requiredResourceAccess ?? [],
    api: {
      acceptMappedClaims: null,
      requestedAccessTokenVersion: null,
      oauth2PermissionScopes: c.api?.oauth2PermissionScopes ?? [],
      preAuthorizedApplications: c.api?.preAuthorizedApplications ?? [],
      knownClientApplications: c.api?.knownClientApplications ?? [],
    },
    web: {
      homePageUrl: null,
      logoutUrl: null,
      redirectUris: c.web?.redirectUris ?? [],
      implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
    },
    spa: { redirectUris: c.spa?.redirectUris ?? [] },
    publicClient: { redirectUris: c.publicClient?.redirectUris ?? [] },
  };
}
