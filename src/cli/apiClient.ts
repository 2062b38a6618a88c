import { EXIT } from './cliIo.js';

/** The problem+json body the API answers errors with (RFC 9457). */
interface Problem {
  readonly title?: string;
  readonly detail?: string;
  readonly errors?: readonly { path: string; message: string }[];
}

/** An answer other than 2xx: its status, what the API said, and the exit status it means. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    text: string,
  ) {
    const fields = problem?.errors?.map((e) => `\n  ${e.path || '(body)'}: ${e.message}`).join('') ?? '';
    super(`${status} ${problem?.title ?? ''}: ${problem?.detail ?? text}${fields}`.replace(/ : /, ': '));
    this.name = 'ApiError';
  }

  get exitCode(): number {
    if (this.status === 400) return EXIT.usage;
    if (this.status === 401 || this.status === 403) return EXIT.auth;
    if (this.status === 404) return EXIT.notFound;
    if (this.status === 409 || this.status === 412 || this.status === 422) return EXIT.conflict;
    return EXIT.failed;
  }
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  json<T = unknown>(): T;
}

/** The rotator's HTTP API over fetch, with a bearer token from `token()` on every call. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: () => Promise<string>,
  ) {}

  async request(
    method: string,
    path: string,
    options: { query?: Record<string, string | number | boolean | undefined>; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    const url = new URL(`${this.baseUrl.replace(/\/$/, '')}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.token()}`, ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['Content-Type'] ??= 'application/json';
    }
    const response = await fetch(url, { method, headers, body });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (!response.ok) {
      const text = bytes.toString('utf8');
      let problem: Problem | undefined;
      try {
        problem = JSON.parse(text) as Problem;
      } catch {
        problem = undefined;
      }
      throw new ApiError(response.status, problem, text.slice(0, 500));
    }
    return { status: response.status, headers: response.headers, body: bytes, json: <T>() => JSON.parse(bytes.toString('utf8')) as T };
  }

  async getJson<T>(path: string, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    return (await this.request('GET', path, { query })).json<T>();
  }

  /** Every item of a paged collection (`items` and `continuationToken`). */
  async getAll<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<T[]> {
    const items: T[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.getJson<{ items: T[]; continuationToken?: string }>(path, { ...query, continuationToken });
      items.push(...page.items);
      continuationToken = page.continuationToken;
    } while (continuationToken);
    return items;
  }
}
