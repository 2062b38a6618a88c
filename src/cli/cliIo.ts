/** What the admin CLI touches of its process: arguments aside, its environment, folder and streams. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Exit statuses of `entra-cert-rotator`, one per kind of outcome a script branches on. */
export const EXIT = {
  ok: 0,
  /** The service failed or could not be reached (5xx, network). */
  failed: 1,
  /** A bad command line, or input the API refused as invalid (400). */
  usage: 2,
  /** Not signed in, or the token lacks the role (401, 403). */
  auth: 3,
  notFound: 4,
  /** A conflict with the current state (409, 412 ETag, 422 Idempotency-Key reuse). */
  conflict: 5,
} as const;

/** A bad command line; the message names what is wrong. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
