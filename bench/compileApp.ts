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
  compile('tsconfig.build.json', outDir);
}

/**
 * Compiles src/ and the local host (tools/, never deployed) with tsconfig.tools.json into `outDir`:
 * the host's entry is `<outDir>/tools/local-host/main.js`, the app it serves `<outDir>/src/index.js`.
 */
export function compileLocalHost(outDir: string): void {
  compile('tsconfig.tools.json', outDir);
}

function compile(project: string, outDir: string): void {
  console.log(`compiling into ${outDir} (tsc -p ${project})`);
  execFileSync(process.execPath, [join(benchRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--outDir', outDir], {
    cwd: benchRoot,
    stdio: 'inherit',
  });
}
