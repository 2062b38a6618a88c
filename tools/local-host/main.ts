import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';
import { findAppRoot } from './hostSettings.js';
import { startLocalHost } from './localHost.js';

/**
 * Entry point of `npm run host`. Flags: `--run-timer-now`, `--port N` (default PORT or 7071; 0 picks
 * a free port). The host's own environment: FUNCTIONS_APP_ROOT (where host.json and
 * local.settings.json are; default the project root) and FUNCTIONS_ENTRY_POINT (the module that
 * registers the functions; default src/index.ts — the host's tests point it at a fixture, the sandbox
 * with SANDBOX_APP at a deploy package's main).
 */
const args = process.argv.slice(2);
const portFlag = args.indexOf('--port');
const port = Number(portFlag >= 0 ? args[portFlag + 1] : (process.env.PORT ?? 7071));
const root = process.env.FUNCTIONS_APP_ROOT ?? findAppRoot(dirname(fileURLToPath(import.meta.url)));

const entryPoint = process.env.FUNCTIONS_ENTRY_POINT
  ? pathToFileURL(resolve(process.env.FUNCTIONS_ENTRY_POINT)).href
  : new URL('../../src/index.js', import.meta.url).href;

const host = await startLocalHost({ root, port, entryPoint });
console.log(`Local host listening on ${host.url}`);
if (args.includes('--run-timer-now')) await host.runTimerNow();

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    console.log(`Received ${signal}: finishing running invocations and stopping`);
    host.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
