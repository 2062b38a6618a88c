#!/usr/bin/env node
import { entraCertSync } from './entraCertSync.js';

// The `entra-cert-sync` bin (package.json). SIGTERM and SIGINT stop it between cycles; a file
// write in progress always finishes first.
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop.abort());

process.exitCode = await entraCertSync(process.argv.slice(2), {
  // eslint-disable-next-line no-restricted-properties -- this bin is the command's composition root: its settings are its argv and environment
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stop: stop.signal,
});
