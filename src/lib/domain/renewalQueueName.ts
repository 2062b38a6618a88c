/**
 * The storage queue the renewer listens on (docs/renewal.md); failures end in `{name}-poison`. In a
 * module of its own so that src/index.ts can register the queue trigger without loading the
 * storage SDK at start-up (cold start, see BENCHMARKS.md).
 */
export const RENEWAL_QUEUE_NAME = 'renewal-requests';
