/**
 * Microsoft Graph's identity and access write limits, for the Graph emulator: token buckets charged
 * one unit per write, answering 429 with the headers Graph sends.
 *
 * Follows https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits
 * (source: microsoftgraph/microsoft-graph-docs-contrib, concepts/throttling-limits.md):
 * - "Throttling is based on a token bucket algorithm, which works by adding individual costs of
 *   requests"; write quota 3,000 requests per 2 minutes 30 seconds per application+tenant pair and
 *   18,000 per 5 minutes per tenant (every application together); POST, PATCH, PUT and DELETE on an
 *   identity path cost 1 write, a GET none.
 * - POST, PATCH and DELETE on `applications` whose signInAudience is AzureADandPersonalMicrosoftAccount
 *   or PersonalMicrosoftAccount: 60 requests per minute (kept here per application object).
 * - Regular responses carry `x-ms-resource-unit` and, "only when the application consumed more than
 *   0.8 of its limit", `x-ms-throttle-limit-percentage`, a value "from 0.8 to 1.8".
 * - Throttled responses carry `x-ms-throttle-scope` (`<Scope>/<Limit>/<ApplicationId>/<TenantId|UserId|ResourceId>`,
 *   Scope Tenant_Application or Tenant, Limit Write here) and `x-ms-throttle-information`
 *   (WriteLimitExceeded). The docs name no scope for the per-application-object limit; its
 *   ResourceId slot names the application object.
 * And https://learn.microsoft.com/graph/throttling (concepts/throttling.md): a 429 answers
 * `Retry-After` in seconds, fractional in its sample (`Retry-After: 2.128`), with a TooManyRequests
 * error body; "Microsoft Graph continues to log resource usage while a client is being throttled",
 * so a throttled write is charged too (down to the 1.8 the percentage header can report), and a
 * client that retries before Retry-After only digs itself deeper.
 */

export interface WriteLimit {
  /** Writes a full bucket holds: Graph's quota for one window. */
  readonly writes: number;
  /** The window the quota is stated over; the bucket refills continuously at writes per windowMs. */
  readonly windowMs: number;
}

export interface GraphWriteLimits {
  /** Writes of one calling application in one tenant. */
  readonly applicationTenant?: WriteLimit;
  /** Writes of every application in one tenant, shared with all the tenant's other apps. */
  readonly tenant?: WriteLimit;
  /** Writes on one application object whose sign-in audience includes personal Microsoft accounts. */
  readonly personalAccountApplication?: WriteLimit;
}

/** Graph's published numbers: the emulator's default. */
export const GRAPH_WRITE_LIMITS: Required<GraphWriteLimits> = {
  applicationTenant: { writes: 3000, windowMs: 150_000 },
  tenant: { writes: 18_000, windowMs: 300_000 },
  personalAccountApplication: { writes: 60, windowMs: 60_000 },
};

export const PERSONAL_ACCOUNT_AUDIENCES: ReadonlySet<string> = new Set(['AzureADandPersonalMicrosoftAccount', 'PersonalMicrosoftAccount']);

const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
/** Reported usage starts here and is capped at the header's documented maximum. */
const REPORT_FROM = 0.8;
const MAX_USAGE = 1.8;

export interface WriteRequest {
  readonly method: string;
  readonly callerAppId: string;
  readonly tenantId: string;
  /** The application object written to, when the route names one that exists. */
  readonly target?: { readonly id: string; readonly signInAudience: string };
}

export type WriteVerdict =
  | { readonly throttled: false; readonly headers: Readonly<Record<string, string>> }
  | { readonly throttled: true; readonly headers: Readonly<Record<string, string>> };

interface Bucket {
  tokens: number;
  at: number;
}

interface Charge {
  readonly key: string;
  readonly limit: WriteLimit;
  readonly scope: string;
}

export class GraphWriteThrottle {
  #limits: GraphWriteLimits;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(limits: GraphWriteLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  get limits(): GraphWriteLimits {
    return this.#limits;
  }

  /** New limits, every bucket full again (a test sets the limits it needs). */
  configure(limits: GraphWriteLimits): void {
    this.#limits = limits;
    this.#buckets.clear();
  }

  /** Charges a write to every bucket it falls in; a read passes free and unmarked. */
  admit(request: WriteRequest): WriteVerdict {
    if (!WRITE_METHODS.has(request.method.toUpperCase())) return { throttled: false, headers: {} };
    const charges = this.#chargesFor(request);
    const now = this.#now();
    const buckets = charges.map((charge) => this.#refilled(charge, now));
    const short = buckets.map((bucket) => bucket.tokens < 1);
    for (const [i, bucket] of buckets.entries()) {
      bucket.tokens = Math.max(bucket.tokens - 1, charges[i]!.limit.writes * (1 - MAX_USAGE));
    }
    if (!short.includes(true)) {
      const usage = Math.max(0, ...charges.map((charge, i) => (charge.limit.writes - buckets[i]!.tokens) / charge.limit.writes));
      return {
        throttled: false,
        headers: {
          'x-ms-resource-unit': '1',
          ...(usage >= REPORT_FROM ? { 'x-ms-throttle-limit-percentage': Math.min(MAX_USAGE, usage).toFixed(2) } : {}),
        },
      };
    }
    // Until every bucket holds a whole write again, the charge just made included; the scope named
    // is the limit that was exceeded with the longest wait.
    const waits = charges.map((charge, i) => ((1 - buckets[i]!.tokens) * charge.limit.windowMs) / charge.limit.writes);
    const blocking = waits.reduce((worst, wait, i) => (short[i] && (worst < 0 || wait > waits[worst]!) ? i : worst), -1);
    return {
      throttled: true,
      headers: {
        'retry-after': String(Math.max(1, Math.ceil(Math.max(...waits))) / 1000),
        'x-ms-throttle-scope': charges[blocking]!.scope,
        'x-ms-throttle-information': 'WriteLimitExceeded',
      },
    };
  }

  #chargesFor(request: WriteRequest): Charge[] {
    const { applicationTenant, tenant, personalAccountApplication } = this.#limits;
    const app = request.callerAppId.toLowerCase();
    const tenantId = request.tenantId.toLowerCase();
    const charges: Charge[] = [];
    if (applicationTenant) {
      charges.push({
        key: `app-tenant/${app}/${tenantId}`,
        limit: applicationTenant,
        scope: `Tenant_Application/Write/${app}/${tenantId}`,
      });
    }
    if (tenant) charges.push({ key: `tenant/${tenantId}`, limit: tenant, scope: `Tenant/Write/${app}/${tenantId}` });
    const target = request.target;
    if (personalAccountApplication && target && PERSONAL_ACCOUNT_AUDIENCES.has(target.signInAudience)) {
      charges.push({
        key: `application/${target.id}`,
        limit: personalAccountApplication,
        scope: `Tenant_Application/Write/${app}/${target.id}`,
      });
    }
    return charges;
  }

  #refilled(charge: Charge, now: number): Bucket {
    const { writes, windowMs } = charge.limit;
    let bucket = this.#buckets.get(charge.key);
    if (!bucket) {
      bucket = { tokens: writes, at: now };
      this.#buckets.set(charge.key, bucket);
    }
    // A clock moved backwards (the e2e tests' shared clock) refills nothing.
    bucket.tokens = Math.min(writes, bucket.tokens + (Math.max(0, now - bucket.at) * writes) / windowMs);
    bucket.at = now;
    return bucket;
  }
}
