import type { FieldIssue } from './errors.js';

/**
 * The storage settings of docs/configuration.md: the Functions host's `AzureWebJobsStorage` (a connection
 * string, or identity-based `__accountName` / `__…ServiceUri`) and `CONFIG_STORAGE` for the tables,
 * resolved the way the Functions host resolves its own connection. config.ts parses the raw values.
 */

export type StorageConnection =
  | { readonly kind: 'connectionString'; readonly connectionString: string }
  | {
      readonly kind: 'identity';
      readonly tableServiceUri?: string;
      readonly queueServiceUri?: string;
      readonly blobServiceUri?: string;
      /** A user-assigned identity's client id (`…__clientId`); system-assigned when absent. */
      readonly clientId?: string;
    };

/** The storage settings as config.ts's schema parsed them (blank values already unset). */
export interface StorageEnv {
  readonly AzureWebJobsStorage?: string;
  readonly AzureWebJobsStorage__accountName?: string;
  readonly AzureWebJobsStorage__tableServiceUri?: string;
  readonly AzureWebJobsStorage__queueServiceUri?: string;
  readonly AzureWebJobsStorage__blobServiceUri?: string;
  readonly AzureWebJobsStorage__clientId?: string;
  readonly CONFIG_STORAGE?: string;
  readonly CONFIG_STORAGE__accountName?: string;
  readonly CONFIG_STORAGE__tableServiceUri?: string;
  readonly CONFIG_STORAGE__clientId?: string;
}

function parseConnectionString(value: string, setting: string, issues: FieldIssue[]): StorageConnection | undefined {
  const pairs = new Map(
    value
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '')
      .map((p) => {
        const at = p.indexOf('=');
        return [at < 0 ? p.toLowerCase() : p.slice(0, at).trim().toLowerCase(), at < 0 ? '' : p.slice(at + 1)] as const;
      }),
  );
  const ok =
    pairs.get('usedevelopmentstorage') === 'true' ||
    (pairs.has('accountname') && (pairs.has('accountkey') || pairs.has('sharedaccesssignature'))) ||
    (pairs.has('sharedaccesssignature') && [...pairs.keys()].some((k) => k.endsWith('endpoint')));
  if (!ok) {
    issues.push({
      path: setting,
      message:
        'must be a storage connection string (AccountName=…;AccountKey=… or UseDevelopmentStorage=true), or leave it empty and use identity-based settings (' +
        `${setting}__accountName, or ${setting}__…ServiceUri)`,
    });
    return undefined;
  }
  return { kind: 'connectionString', connectionString: value };
}

function serviceUri(accountName: string | undefined, explicit: string | undefined, service: string, setting: string, issues: FieldIssue[]) {
  if (explicit !== undefined) {
    try {
      const url = new URL(explicit);
      if (url.protocol !== 'https:') throw new Error();
      return explicit.replace(/\/+$/, '');
    } catch {
      issues.push({
        path: `${setting}__${service}ServiceUri`,
        message: `must be an https URL such as https://account.${service}.core.windows.net`,
      });
      return undefined;
    }
  }
  return accountName === undefined ? undefined : `https://${accountName}.${service}.core.windows.net`;
}

function checkAccountName(name: string | undefined, setting: string, issues: FieldIssue[]) {
  if (name !== undefined && !/^[a-z0-9]{3,24}$/.test(name)) {
    issues.push({ path: `${setting}__accountName`, message: 'must be a storage account name: 3-24 lower-case letters and digits' });
  }
}

export function resolveWebJobsStorage(parsed: StorageEnv, issues: FieldIssue[]): StorageConnection | undefined {
  if (parsed.AzureWebJobsStorage !== undefined) return parseConnectionString(parsed.AzureWebJobsStorage, 'AzureWebJobsStorage', issues);
  const accountName = parsed.AzureWebJobsStorage__accountName;
  checkAccountName(accountName, 'AzureWebJobsStorage', issues);
  const queueServiceUri = serviceUri(accountName, parsed.AzureWebJobsStorage__queueServiceUri, 'queue', 'AzureWebJobsStorage', issues);
  const blobServiceUri = serviceUri(accountName, parsed.AzureWebJobsStorage__blobServiceUri, 'blob', 'AzureWebJobsStorage', issues);
  const tableServiceUri = serviceUri(accountName, parsed.AzureWebJobsStorage__tableServiceUri, 'table', 'AzureWebJobsStorage', issues);
  if (queueServiceUri === undefined && parsed.AzureWebJobsStorage__queueServiceUri === undefined) {
    issues.push({
      path: 'AzureWebJobsStorage',
      message:
        'is required: a storage connection string, or identity-based settings AzureWebJobsStorage__accountName (or AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__blobServiceUri)',
    });
    return undefined;
  }
  return { kind: 'identity', queueServiceUri, blobServiceUri, tableServiceUri, clientId: parsed.AzureWebJobsStorage__clientId };
}

export function resolveConfigStorage(
  parsed: StorageEnv,
  webJobs: StorageConnection | undefined,
  issues: FieldIssue[],
): StorageConnection | undefined {
  if (parsed.CONFIG_STORAGE !== undefined) return parseConnectionString(parsed.CONFIG_STORAGE, 'CONFIG_STORAGE', issues);
  if (parsed.CONFIG_STORAGE__accountName !== undefined || parsed.CONFIG_STORAGE__tableServiceUri !== undefined) {
    checkAccountName(parsed.CONFIG_STORAGE__accountName, 'CONFIG_STORAGE', issues);
    const tableServiceUri = serviceUri(
      parsed.CONFIG_STORAGE__accountName,
      parsed.CONFIG_STORAGE__tableServiceUri,
      'table',
      'CONFIG_STORAGE',
      issues,
    );
    return { kind: 'identity', tableServiceUri, clientId: parsed.CONFIG_STORAGE__clientId };
  }
  if (webJobs?.kind === 'identity' && webJobs.tableServiceUri === undefined) {
    issues.push({
      path: 'CONFIG_STORAGE',
      message:
        'is needed to find Table Storage: set CONFIG_STORAGE__tableServiceUri (or CONFIG_STORAGE__accountName), or AzureWebJobsStorage__tableServiceUri / AzureWebJobsStorage__accountName',
    });
    return undefined;
  }
  return webJobs;
}
