import { beforeEach } from 'vitest';

/**
 * Skips every test of the suite it is called in when `reason` is given, with that reason as the
 * skip note, so the run's summary (skipReasonReporter.ts) says why. Call it first in a describe.
 */
export function skipAllWhen(reason: string | undefined): void {
  beforeEach((context) => {
    if (reason !== undefined) context.skip(reason);
  });
}
