// `eval "$(node scripts/sandbox-env.mjs)"`: the shell variables the README's walk-through uses, read
// from the running sandbox's sandbox.json (SANDBOX_DIR, default .sandbox), so every command works
// on whatever ports the sandbox was started with and nothing is typed by hand.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import process from 'node:process';

const dir = resolve(process.env.SANDBOX_DIR || '.sandbox');
let sandbox;
try {
  sandbox = JSON.parse(readFileSync(resolve(dir, 'sandbox.json'), 'utf8'));
} catch {
  process.stderr.write(`No running sandbox in ${dir} (no sandbox.json): start one with npm run sandbox, or set SANDBOX_DIR.\n`);
  process.exit(1);
}

// Single quotes, each ' written as '\'': the values are URLs, GUIDs, paths and JWTs, but a folder may hold anything.
const quote = (value) => `'${String(value).replace(/'/g, `'\\''`)}'`;
const variables = {
  SANDBOX: dir,
  API: sandbox.apiBaseUrl,
  TENANT: sandbox.tenantId,
  AUTHORITY: sandbox.emulators.authority,
  VAULT: sandbox.emulators.keyVault,
  DEMO: sandbox.apps.managed.appId,
  APP: sandbox.apps.unmanaged.appId,
  READER: `Authorization: Bearer ${sandbox.tokens.Reader}`,
  OPERATOR: `Authorization: Bearer ${sandbox.tokens.Operator}`,
  ADMIN: `Authorization: Bearer ${sandbox.tokens.Admin}`,
  // Node clients of the emulators (the sync, @azure/identity) trust the sandbox's test CA.
  NODE_EXTRA_CA_CERTS: sandbox.caCertificate,
};
for (const [name, value] of Object.entries(variables)) process.stdout.write(`export ${name}=${quote(value)}\n`);
