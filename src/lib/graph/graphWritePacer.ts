import { GraphClientError, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import { retryAfterMsOf } from '../azureErrors.js';
import { DEFAULT_WRITE_PACING, IDLE_WRITES, afterWrite, nextWrite, type WritePacingOptions, type WritePacingState } from './writePacing.js';

const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

export interface GraphWritePacerOptions extends Partial<WritePacingOptions> {
  /**
   * The longest a write is held in-process; a longer wait is thrown as GraphWritesHeldError for the
   * queue to wait out, so a function instance is not held. Default 30 s (the Graph client's longest
   * in-process Retry-After).
   */
  readonly maxWaitMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Thrown before a write the pacer would hold longer than its bound. A GraphClientError, which the
 * Graph SDK passes through as it is (it wraps any other error into a GraphError without a status).
 */
export class GraphWritesHeldError extends GraphClientError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(`Microsoft Graph writes are held for ${retryAfterSeconds} s to stay inside Graph's write limits`);
    // GraphClientError's constructor pins its own prototype, which would hide this class from instanceof.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'GraphWritesHeldError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The process's pace of Graph writes (writePacing.ts decides it): one per process, shared by the
 * rotator's Graph client and every self-mode session, since Graph's tenant limit counts them all.
 */
export class GraphWritePacer {
  #state: WritePacingState = IDLE_WRITES;
  readonly #options: WritePacingOptions;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: GraphWritePacerOptions = {}) {
    this.#options = {
      slowIntervalMs: options.slowIntervalMs ?? DEFAULT_WRITE_PACING.slowIntervalMs,
      throttledWaitMs: options.throttledWaitMs ?? DEFAULT_WRITE_PACING.throttledWaitMs,
    };
    this.#maxWaitMs = options.maxWaitMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The usage Graph last reported (0 below 0.8). */
  get usage(): number {
    return this.#state.usage;
  }

  /** Waits for the write's turn, or throws GraphWritesHeldError when that is beyond the bound. */
  async beforeWrite(): Promise<void> {
    const now = this.#now();
    const { startAt, state } = nextWrite(this.#state, now, this.#options);
    const wait = startAt - now;
    if (wait > this.#maxWaitMs) throw new GraphWritesHeldError(Math.ceil(wait / 1000));
    this.#state = state;
    if (wait > 0) await this.#sleep(wait);
  }

  afterWrite(response: Response): void {
    const now = this.#now();
    const answer = {
      status: response.status,
      retryAfterMs: retryAfterMsOf(response.headers, now),
      limitPercentage: response.headers.get('x-ms-throttle-limit-percentage'),
    };
    this.#state = afterWrite(this.#state, answer, now, this.#options);
  }
}

/**
 * The pacer in the Graph client's middleware chain, after the retry handler, so every attempt of a
 * write (a retry after a 429 included) waits its turn and reports its answer.
 */
export class WritePacingHandler implements Middleware {
  #next: Middleware | undefined;
  readonly #pacer: GraphWritePacer;

  constructor(pacer: GraphWritePacer) {
    this.#pacer = pacer;
  }

  async execute(context: Context): Promise<void> {
    const write = WRITE_METHODS.has((context.options?.method ?? 'GET').toUpperCase());
    if (write) await this.#pacer.beforeWrite();
    await this.#next!.execute(context);
    if (write && context.response) this.#pacer.afterWrite(context.response);
  }

  setNext(next: Middleware): void {
    this.#next = next;
  }
}
