import type { TokenCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { AppRegistrationDirectory, AppRegistrationSummary, GraphMode, ServicePrincipalDirectory } from '../domain/ports.js';
import { NotFoundError, PreconditionError } from '../errors.js';
import type { AppRegistrationClient } from './appRegistrationClient.js';
import { GRANT_SCRIPT, OWNED_BY_PERMISSION, READ_PERMISSION, toRotatorError } from './graphErrors.js';

const WRITE_ALL = ['Application.ReadWrite.All', 'Directory.ReadWrite.All'];
const ownersSchema = z.object({ value: z.array(z.object({ id: z.string() }).loose()) });
const servicePrincipalSchema = z.object({ id: z.string() }).loose();

export interface GraphAppRegistrationDirectoryOptions {
  readonly graph: Client;
  readonly applications: AppRegistrationClient;
  /** The rotator's own credential, the one the Graph client signs in with. */
  readonly credential: TokenCredential;
  readonly graphScope: string;
}

/** The config API's view of Entra (the AppRegistrationDirectory port), over Microsoft Graph. */
export class GraphAppRegistrationDirectory implements AppRegistrationDirectory, ServicePrincipalDirectory {
  readonly #options: GraphAppRegistrationDirectoryOptions;
  constructor(options: GraphAppRegistrationDirectoryOptions) {
    this.#options = options;
  }

  getAppRegistration(appId: string): Promise<AppRegistrationSummary> {
    return this.#options.applications.getApplication(appId);
  }

  async assertManageable(appId: string, graphMode: GraphMode): Promise<void> {
    const app = await this.#readable(appId, graphMode);
    if (graphMode === 'self') {
      const certificates = await this.#options.applications.listCertificates(appId);
      if (!certificates.some((c) => c.status === 'current' || c.status === 'valid')) {
        throw new PreconditionError(
          `App ${appId} has no valid certificate on its registration. Self mode needs a valid managed certificate in Key Vault to sign in with as the app: create the first one in owner mode (or have an admin add one to the app registration and Key Vault), then switch to self mode.`,
        );
      }
      return;
    }
    const identity = await this.#rotatorIdentity();
    if (identity.roles.some((r) => WRITE_ALL.includes(r))) return;
    if (!identity.roles.includes(OWNED_BY_PERMISSION)) {
      throw new PreconditionError(
        `The rotator's identity (service principal ${identity.oid}) lacks the Graph application permission ${OWNED_BY_PERMISSION}, which owner mode needs to write app ${appId}'s certificates. Run ${GRANT_SCRIPT} to grant it and make the rotator an owner of the app, or use graphMode "self".`,
      );
    }
    const raw: unknown = await this.#options.graph
      .api(`/applications/${app.objectId}/owners`)
      .select('id')
      .get()
      .catch((error: unknown) => {
        throw toRotatorError(error, { appId, operation: 'read' });
      });
    const owners = ownersSchema.parse(raw).value.map((o) => o.id.toLowerCase());
    if (!owners.includes(identity.oid)) {
      throw new PreconditionError(
        `The rotator's identity (service principal ${identity.oid}) is not an owner of app ${appId}; with ${OWNED_BY_PERMISSION} it may only write apps it owns. Run ${GRANT_SCRIPT} for this app to add it as an owner.`,
      );
    }
  }

  /** GET /servicePrincipals(appId='…'): Application.Read.All or Application.ReadWrite.OwnedBy may (serviceprincipal-get). */
  async servicePrincipalIdOf(appId: string): Promise<string | undefined> {
    try {
      const raw: unknown = await this.#options.graph.api(`/servicePrincipals(appId='${appId}')`).select('id').get();
      return servicePrincipalSchema.parse(raw).id.toLowerCase();
    } catch (error) {
      const translated = toRotatorError(error, { appId, operation: 'read' });
      if (translated instanceof NotFoundError) return undefined;
      throw translated;
    }
  }

  async #readable(appId: string, graphMode: GraphMode): Promise<AppRegistrationSummary> {
    try {
      return await this.#options.applications.getApplication(appId);
    } catch (error) {
      if (error instanceof PreconditionError && graphMode === 'self') {
        throw new PreconditionError(
          `${error.message} Self mode reads with the rotator's identity (${READ_PERMISSION}) and signs in as the app with a valid managed certificate from Key Vault to write.`,
        );
      }
      throw error;
    }
  }

  /**
   * Who the rotator is and which app roles it holds, read from its own Graph access token: Graph
   * offers an app no "me", and the token is what Graph itself authorises on. The token is only
   * decoded here, never trusted for anything but this diagnosis.
   */
  async #rotatorIdentity(): Promise<{ oid: string; roles: string[] }> {
    const token = await this.#options.credential.getToken(this.#options.graphScope);
    if (!token) throw new PreconditionError('The rotator could not get a Microsoft Graph token for its identity.');
    const claims = decodeJwt(token.token);
    return {
      oid: typeof claims.oid === 'string' ? claims.oid.toLowerCase() : '',
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    };
  }
}
