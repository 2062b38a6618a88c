import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchRoot, compileApp, compileLocalHost } from './compileApp.js';
import { machine, median, percentile, printResult, round } from './stats.js';

/**
 * Cold start: a fresh Node process that loads the built entry point with every function
 * registered, beside an empty @azure/functions app (an entry that imports the library and registers
 * nothing) in the same run, RUNS times each, interleaved. Both get the `@azure/functions-core`
 * stand-in the local host uses (tools/local-host/functionsCore.ts), so registrations really happen and are
 * counted. Goal: the app's median at most 1.5x the empty app's.
 *
 * Measured twice per run: the parent's wall clock from spawn to exit (what a host waits for), and
 * inside the child `performance.now()` once the entry point has loaded (time since the process
 * started, which leaves out the process's own exit).
 *
 * src/index.ts registers every function without importing the handler modules (they, the
 * composition root and the Azure SDKs load on a function's first call). Also measured, for the why:
 * the same app with every handler module imported at start-up, as src/index.ts did before; and the
 * app bundled with esbuild (scripts/bundle-function.sh, code-split). What lazy loading defers is
 * measured separately: the first renewalWorker call in a fresh process (not part of the ratio).
 *
 * The app is compiled into .scratch/coldstart/ (the developer's dist/ is not touched). The deployed
 * package is built by scripts/package-function.sh into a temporary folder and its size reported.
 */
const RUNS = Number(process.env.BENCH_COLDSTART_RUNS ?? 20);
const WARMUP = 2;
const root = benchRoot;
const work = join(root, '.scratch', 'coldstart');

// The probe a child runs: install the stand-in, import the entry point, report what registered.
const PROBE = `
const [coreUrl, entryUrl, mode] = process.argv.slice(2);
const { installFunctionsCore, registeredFunctions } = await import(coreUrl);
installFunctionsCore({ log() {} });
await import(entryUrl);
const readyMs = performance.now();
// What lazy loading defers: the first queue message loads the worker's modules (the composition
// root and the SDKs). No settings are given, so it then fails fast at the settings, as designed.
let firstCallMs;
const worker = registeredFunctions().find((f) => f.name === 'renewalWorker');
if (worker && mode === 'first-call') {
  const t0 = performance.now();
  try {
    await worker.handler({}, { triggerMetadata: {}, log() {} });
  } catch (error) {
    if (!/setting|required/i.test(String(error && error.message))) throw error;
  }
  firstCallMs = performance.now() - t0;
}
process.stdout.write(JSON.stringify({ functions: registeredFunctions().length, readyMs, firstCallMs }) + '\\n');
`;

// For comparison: registrations plus every handler module at start-up (src/index.ts before lazy loading).
const EAGER_APP = `
import './dist/index.js';
await Promise.all([import('./dist/functions/apps.js'), import('./dist/functions/renewalScheduler.js'), import('./dist/functions/renewalWorker.js')]);
`;

// The baseline: the smallest @azure/functions app there is.
const EMPTY_APP = `
import { app } from '@azure/functions';
app.setup({ enableHttpStream: false });
`;

interface Variant {
  readonly name: string;
  readonly entry: string;
  readonly wallMs: number[];
  readonly readyMs: number[];
  readonly firstCallMs: number[];
  functions: number;
}

