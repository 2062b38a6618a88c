/** The API's shapes the dashboard reads (docs/http-api.md, /api/openapi.json). */
export interface AppView {
  readonly appId: string;
  readonly displayName: string;
  readonly etag: string;
  readonly config: AppConfig;
  readonly state: {
    readonly currentThumbprint?: string;
    readonly notBefore?: string;
    readonly notAfter?: string;
    readonly verifiedAt?: string;
    readonly nextRenewalDueAt?: string;
    readonly lastOutcome?: 'deployed' | 'verified' | 'failed';
    readonly lastOutcomeAt?: string;
    readonly lastError?: string;
  };
}

export interface AppConfig {
  readonly enabled: boolean;
  readonly lifetimeDays: number;
  readonly renewBeforeDays: number;
  readonly keySize: number;
  readonly graphMode: string;
  readonly notifications: { readonly enabled: boolean; readonly recipients: readonly string[]; readonly thresholdDays?: number };
  readonly keyVault?: { readonly enabled: boolean };
}

export interface Certificate {
  readonly keyId: string;
  readonly displayName: string;
  readonly thumbprint: string;
  readonly validFrom: string;
  readonly validUntil: string;
  readonly status: string;
  readonly managed: boolean;
}

export interface HistoryEntry {
  readonly at: string;
  readonly action: string;
  readonly trigger: string;
  readonly outcome: string;
  readonly actor?: { readonly name: string };
  readonly thumbprint?: string;
  readonly error?: string;
  readonly changes?: readonly string[];
}

/** The generate response with the one-time key material an Admin asked for. */
export interface Generated {
  readonly thumbprint: string;
  /** Where the new private key lives, in words (Key Vault, or only this answer and the email). */
  readonly privateKey?: { readonly storedIn: readonly string[]; readonly notice: string };
  /** What else the caller should know, e.g. `scheduled-renewal-disabled`. */
  readonly notices?: readonly { readonly code: string; readonly detail: string }[];
  readonly pfx?: { readonly fileName?: string; readonly base64: string; readonly password: string };
  readonly pem?: { readonly fileName: string; readonly bundle: string };
}

export type RotationStage = 'queued' | 'deployed' | 'verified' | 'failed' | 'skipped';

export interface RotationSelector {
  readonly all?: true;
  readonly appIds?: readonly string[];
  readonly issuedBefore?: string;
  readonly thumbprints?: readonly string[];
  readonly keySizeBelow?: number;
}

export interface RotationApp {
  readonly appId: string;
  readonly displayName: string;
  readonly stage: RotationStage;
  readonly detail?: string;
  readonly updatedAt: string;
}

/** A bulk rotation as GET /api/rotations/{id} answers it (docs/http-api.md, Bulk rotation). */
export interface Rotation {
  readonly id: string;
  readonly status: 'starting' | 'running' | 'completed';
  readonly reason: string;
  readonly selector: RotationSelector;
  readonly requestedBy: { readonly name: string };
  readonly createdAt: string;
  readonly completedAt?: string;
  readonly total: number;
  readonly counts: Record<RotationStage, number>;
  readonly openApps: readonly RotationApp[];
  readonly failedApps: readonly RotationApp[];
  readonly skippedApps: readonly RotationApp[];
}

/** An RFC 9457 problem the API answered, with one entry per bad field on a 400. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: readonly { readonly path: string; readonly message: string }[] = [],
  ) {
    super(detail || title);
  }
}

export interface CallOptions {
  readonly body?: unknown;
  readonly ifMatch?: string;
  readonly headers?: Record<string, string>;
}

/** Every call to the API: same origin, the bearer token, problem+json turned into ApiProblem. */
export class Api {
  readonly #token: () => Promise<string>;

  constructor(token: () => Promise<string>) {
    this.#token = token;
  }

  async call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {
      ...options.headers,
      authorization: `Bearer ${await this.#token()}`,
      accept: 'application/json',
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    const response = await fetch(`/api${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: 'no-store',
    });
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as Partial<ApiProblem>;
      throw new ApiProblem(response.status, problem.title ?? response.statusText, problem.detail ?? '', problem.errors ?? []);
    }
    return response;
  }

  async json<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    return (await (await this.call(method, path, options)).json()) as T;
  }

  /** Every page of a paged list (`continuationToken`). */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let token: string | undefined;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const page = await this.json<{ items: T[]; continuationToken?: string }>(
        'GET',
        token === undefined ? path : `${path}${separator}continuationToken=${encodeURIComponent(token)}`,
      );
      items.push(...page.items);
      token = page.continuationToken;
    } while (token !== undefined);
    return items;
  }
}
