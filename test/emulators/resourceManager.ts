import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { audiencesFor, bearerTokenOf, type BearerVerifier } from './bearerAuth.js';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, type EmulatorTlsOptions } from './emulatorServer.js';

/**
 * A loopback Azure Resource Manager serving role assignments (Microsoft.Authorization, api-version
 * 2022-04-01) at any scope: what the rotator's access grants (docs/consumers.md) talk to through
 * @azure/arm-authorization.
 *
 * Follows:
 * - Role Assignments REST API (Create, Get, Delete, List For Scope):
 *   https://learn.microsoft.com/rest/api/authorization/role-assignments
 * - Who may write them: `Microsoft.Authorization/roleAssignments/write|delete`, held by Owner, User
 *   Access Administrator and Role Based Access Control Administrator at or above the scope
 *   (https://learn.microsoft.com/azure/role-based-access-control/role-assignments-steps); otherwise
 *   403 AuthorizationFailed, worded as Azure words it ("The client '…' with object id '…' does not
 *   have authorization to perform action '…' over scope '…' or the scope is invalid. If access was
 *   recently granted, please refresh your credentials.").
 * - Conditions on an RBAC Administrator assignment ("Delegate Azure role assignment management using
 *   conditions", request attributes RoleDefinitionId and PrincipalType:
 *   https://learn.microsoft.com/azure/role-based-access-control/conditions-authorization-actions-attributes):
 *   a refused request is 403 AuthorizationFailed "…does not have authorization or an ABAC condition
 *   not fulfilled to perform action…". The emulator evaluates the one condition shape infra/ deploys
 *   (allowed role ids, allowed principal types) and refuses to be seeded with any other.
 * - Errors (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting): RoleAssignmentExists
 *   (409, the same role, principal and scope under another name), RoleAssignmentUpdateNotPermitted
 *   (400, a PUT of an existing name with another principal, role or scope: names are unique across
 *   scopes and subscriptions), PrincipalNotFound (400, worded as that page quotes it),
 *   UnmatchedPrincipalType (400, "The PrincipalId '…' has type 'ServicePrincipal' , which is different
 *   from specified PrinciaplType 'User'.", Azure's typo included, as quoted in
 *   https://github.com/Azure/azure-dev/issues/5814 and
 *   https://github.com/Azure/modern-web-app-pattern-dotnet/pull/129), RoleDefinitionDoesNotExist
 *   (400, "The specified role definition with ID '…' does not exist.",
 *   https://github.com/Azure/azure-cli/issues/21961), RoleAssignmentNotFound (404 on GET; DELETE of
 *   a missing one is 204), InvalidRoleAssignmentId (400, the name must be a GUID).
 * - Sign-in errors (401) as ARM words them: AuthenticationFailed (no header),
 *   InvalidAuthenticationTokenAudience ("The access token has been obtained for wrong audience or
 *   resource '…'. It should exactly match with one of the allowed audiences …",
 *   https://github.com/Azure-Samples/active-directory-dotnetcore-daemon-v2/issues/145),
 *   InvalidAuthenticationTokenTenant ("The access token is from the wrong issuer '…'. It must match
 *   the tenant '…' associated with this subscription. …", https://github.com/Azure/pcs-cli/issues/357),
 *   InvalidAuthenticationToken otherwise.
 * - List For Scope (https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope):
 *   `$filter=atScope()` at or above the scope, `principalId eq '{id}'` (or `assignedTo('{id}')`)
 *   at, above or below it for that principal, both joined by `and` as the SDK passes them on.
 * Not modelled: reading (GET, list) needs no role here, though ARM asks for
 * `Microsoft.Authorization/roleAssignments/read`; the product only writes and deletes.
 */

export const ARM_RESOURCE = 'https://management.azure.com';
/** The audiences ARM accepts, in the order its InvalidAuthenticationTokenAudience message names them. */
const ARM_AUDIENCES = [...audiencesFor('https://management.core.windows.net').reverse(), ...audiencesFor(ARM_RESOURCE).reverse()];

