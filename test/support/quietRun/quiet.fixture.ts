import { it } from 'vitest';

it('passes, printing a plain line to stderr and a trace to stdout', () => {
  console.error('a warning without a stack: at most a line');
  console.log(new Error('a trace on stdout is not judged'));
});
