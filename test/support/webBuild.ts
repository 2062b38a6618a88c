import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The dashboard's bundle (dist/web) for tests that serve it: CI has run `npm run build` before the
 * tests, but `npm test` on a fresh clone has not, and a developer may have changed web/ since. Builds
 * when dist/web is missing or older than its sources, one test file at a time (a lock folder: Vite
 * empties dist/web first, so two builds at once would serve each other half a folder).
 */

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_BUILD = join(projectRoot, 'dist', 'web');
const LOCK = join(projectRoot, 'dist', '.web-build.lock');
const STALE_LOCK_MS = 120_000;

function newestSource(): number {
  const sources = [join(projectRoot, 'vite.web.config.ts'), join(projectRoot, 'package-lock.json')];
  for (const entry of readdirSync(join(projectRoot, 'web'), { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) sources.push(join(entry.parentPath, entry.name));
  }
  return Math.max(...sources.map((path) => statSync(path).mtimeMs));
}

function upToDate(): boolean {
  const entry = join(WEB_BUILD, 'index.html');
  return existsSync(entry) && statSync(entry).mtimeMs >= newestSource();
}

export async function ensureWebBuild(): Promise<string> {
  for (;;) {
    if (upToDate()) return WEB_BUILD;
    mkdirSync(dirname(LOCK), { recursive: true });
    try {
      mkdirSync(LOCK);
    } catch {
      const held = statSync(LOCK, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (!upToDate()) {
        await promisify(execFile)(
          join(projectRoot, 'node_modules', '.bin', 'vite'),
          ['build', '--config', 'vite.web.config.ts', '--logLevel', 'warn'],
          {
            cwd: projectRoot,
          },
        );
      }
      return WEB_BUILD;
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}