/** Built-in role definition ids (Azure built-in roles reference). */
export const BUILT_IN_ROLES = {
  Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  'User Access Administrator': '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  'Role Based Access Control Administrator': 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
  'Key Vault Administrator': '00482a5a-887f-4fb3-b363-3b7fe8e74483',
  'Key Vault Certificates Officer': 'a4417e6f-fecd-4de8-b567-7b0420556985',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Certificate User': 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba',
  'Key Vault Reader': '21090545-7ca7-4776-b22c-e363652d74d2',
} as const;
export type BuiltInRole = keyof typeof BUILT_IN_ROLES;

const ROLE_ADMINISTRATORS = new Set<string>([
  BUILT_IN_ROLES.Owner,
  BUILT_IN_ROLES['User Access Administrator'],
  BUILT_IN_ROLES['Role Based Access Control Administrator'],
]);

export type PrincipalType = 'ServicePrincipal' | 'Group' | 'User' | 'ForeignGroup' | 'Device';
const PRINCIPAL_TYPES = new Set<string>(['ServicePrincipal', 'Group', 'User', 'ForeignGroup', 'Device']);

export interface ArmRoleAssignment {
  readonly name: string;
  /** As given, lower-cased for comparisons only. */
  readonly scope: string;
  /** The role definition's GUID (lower case). */
  readonly roleId: string;
  readonly principalId: string;
  readonly principalType: PrincipalType;
  readonly condition?: string;
  readonly createdOn: string;
}

export interface ResourceManagerEmulatorOptions {
  readonly tls: EmulatorTlsOptions;
  readonly tenantId: string;
  readonly verifyToken: BearerVerifier;
  /** The directory's answer for a principal id: its type, or undefined when it does not exist. */
  readonly principalTypeOf: (principalId: string) => PrincipalType | undefined;
  /** Custom role definition ids (GUIDs) that exist besides the built-in roles of BUILT_IN_ROLES. */
  readonly customRoleIds?: readonly string[];
}

export interface ResourceManagerSnapshot {
  readonly assignments: readonly ArmRoleAssignment[];
}

interface Condition {
  readonly roleIds: ReadonlySet<string>;
  readonly principalTypes: ReadonlySet<string>;
}

class ArmFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLE_DEFINITION_ID = /^(?:\/subscriptions\/[^/]+)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/i;
const API_VERSION = '2022-04-01';
const ASSIGNMENTS = '/providers/Microsoft.Authorization/roleAssignments';

/**
 * The condition infra/modules/role-assignments.bicep puts on the rotator's RBAC Administrator role
 * (the two read roles, service principals and groups), as the tests and the sandbox seed it.
 */
export const KEY_VAULT_GRANTS_CONDITION = `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${BUILT_IN_ROLES['Key Vault Secrets User']}, ${BUILT_IN_ROLES['Key Vault Certificate User']}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal', 'Group'})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${BUILT_IN_ROLES['Key Vault Secrets User']}, ${BUILT_IN_ROLES['Key Vault Certificate User']}} AND @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal', 'Group'}))`;

/** `a` is `b` or above it (a scope is a path; case-insensitive, as ARM ids are). */
export function scopeCovers(a: string, b: string): boolean {
  const above = a.replace(/\/+$/, '').toLowerCase();
  const below = b.replace(/\/+$/, '').toLowerCase();
  return above === '' || below === above || below.startsWith(`${above}/`);
}

/** The allowed role ids and principal types of the "constrain roles and principal types" condition. */
export function parseCondition(condition: string): Condition {
  const roles = /RoleDefinitionId\]\s*ForAnyOfAnyValues:GuidEquals\s*\{([^}]*)\}/i.exec(condition)?.[1];
  const types = /PrincipalType\]\s*ForAnyOfAnyValues:StringEqualsIgnoreCase\s*\{([^}]*)\}/i.exec(condition)?.[1];
  if (roles === undefined || types === undefined) {
    throw new Error('The ARM emulator evaluates only the "constrain roles and principal types" condition that infra/ deploys');
  }
  const list = (text: string) =>
    text
      .split(',')
      .map((item) => item.trim().replace(/^'|'$/g, '').toLowerCase())
      .filter((item) => item !== '');
  return { roleIds: new Set(list(roles)), principalTypes: new Set(list(types)) };
}

export class ResourceManagerEmulator {
  readonly server: EmulatorServer;
  readonly #options: ResourceManagerEmulatorOptions;
  readonly #assignments = new Map<string, ArmRoleAssignment>();

