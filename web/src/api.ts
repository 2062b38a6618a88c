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
  readonly pfx?: { readonly fileName?: string; readonly base64: string; readonly password: string };
  readonly pem?: { readonly fileName: string; readonly bundle: string };
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

/** Every call to the API: same origin, the bearer token, problem+json turned into ApiProblem. */
export class Api {
  readonly #token: () => Promise<string>;

  constructor(token: () => Promise<string>) {
    this.#token = token;
  }

  async call(method: string, path: string, options: { body?: unknown; ifMatch?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.#token()}`, accept: 'application/json' };
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

  async json<T>(method: string, path: string, options: { body?: unknown; ifMatch?: string } = {}): Promise<T> {
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
