/**
 * The storage queues the renewer listens on (docs/renewal.md); failures end in `{name}-poison`. In a
 * module of its own so that src/index.ts can register the queue triggers without loading the
 * storage SDK at start-up (cold start, see BENCHMARKS.md).
 */
export const RENEWAL_QUEUE_NAME = 'renewal-requests';

/**
 * Confirm stages have a queue of their own: on one queue a confirm joins the back, behind every
 * deploy still waiting for Graph's write budget, so a 2,000-app rotation verified nothing until its
 * last write (BENCHMARKS.md, rotate). Here confirms run on their own batch slots beside the deploys.
 */
export const RENEWAL_CONFIRM_QUEUE_NAME = 'renewal-confirmations';