  constructor(options: ResourceManagerEmulatorOptions) {
    this.#options = options;
    this.server = new EmulatorServer('resource-manager', options.tls);
    this.server
      .route('PUT', `/:scope*${ASSIGNMENTS}/:name`, 'create-role-assignment', (r) => this.#handle(r, (oid) => this.#create(r, oid)))
      .route('GET', `/:scope*${ASSIGNMENTS}/:name`, 'get-role-assignment', (r) => this.#handle(r, () => this.#get(r)))
      .route('DELETE', `/:scope*${ASSIGNMENTS}/:name`, 'delete-role-assignment', (r) => this.#handle(r, (oid) => this.#delete(r, oid)))
      .route('GET', `/:scope*${ASSIGNMENTS}`, 'list-role-assignments', (r) => this.#handle(r, () => this.#list(r)));
  }

  start(port?: number): Promise<string> {
    return this.server.start(port);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  get url(): string {
    return this.server.url;
  }

  /** Seeds an assignment as an administrator (or Bicep) would make it; validates a condition's shape. */
  assign(
    scope: string,
    role: BuiltInRole | (string & {}),
    principalId: string,
    options: { principalType?: PrincipalType; condition?: string } = {},
  ): ArmRoleAssignment {
    if (options.condition !== undefined) parseCondition(options.condition);
    const roleId = (role in BUILT_IN_ROLES ? BUILT_IN_ROLES[role as BuiltInRole] : role).toLowerCase();
    const assignment: ArmRoleAssignment = {
      name: randomUUID(),
      scope: scope.replace(/\/+$/, ''),
      roleId,
      principalId: principalId.toLowerCase(),
      principalType: options.principalType ?? 'ServicePrincipal',
      ...(options.condition !== undefined ? { condition: options.condition } : {}),
      createdOn: new Date().toISOString(),
    };
    this.#assignments.set(assignment.name, assignment);
    return assignment;
  }

  /** Every assignment (the Key Vault emulator's data-plane RBAC reads them). */
  assignments(): readonly ArmRoleAssignment[] {
    return [...this.#assignments.values()];
  }

  remove(name: string): void {
    this.#assignments.delete(name.toLowerCase());
  }

  snapshot(): ResourceManagerSnapshot {
    return { assignments: this.assignments() };
  }

  restore(snapshot: ResourceManagerSnapshot): void {
    this.#assignments.clear();
    for (const assignment of snapshot.assignments) this.#assignments.set(assignment.name, assignment);
  }

  async #handle(request: EmulatorRequest, serve: (oid: string) => EmulatorResponse): Promise<EmulatorResponse> {
    const signIn = await this.#signedIn(request);
    if ('status' in signIn) return signIn;
    const claims = signIn.claims;
    const apiVersion = request.url.searchParams.get('api-version');
    try {
      if (apiVersion === null) {
        throw new ArmFailure(
          400,
          'MissingApiVersionParameter',
          'The api-version query parameter (?api-version=) is required for all requests.',
        );
      }
      if (apiVersion !== API_VERSION && !/^20(2[0-9])-\d\d-\d\d(-preview)?$/.test(apiVersion)) {
        throw new ArmFailure(400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid.`);
      }
      return serve((typeof claims.oid === 'string' ? claims.oid : '').toLowerCase());
    } catch (error) {
      if (!(error instanceof ArmFailure)) throw error;
      return { status: error.status, body: { error: { code: error.code, message: error.message } } };
    }
  }

  /** The caller's token claims, or ARM's 401 for a missing token, a wrong audience or tenant, or any other bad token. */
  async #signedIn(request: EmulatorRequest): Promise<{ claims: Record<string, unknown> } | EmulatorResponse> {
    const unauthorized = (code: string, message: string): EmulatorResponse => ({
      status: 401,
      headers: { 'www-authenticate': 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token"' },
      body: { error: { code, message } },
    });
    const token = bearerTokenOf(request.headers);
    if (token === undefined) return unauthorized('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    const accepted = [...audiencesFor(this.url), ...ARM_AUDIENCES];
    const claims = await this.#options.verifyToken(token, accepted);
    if (!claims) {
      // A token the authority signed for another resource is told apart, as ARM tells it apart.
      let audience: unknown;
      try {
        audience = decodeJwt(token).aud;
      } catch {
        audience = undefined;
      }
      if (typeof audience === 'string' && (await this.#options.verifyToken(token, [audience]))) {
        return unauthorized(
          'InvalidAuthenticationTokenAudience',
          `The access token has been obtained for wrong audience or resource '${audience}'. It should exactly match with one of the allowed audiences ${ARM_AUDIENCES.map((a) => `'${a}'`).join(',')}.`,
        );
      }
      return unauthorized('InvalidAuthenticationToken', 'The access token is invalid.');
    }
    if (claims.tid !== this.#options.tenantId) {
      const tenant = this.#options.tenantId;
      return unauthorized(
        'InvalidAuthenticationTokenTenant',
        `The access token is from the wrong issuer '${String(claims.iss)}'. It must match the tenant 'https://sts.windows.net/${tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${tenant}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`,
      );
    }
    return { claims };
  }

  #target(request: EmulatorRequest): { scope: string; name: string; id: string } {
    const scope = `/${request.params.scope!}`.replace(/\/+$/, '');
    const name = request.params.name!.toLowerCase();
    if (!GUID.test(name)) {
      throw new ArmFailure(
        400,
        'InvalidRoleAssignmentId',
        `The role assignment ID '${request.params.name!}' is not valid. The role assignment ID must be a GUID.`,
      );
    }
    return { scope, name, id: `${scope}${ASSIGNMENTS}/${name}` };
  }

  /** Write and delete need a role administrator's assignment at or above the scope, and its condition met. */
  #authorize(
    oid: string,
    action: 'write' | 'delete',
    scope: string,
    id: string,
    subject?: { roleId: string; principalType: string },
  ): void {
    const held = this.assignments().filter(
      (a) => a.principalId === oid && ROLE_ADMINISTRATORS.has(a.roleId) && scopeCovers(a.scope, scope),
    );
    const fulfilled = held.some((a) => {
      if (a.condition === undefined || subject === undefined) return true;
      const condition = parseCondition(a.condition);
      return condition.roleIds.has(subject.roleId) && condition.principalTypes.has(subject.principalType.toLowerCase());
    });
    if (fulfilled) return;
    const conditional = held.length > 0;
    throw new ArmFailure(
      403,
      'AuthorizationFailed',
      `The client '${oid}' with object id '${oid}' does not have authorization${conditional ? ' or an ABAC condition not fulfilled' : ''} to perform action 'Microsoft.Authorization/roleAssignments/${action}' over scope '${id}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }

  #create(request: EmulatorRequest, oid: string): EmulatorResponse {
    const { scope, name, id } = this.#target(request);
    const properties = (request.json as { properties?: Record<string, unknown> } | undefined)?.properties;
    const roleDefinitionId = typeof properties?.roleDefinitionId === 'string' ? properties.roleDefinitionId : '';
    const roleId = ROLE_DEFINITION_ID.exec(roleDefinitionId)?.[1]?.toLowerCase();
    if (roleId === undefined) {
      throw new ArmFailure(400, 'InvalidRoleDefinitionId', `The role definition ID '${roleDefinitionId}' is not valid.`);
    }
    const principalId = typeof properties?.principalId === 'string' ? properties.principalId.toLowerCase() : '';
    if (!GUID.test(principalId))
      throw new ArmFailure(400, 'InvalidPrincipalId', 'A valid principal ID must be provided for role assignment.');
    const given = typeof properties?.principalType === 'string' ? properties.principalType : undefined;
    if (given !== undefined && !PRINCIPAL_TYPES.has(given)) {
      throw new ArmFailure(400, 'InvalidPrincipalType', `The principal type '${given}' is not valid.`);
    }
    this.#authorize(oid, 'write', scope, id, { roleId, principalType: given ?? '' });
    if (!this.#roleExists(roleId)) {
      throw new ArmFailure(
        400,
        'RoleDefinitionDoesNotExist',
        `The specified role definition with ID '${roleId.replace(/-/g, '')}' does not exist.`,
      );
    }

    const actual = this.#options.principalTypeOf(principalId);
    if (actual === undefined) {
      throw new ArmFailure(
        400,
        'PrincipalNotFound',
        `Principal ${principalId.replace(/-/g, '')} does not exist in the directory ${this.#options.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
      );
    }
    if (given !== undefined && given !== actual) {
      throw new ArmFailure(
        400,
        'UnmatchedPrincipalType',
        `The PrincipalId '${principalId}' has type '${actual}' , which is different from specified PrinciaplType '${given}'.`,
      );
    }

    const existing = this.#assignments.get(name);
    if (existing) {
      if (
        !scopeCovers(existing.scope, scope) ||
        !scopeCovers(scope, existing.scope) ||
        existing.roleId !== roleId ||
        existing.principalId !== principalId
      ) {
        throw new ArmFailure(
          400,
          'RoleAssignmentUpdateNotPermitted',
          'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.',
        );
      }
      return { status: 200, body: this.#present(existing) };
    }
    const twin = this.assignments().find(
      (a) => a.roleId === roleId && a.principalId === principalId && scopeCovers(a.scope, scope) && scopeCovers(scope, a.scope),
    );
    if (twin) throw new ArmFailure(409, 'RoleAssignmentExists', 'The role assignment already exists.');
    const assignment: ArmRoleAssignment = { name, scope, roleId, principalId, principalType: actual, createdOn: new Date().toISOString() };
    this.#assignments.set(name, assignment);
    return { status: 201, body: this.#present(assignment) };
  }

  #roleExists(roleId: string): boolean {
    const custom = (this.#options.customRoleIds ?? []).map((id) => id.toLowerCase());
    return Object.values<string>(BUILT_IN_ROLES).includes(roleId) || custom.includes(roleId);
  }

  #get(request: EmulatorRequest): EmulatorResponse {
    const { scope, name } = this.#target(request);
    const found = this.#assignments.get(name);
    if (!found || !scopeCovers(found.scope, scope) || !scopeCovers(scope, found.scope)) {
      throw new ArmFailure(404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`);
    }
    return { status: 200, body: this.#present(found) };
  }

  #delete(request: EmulatorRequest, oid: string): EmulatorResponse {
    const { scope, name, id } = this.#target(request);
    const found = this.#assignments.get(name);
    if (!found || !scopeCovers(found.scope, scope) || !scopeCovers(scope, found.scope)) {
      // ARM answers a delete of an assignment that is not there with 204, once the caller may delete there.
      this.#authorize(oid, 'delete', scope, id);
      return { status: 204 };
    }
    this.#authorize(oid, 'delete', scope, id, found);
    this.#assignments.delete(name);
    return { status: 200, body: this.#present(found) };
  }

  #list(request: EmulatorRequest): EmulatorResponse {
    const scope = `/${request.params.scope!}`.replace(/\/+$/, '');
    const filter = request.url.searchParams.get('$filter') ?? '';
    const principal = (/principalId\s+eq\s+'([^']+)'/i.exec(filter) ?? /assignedTo\('([^']+)'\)/i.exec(filter))?.[1]?.toLowerCase();
    const atScope = /atScope\(\)/i.test(filter);
    const value = this.assignments()
      .filter((a) => (atScope ? scopeCovers(a.scope, scope) : scopeCovers(a.scope, scope) || scopeCovers(scope, a.scope)))
      .filter((a) => principal === undefined || a.principalId === principal)
      .map((a) => this.#present(a));
    return { status: 200, body: { value } };
  }

  #present(a: ArmRoleAssignment): Record<string, unknown> {
    const subscription = /^\/subscriptions\/([^/]+)/i.exec(a.scope)?.[1];
    return {
      id: `${a.scope}${ASSIGNMENTS}/${a.name}`,
      type: 'Microsoft.Authorization/roleAssignments',
      name: a.name,
      properties: {
        roleDefinitionId: `${subscription ? `/subscriptions/${subscription}` : ''}/providers/Microsoft.Authorization/roleDefinitions/${a.roleId}`,
        principalId: a.principalId,
        principalType: a.principalType,
        scope: a.scope,
        condition: a.condition ?? null,
        conditionVersion: a.condition ? '2.0' : null,
        createdOn: a.createdOn,
        updatedOn: a.createdOn,
      },
    };
  }
}