function runProbe(coreUrl: string, variant: Variant, mode: 'load' | 'first-call', record: boolean): void {
  const start = performance.now();
  const child = spawnSync(process.execPath, [join(work, 'probe.mjs'), coreUrl, pathToFileURL(variant.entry).href, mode], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const wall = performance.now() - start;
  if (child.status !== 0) throw new Error(`${variant.name} probe failed (${child.status}):\n${child.stderr}`);
  const report = JSON.parse(child.stdout.trim().split('\n').pop()!) as { functions: number; readyMs: number; firstCallMs?: number };
  variant.functions = report.functions;
  if (!record) return;
  if (mode === 'first-call') {
    if (report.firstCallMs !== undefined) variant.firstCallMs.push(report.firstCallMs);
    return;
  }
  variant.wallMs.push(wall);
  variant.readyMs.push(report.readyMs);
}

function sizeOf(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

function countFiles(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return 1;
  return readdirSync(path).reduce((sum, entry) => sum + countFiles(join(path, entry)), 0);
}

export function benchColdstart(): Promise<void> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const distDir = join(work, 'dist');
  compileApp(distDir);
  writeFileSync(join(work, 'probe.mjs'), PROBE);
  writeFileSync(join(work, 'empty-app.mjs'), EMPTY_APP);
  writeFileSync(join(work, 'eager-app.mjs'), EAGER_APP);
  const bundleDir = join(work, 'bundle');
  execFileSync('bash', [join(root, 'scripts', 'bundle-function.sh'), join(distDir, 'index.js'), bundleDir], {
    cwd: root,
    stdio: 'inherit',
  });
  const toolsDir = join(work, 'tools');
  compileLocalHost(toolsDir);
  const coreUrl = pathToFileURL(join(toolsDir, 'tools', 'local-host', 'functionsCore.js')).href;

  const variants: Variant[] = [
    { name: 'app (tsc output, node_modules)', entry: join(distDir, 'index.js'), wallMs: [], readyMs: [], firstCallMs: [], functions: 0 },
    { name: 'app (esbuild bundle)', entry: join(bundleDir, 'index.js'), wallMs: [], readyMs: [], firstCallMs: [], functions: 0 },
    { name: 'app, handlers loaded eagerly', entry: join(work, 'eager-app.mjs'), wallMs: [], readyMs: [], firstCallMs: [], functions: 0 },
    { name: 'empty @azure/functions app', entry: join(work, 'empty-app.mjs'), wallMs: [], readyMs: [], firstCallMs: [], functions: 0 },
  ];
  for (let i = 0; i < WARMUP + RUNS; i++) for (const variant of variants) runProbe(coreUrl, variant, 'load', i >= WARMUP);
  // Separately, what the lazy loading defers to the first queue message (not part of the ratio).
  for (let i = 0; i < WARMUP + RUNS; i++) for (const variant of variants.slice(0, 2)) runProbe(coreUrl, variant, 'first-call', i >= WARMUP);
  const [app, bundle, eager, empty] = variants as [Variant, Variant, Variant, Variant];

  // The deployed package, built by the script azd runs, into a temporary folder.
  const packageDir = mkdtempSync(join(tmpdir(), 'ecr-bench-package-'));
  let packageBytes: number;
  let packageFiles: number;
  try {
    execFileSync('bash', [join(root, 'scripts', 'package-function.sh'), packageDir], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, npm_config_prefer_offline: 'true' },
    });
    packageBytes = sizeOf(packageDir);
    packageFiles = countFiles(packageDir);
  } finally {
    rmSync(packageDir, { recursive: true, force: true });
  }

  const figures = (v: Variant) => ({
    functions: v.functions,
    wallMedianMs: round(median(v.wallMs), 1),
    wallP90Ms: round(percentile(v.wallMs, 90), 1),
    readyMedianMs: round(median(v.readyMs), 1),
    firstWorkerCallMedianMs: v.firstCallMs.length > 0 ? round(median(v.firstCallMs), 1) : undefined,
  });
  const result = {
    benchmark: 'coldstart',
    runs: RUNS,
    app: figures(app),
    bundle: figures(bundle),
    eager: figures(eager),
    empty: figures(empty),
    ratio: round(median(app.wallMs) / median(empty.wallMs), 2),
    bundleRatio: round(median(bundle.wallMs) / median(empty.wallMs), 2),
    eagerRatio: round(median(eager.wallMs) / median(empty.wallMs), 2),
    readyRatio: round(median(app.readyMs) / median(empty.readyMs), 2),
    bundleEntryBytes: sizeOf(join(bundleDir, 'index.js')),
    bundleBytes: sizeOf(bundleDir),
    packageBytes,
    packageFiles,
    goalMet: median(app.wallMs) / median(empty.wallMs) <= 1.5,
    ...machine(),
  };
  console.log(`coldstart: median of ${RUNS} fresh processes each (after ${WARMUP} warm-up), interleaved, node ${process.version}`);
  for (const variant of variants) {
    const measured = figures(variant);
    console.log(
      `  ${variant.name.padEnd(32)} ${String(measured.functions).padStart(2)} functions registered: spawn-to-exit ${measured.wallMedianMs} ms (p90 ${measured.wallP90Ms}), loaded at ${measured.readyMedianMs} ms` +
        (measured.firstWorkerCallMedianMs === undefined
          ? ''
          : `; first renewalWorker call (loads its modules) ${measured.firstWorkerCallMedianMs} ms`),
    );
  }
  console.log(
    `  app / empty (goal <= 1.5): ${result.ratio}; bundled app / empty: ${result.bundleRatio}; eagerly loaded app / empty: ${result.eagerRatio}`,
  );
  console.log(
    `  bundle: entry ${(result.bundleEntryBytes / 1024).toFixed(0)} KiB, ${(result.bundleBytes / 1024).toFixed(0)} KiB with its chunks and source maps`,
  );
  console.log(`  deployed package (scripts/package-function.sh): ${(packageBytes / 1024 / 1024).toFixed(1)} MiB in ${packageFiles} files`);
  printResult(result);
  return Promise.resolve();
}
