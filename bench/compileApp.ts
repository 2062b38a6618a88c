import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (bench/ sits directly below it). */
export const benchRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Compiles src/ with the build's tsconfig into `outDir` (under .scratch/), so the benchmarks run the
 * built app as Azure would without touching the developer's dist/.
 */
export function compileApp(outDir: string): void {
  console.log(`compiling src/ into ${outDir} (tsc -p tsconfig.build.json)`);
  execFileSync(
    process.execPath,
    [join(benchRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir],
    {
      cwd: benchRoot,
      stdio: 'inherit',
    },
  );
}
