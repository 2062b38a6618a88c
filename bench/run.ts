/**
 * `npm run bench -- <name>`: runs one benchmark (or all, without a name). Each prints its figures
 * and, as its last line, one JSON object.
 */
import { benchCertificates } from './certificates.js';
import { benchChaos } from './chaos.js';
import { benchColdstart } from './coldstart.js';
import { benchDashboard } from './dashboard.js';
import { benchInventory } from './inventory.js';
import { benchRenew } from './renew.js';
import { benchRotate } from './rotate.js';
import { benchRotations } from './rotations.js';
import { benchScan } from './scan.js';

const benchmarks: Record<string, () => Promise<void>> = {
  certificates: benchCertificates,
  coldstart: benchColdstart,
  scan: benchScan,
  renew: benchRenew,
  inventory: benchInventory,
  chaos: benchChaos,
  rotate: benchRotate,
  rotations: benchRotations,
  dashboard: benchDashboard,
};

const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = requested.length > 0 ? requested : Object.keys(benchmarks);
for (const name of names) {
  const run = benchmarks[name];
  if (!run) {
    console.error(`Unknown benchmark "${name}". Known: ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  await run();
}
