import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Forks, not threads: NODE_EXTRA_CA_CERTS set by the TLS setup must be seen at process start.
    pool: 'forks',
    globalSetup: ['test/setup/tls.ts', 'test/setup/azurite.ts'],
    // Interop tests shell out to openssl and generate RSA keys: give them room on 2 cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The default summary, then every skipped test with its reason, and a failed run if a test
    // printed a stack trace to stderr (issue 22.7).
    reporters: ['default', './test/support/skipReasonReporter.ts', './test/support/quietRunReporter.ts'],
  },
});
