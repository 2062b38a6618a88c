#!/usr/bin/env node
import { runAdminCli } from './adminCli.js';

// The `entra-cert-rotator` bin (package.json): the admin CLI's composition root.
process.exitCode = await runAdminCli(process.argv.slice(2), {
  // eslint-disable-next-line no-restricted-properties -- this bin is the command's composition root: its settings are its argv and environment
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
