import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AppStore } from '../../src/lib/tables/appStore.js';
import type { GraphEmulator } from '../../test/emulators/graph.js';
import { displayPath } from './sandboxBanner.js';
import type { SandboxLayout } from './sandboxLayout.js';

/** `--reset`: everything goes but the TLS material, so a CA someone chose to trust stays valid. */
export function resetSandbox(layout: SandboxLayout): void {
  if (!existsSync(layout.dir)) return;
  for (const entry of readdirSync(layout.dir)) {
    if (join(layout.dir, entry) !== layout.paths.tls) rmSync(join(layout.dir, entry), { recursive: true, force: true });
  }
}

/** What the user must fix before a start (kept state that does not hang together, a busy port): one line, no stack. */
export class KeptStateError extends Error {}

/** Anything in the data folder but the TLS material. */
export function hasData(layout: SandboxLayout): boolean {
  return existsSync(layout.dir) && readdirSync(layout.dir).some((entry) => join(layout.dir, entry) !== layout.paths.tls);
}

/**
 * Kept state must hang together: every emulator's file is there, and every app in storage is an app
 * registration in Graph. Otherwise the sandbox would run on a tenant that answers "no such app" and
 * "grant a role" to a user who changed nothing; it stops and says how to start clean instead.
 */
export async function checkKeptState(kept: { state: string; graph: GraphEmulator; store: AppStore }): Promise<void> {
  const problems: string[] = [];
  for (const name of ['authority', 'graph', 'key-vault']) {
    if (!existsSync(join(kept.state, `${name}.json`))) problems.push(`${name}.json is missing`);
  }
  for (const app of (await kept.store.listApps({ maxPageSize: 1000 })).items) {
    if (!kept.graph.application(app.config.appId)) problems.push(`managed app ${app.config.appId} is not in Graph`);
  }
  if (problems.length > 0) {
    throw new KeptStateError(
      `The kept state in ${displayPath(kept.state)} is inconsistent (${problems.slice(0, 3).join('; ')}). Start clean with: npm run sandbox -- --reset`,
    );
  }
}
