import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';
import { forbidden } from '../.dependency-cruiser.mjs';

/**
 * The layering of src/ (.dependency-cruiser.mjs says which layer may import which): no import cycle
 * between files or between folders, no use case importing an adapter, no adapter importing a use
 * case, nothing in src/ importing the local host, tests or scripts.
 */

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

async function cruiseSources(baseDir: string): Promise<ICruiseResult> {
  const result = await cruise(
    ['src'],
    { baseDir, validate: true, ruleSet: { forbidden }, tsPreCompilationDeps: true, doNotFollow: { path: 'node_modules' } },
    { extensions: ['.ts', '.js'] },
  );
  if (typeof result.output === 'string') throw new Error('dependency-cruiser returned a report, not a result');
  return result.output;
}

const violationsOf = (result: ICruiseResult) =>
  result.summary.violations.map((violation) => `${violation.rule.name}: ${violation.from} -> ${violation.to}`);

/**
 * A file's room: its folder, except the files directly in src/ and src/lib/ (the root, errors.ts,
 * azureErrors.ts), which sit in different layers and so each count as a room of their own.
 */
const roomOf = (source: string) => (/^src\/(lib\/)?[^/]+$/.test(source) ? source : dirname(source));

/** Cycles in the graph of rooms (an import from a file in one room to a file in another). */
function folderCycles(result: ICruiseResult): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const module of result.modules) {
    if (!module.source.startsWith('src/')) continue;
    const from = roomOf(module.source);
    for (const dependency of module.dependencies) {
      const to = roomOf(dependency.resolved);
      if (!dependency.resolved.startsWith('src/') || to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
    }
  }
  const cycles: string[][] = [];
  const visit = (folder: string, path: string[]) => {
    for (const next of edges.get(folder) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) cycles.push([...path.slice(at), next]);
      else visit(next, [...path, next]);
    }
  };
  for (const folder of edges.keys()) visit(folder, [folder]);
  return cycles;
}

describe('the layering of src/', () => {
  it('has no forbidden import: no cycle, no use case importing an adapter, no adapter importing a use case', async () => {
    const result = await cruiseSources(repoRoot);
    // The cruise really read the tree: every layer is there.
    const sources = result.modules.map((module) => module.source);
    for (const folder of [
      'src/functions/',
      'src/lib/renewal/decide/',
      'src/lib/domain/',
      'src/lib/tables/',
      'src/lib/graph/',
      'src/lib/apps/',
    ]) {
      expect(
        sources.some((source) => source.startsWith(folder)),
        folder,
      ).toBe(true);
    }
    expect(violationsOf(result)).toEqual([]);
  });

  it('has no import cycle between folders', async () => {
    expect(folderCycles(await cruiseSources(repoRoot))).toEqual([]);
  });

  describe('catches what it forbids', () => {
    const planted = mkdtempSync(join(tmpdir(), 'ecr-architecture-'));
    afterAll(() => rmSync(planted, { recursive: true, force: true }));
    const plant = (path: string, source: string) => {
      mkdirSync(dirname(join(planted, path)), { recursive: true });
      writeFileSync(join(planted, path), source);
    };
    plant('src/lib/renewal/useCase.ts', "import { adapter } from '../graph/adapter.js';\nexport const useCase = adapter;\n");
    plant('src/lib/graph/adapter.ts', "import { port } from '../domain/port.js';\nexport const adapter = port;\n");
    plant('src/lib/domain/port.ts', 'export const port = 1;\n');
    plant('src/lib/keyvault/vault.ts', "import { useCase } from '../renewal/useCase.js';\nexport const vault = useCase;\n");
    plant('src/lib/apps/first.ts', "import { second } from './second.js';\nexport const first = () => second;\n");
    plant('src/lib/apps/second.ts', "import { first } from './first.js';\nexport const second = () => first;\n");
    plant('src/lib/domain/usesHost.ts', "import { host } from '../../../tools/host.js';\nexport const usesHost = host;\n");
    plant('tools/host.ts', 'export const host = 1;\n');
    plant('src/lib/tables/store.ts', "import { policy } from '../renewal/decide/policy.js';\nexport const store = policy;\n");
    plant('src/lib/renewal/decide/policy.ts', "import { table } from '../../tables/table.js';\nexport const policy = table;\n");
    plant('src/lib/tables/table.ts', 'export const table = 1;\n');
    plant('src/lib/domain/upward.ts', "import { useCase } from '../renewal/useCase.js';\nexport const upward = useCase;\n");
    plant('src/lib/http/route.ts', "import { table } from '../tables/table.js';\nexport const route = table;\n");
    plant('src/functions/handler.ts', "import { table } from '../lib/tables/table.js';\nexport const handler = table;\n");
    plant('src/index.ts', "import { table } from './lib/tables/table.js';\nexport const registered = table;\n");
    plant('src/lib/apps/rooted.ts', "import { root } from '../composition.js';\nexport const rooted = root;\n");
    plant('src/lib/composition.ts', 'export const root = 1;\n');
    plant('src/lib/apps/sdkUser.ts', "import type { TableClient } from '@azure/data-tables';\nexport type Sdk = TableClient;\n");
    // The real node_modules, so that an SDK import resolves as it does in the tree.
    symlinkSync(join(repoRoot, 'node_modules'), join(planted, 'node_modules'), 'dir');

    it('names each planted violation by its rule', async () => {
      const violations = violationsOf(await cruiseSources(planted));
      expect(violations).toEqual(
        expect.arrayContaining([
          'use-cases-never-import-adapters: src/lib/renewal/useCase.ts -> src/lib/graph/adapter.ts',
          'adapters-never-import-use-cases: src/lib/keyvault/vault.ts -> src/lib/renewal/useCase.ts',
          'no-circular: src/lib/apps/first.ts -> src/lib/apps/second.ts',
          'src-stands-alone: src/lib/domain/usesHost.ts -> tools/host.ts',
          'policy-is-pure: src/lib/renewal/decide/policy.ts -> src/lib/tables/table.ts',
          'base-imports-only-base: src/lib/domain/upward.ts -> src/lib/renewal/useCase.ts',
          'http-never-imports-adapters: src/lib/http/route.ts -> src/lib/tables/table.ts',
          'handlers-never-build-adapters: src/functions/handler.ts -> src/lib/tables/table.ts',
          'handlers-never-build-adapters: src/index.ts -> src/lib/tables/table.ts',
          'only-handlers-reach-the-root: src/lib/apps/rooted.ts -> src/lib/composition.ts',
          expect.stringMatching(/^only-adapters-reach-service-sdks: src\/lib\/apps\/sdkUser\.ts -> .*node_modules\/@azure\/data-tables\//),
        ]),
      );
    });

    it('finds a cycle between folders', async () => {
      const cycles = folderCycles(await cruiseSources(planted));
      expect(cycles).toContainEqual(['src/lib/tables', 'src/lib/renewal/decide', 'src/lib/tables']);
    });
  });
});
