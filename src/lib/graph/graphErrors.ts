import { GraphError } from '@microsoft/microsoft-graph-client';
import { AccessDeniedError, NotFoundError, PreconditionError, RetriableError, RotatorError, ThrottledError } from '../errors.js';
import { retryAfterSecondsOf } from '../azureErrors.js';
import { GraphWritesHeldError } from './graphWritePacer.js';

/** The script (written with the deployment) that makes the rotator an owner and grants it the permission. */
export const GRANT_SCRIPT = 'scripts/grant-graph-permission.sh';
export const OWNED_BY_PERMISSION = 'Application.ReadWrite.OwnedBy';
export const READ_PERMISSION = 'Application.Read.All';

export type GraphOperation = 'read' | 'write' | 'roll-key';

export interface GraphErrorContext {
  readonly appId: string;
  readonly operation: GraphOperation;
}

/** The Graph error code (`error.code`), or undefined for transport failures. */
export function graphErrorCode(error: unknown): string | undefined {
  return error instanceof GraphError && typeof error.code === 'string' && error.statusCode > 0 ? error.code : undefined;
}

function permissionHint(context: GraphErrorContext): string {
  switch (context.operation) {
    case 'read':
      return `The rotator's identity needs the Graph application permission ${READ_PERMISSION} (or ${OWNED_BY_PERMISSION} and to be an owner of the app). Run ${GRANT_SCRIPT} for app ${context.appId}.`;
    case 'write':
      return `The rotator's identity must be an owner of app ${context.appId} and hold the Graph application permission ${OWNED_BY_PERMISSION}. Run ${GRANT_SCRIPT} for that app.`;
    case 'roll-key':
      return `Graph refused addKey/removeKey for app ${context.appId} signed in as itself; check that its current certificate in Key Vault is on the app registration and valid.`;
  }
}

/**
 * Translates what the Graph SDK throws into the error family, so the use cases and the HTTP layer
 * never see a Graph status. A 400 that is not one of the known refusals means our request was wrong:
 * it stays a plain Error (a bug to fix, not a condition to report to the caller).
 */
export function toRotatorError(error: unknown, context: GraphErrorContext): Error {
  if (error instanceof RotatorError) return error;
  if (error instanceof GraphWritesHeldError) {
    return new ThrottledError(`The ${context.operation} on app ${context.appId} waits: ${error.message}`, {
      retryAfterSeconds: error.retryAfterSeconds,
      cause: error,
    });
  }
  if (!(error instanceof GraphError)) return error instanceof Error ? error : new Error(String(error));
  const status = error.statusCode;
  const code = error.code ?? '';
  const detail = `${code ? `${code}: ` : ''}${error.message}`;
  const retryAfter = retryAfterSecondsOf(error.headers);
  if (status === 429) {
    const scope = error.headers?.get('x-ms-throttle-scope');
    return new ThrottledError(`Microsoft Graph is throttling (HTTP 429${scope ? `, ${scope}` : ''}): ${detail}`, {
      retryAfterSeconds: retryAfter,
      cause: error,
    });
  }
  if (status <= 0 || status >= 500) {
    return new RetriableError(`Microsoft Graph is unavailable or throttling (${status > 0 ? `HTTP ${status}` : 'no answer'}): ${detail}`, {
      retryAfterSeconds: retryAfter,
      cause: error,
    });
  }
  if (status === 404) return new NotFoundError(`No app registration with appId ${context.appId} in the managed tenant (Graph: ${detail}).`);
  if (status === 403)
    return new AccessDeniedError(
      `Microsoft Graph denied the ${context.operation} on app ${context.appId} (${detail}). ${permissionHint(context)}`,
    );
  if (status === 401) {
    return new AccessDeniedError(
      `Microsoft Graph did not accept the credentials for the ${context.operation} on app ${context.appId} (${detail}). ${permissionHint(context)}`,
    );
  }
  if (code === 'CredentialInvalidLifetimeAsPerAppPolicy') {
    return new PreconditionError(
      `The tenant's app management policy refuses a certificate this long for app ${context.appId} (${detail}). Lower the app's lifetimeDays to the policy's maximum, or ask an administrator to exempt the app from the policy's asymmetricKeyLifetime restriction.`,
    );
  }
  // Every app management policy refusal Graph answers ends so (CredentialTypeNotAllowedAsPerAppPolicy,
  // SignInAudienceNotAllowedAsPerAppPolicy…); the trusted-CA restriction's own code is not documented.
  if (status === 400 && code.endsWith('AsPerAppPolicy')) {
    return new PreconditionError(
      `An app management policy of the tenant refuses this change to app ${context.appId} (${detail}). Ask an administrator to exempt the app from the policy's restriction.`,
    );
  }
  if (code === 'Directory_ResourceSizeExceeded') {
    return new PreconditionError(
      `App ${context.appId} holds too many credentials for Entra to add another (${detail}), even after removing the rotator's expired ones. Remove unused certificates or secrets from the app registration.`,
    );
  }
  return new Error(`Microsoft Graph rejected the ${context.operation} on app ${context.appId} (HTTP ${status}): ${detail}`, {
    cause: error,
  });
}
