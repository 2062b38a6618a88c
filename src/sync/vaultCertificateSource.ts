import { ClientCertificateCredential, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { isRestError, serviceCodeOf } from '../lib/azureErrors.js';
import { SyncFailure, type CertificateSource, type LatestSecret } from './certificateSource.js';
import type { SyncOptions } from './syncOptions.js';

/**
 * The sync's one adapter over the Azure SDKs: it signs in (as the app with its PEM, or as the host's
 * identity), reads the latest version of `secrets/{name}` with @azure/keyvault-secrets, and proves a
 * candidate certificate by signing in with it. The SDK retries transient failures (429, 5xx, dropped
 * connections) with its own backoff, honouring Retry-After; what is left becomes a SyncFailure.
 */

/** Key Vault's own domains; any other host (the loopback emulator) cannot pass the SDK's challenge-resource check. */
const KEY_VAULT_HOST = /\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)$/i;
const AUTHENTICATION_ERRORS = new Set(['AuthenticationError', 'CredentialUnavailableError', 'AggregateAuthenticationError']);

/**
 * Entra refused the sign-in (as opposed to: could not be reached). @azure/identity hands MSAL's
 * server errors (invalid_client and the like) on as AuthenticationRequiredError, as it does MSAL's
 * network errors: only an AADSTS code in the message tells a refusal from an outage.
 */
function isRefusedSignIn(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  if (AUTHENTICATION_ERRORS.has(error.name)) return true;
  return error.name === 'AuthenticationRequiredError' && /\bAADSTS\d+/.test(error.message);
}
const SECRETS_USER = 'Key Vault Secrets User';

type SourceOptions = Pick<
  SyncOptions,
  'vaultUrl' | 'name' | 'file' | 'credential' | 'tenantId' | 'clientId' | 'authorityHost' | 'disableInstanceDiscovery' | 'timeoutInMs'
>;

export function createVaultCertificateSource(options: SourceOptions): CertificateSource {
  const identityOptions = { authorityHost: options.authorityHost, disableInstanceDiscovery: options.disableInstanceDiscovery };
  const appCredential = (pem: string) =>
    new ClientCertificateCredential(options.tenantId!, options.clientId!, { certificate: pem }, identityOptions);
  // The scopes Key Vault's challenge asked for (its resource, per cloud): a candidate is proved against the same.
  const vaultScopes = new Set<string>();

  const readLatest = async (currentPem: string | undefined, signal: AbortSignal): Promise<LatestSecret> => {
    const credential = options.credential === 'certificate' ? appCredential(currentPem ?? '') : new DefaultAzureCredential(identityOptions);
    const recording: TokenCredential = {
      getToken: (scopes, tokenOptions) => {
        for (const scope of [scopes].flat()) vaultScopes.add(scope);
        return credential.getToken(scopes, tokenOptions);
      },
    };
    const client = new SecretClient(options.vaultUrl, recording, {
      disableChallengeResourceVerification: !KEY_VAULT_HOST.test(new URL(options.vaultUrl).hostname),
    });
    try {
      const secret = await untilAborted(client.getSecret(options.name, { abortSignal: signal }), signal);
      return { version: secret.properties.version ?? '', contentType: secret.properties.contentType, value: secret.value };
    } catch (error) {
      throw readFailure(error, options, signal);
    }
  };

  if (options.credential !== 'certificate') return { readLatest };
  return {
    readLatest,
    proveSignIn: async (candidatePem, signal) => {
      const scopes = vaultScopes.size > 0 ? [...vaultScopes] : ['https://vault.azure.net/.default'];
      try {
        await untilAborted(appCredential(candidatePem).getToken(scopes, { abortSignal: signal }), signal);
      } catch (error) {
        if (isRefusedSignIn(error) && !signal.aborted) {
          throw new SyncFailure(
            'not-accepted',
            `Entra does not accept the vault's new certificate for app ${options.clientId!} yet (${firstLine(error.message)}). ` +
              'The rotator adds it to the app registration right after the Key Vault import and Entra can take minutes to accept it; the file is kept and a later cycle tries again.',
            { cause: error },
          );
        }
        throw unavailable(`Signing in with the vault's new certificate at ${options.authorityHost}`, error, options, signal);
      }
    },
  };
}

function readFailure(error: unknown, options: SourceOptions, signal: AbortSignal): SyncFailure {
  const who =
    options.credential === 'certificate'
      ? `app ${options.clientId!} (its service principal)`
      : "this host's identity (DefaultAzureCredential)";
  const reading = `Reading secrets/${options.name} from ${options.vaultUrl}`;
  if (isRefusedSignIn(error) && !signal.aborted) {
    const how =
      options.credential === 'certificate'
        ? `Signing in as app ${options.clientId!} with ${options.file} failed. Is its certificate still on the app registration, and not expired? ` +
          'If it is gone, put a current PEM in place (an Admin can download one), or run once with --credential default.'
        : 'DefaultAzureCredential found no identity that could sign in.';
    return new SyncFailure('sign-in', `${how} (${firstLine(error.message)})`, { cause: error });
  }
  if (isRestError(error) && error.statusCode !== undefined) {
    const said = `${firstLine(error.message)}${serviceCodeOf(error) ? ` (${serviceCodeOf(error)})` : ''}`;
    const status = error.statusCode;
    if (status === 403) {
      return new SyncFailure(
        'forbidden',
        `${reading} was refused (403): ${who} needs the '${SECRETS_USER}' role on ${options.vaultUrl.replace(/\/+$/, '')}/secrets/${options.name}. ` +
          'The rotator grants it when the app config has keyVault.grantAppRead on or lists this identity in keyVault.readers; ' +
          `a new grant can take a few minutes to apply. Key Vault said: ${said}`,
        { cause: error },
      );
    }
    if (status === 401)
      return new SyncFailure('sign-in', `${reading}: Key Vault did not accept the token of ${who} (401): ${said}`, { cause: error });
    if (status === 404) {
      return new SyncFailure(
        'not-found',
        `${reading}: the vault has no such secret (404). Check --name (the app's keyVault.certificateName) and --vault-url. Key Vault said: ${said}`,
        { cause: error },
      );
    }
  }
  return unavailable(reading, error, options, signal);
}

function unavailable(operation: string, error: unknown, options: SourceOptions, signal: AbortSignal): SyncFailure {
  let why: string;
  if (signal.aborted) {
    why =
      signal.reason instanceof Error && signal.reason.name === 'TimeoutError'
        ? `no answer within ${options.timeoutInMs} ms (--timeout)`
        : 'stopped';
  } else if (isRestError(error) && error.statusCode !== undefined) {
    why = `HTTP ${error.statusCode} after the SDK's retries: ${firstLine(error.message)}`;
  } else {
    why = error instanceof Error ? firstLine(error.message) : String(error);
  }
  return new SyncFailure('unavailable', `${operation} failed: ${why}`, { cause: error });
}

/** The SDKs watch the signal for their requests, but not every wait inside them does: answer on time regardless. */
function untilAborted<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    call.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((part) => part.trim() !== '') ?? text;
  return line.length > 400 ? `${line.slice(0, 400)}…` : line.trim();
}
