import { defineConfig } from 'vitest/config';

// The nested run of test/support/quietRunReporter.test.ts: its two fixtures and the reporter, nothing else.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['*.fixture.ts'],
    pool: 'forks',
    reporters: ['default', '../quietRunReporter.ts'],
  },
});
