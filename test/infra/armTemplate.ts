import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './infraSources.js';

/**
 * infra/main.bicep as Azure Resource Manager receives it: compiled by the real Bicep CLI
 * (scripts/bicep.sh), so tests judge the template that deploys, not the .bicep text.
 */

export type Json = Record<string, unknown>;

let compiled: { template?: Json; why?: string } | undefined;

/** Every file the build reads (the .bicep files and the script that picks the CLI), hashed. */
function sourcesHash(): string {
  const hash = createHash('sha256').update(readFileSync(join(repoRoot, 'scripts/bicep.sh')));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(path).update(readFileSync(path));
    }
  };
  walk(join(repoRoot, 'infra'));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The compiled template, or why there is none (no Bicep CLI and no dotnet to restore one). Kept in
 * node_modules/.cache by the hash of its sources: the test files that read it run in parallel
 * workers, and each build costs seconds of CPU.
 */
export function compiledTemplate(): { template?: Json; why?: string } {
  if (compiled) return compiled;
  const cacheDir = join(repoRoot, 'node_modules/.cache/entra-cert-rotator');
  const cached = join(cacheDir, `main-${sourcesHash()}.json`);
  if (existsSync(cached)) return (compiled = { template: JSON.parse(readFileSync(cached, 'utf8')) as Json });
  const build = spawnSync('scripts/bicep.sh', ['build', 'infra/main.bicep', '--stdout'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (build.status !== 0) return (compiled = { why: build.stderr.trim() || `scripts/bicep.sh exited with ${build.status}` });
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${cached}.${process.pid}`;
  writeFileSync(partial, build.stdout);
  renameSync(partial, cached);
  return (compiled = { template: JSON.parse(build.stdout) as Json });
}

/** Why the template tests skip, if they do: only where no Bicep CLI can be had, and never under CI=true. */
export function skipWithoutBicep(): string | undefined {
  const { template, why } = compiledTemplate();
  if (template || process.env.CI === 'true') return undefined;
  return `no compiled ARM template: ${why}`;
}

/** The template's resources, whether Bicep wrote them as an array or (languageVersion 2.0) as a map. */
export function resourcesOf(template: Json): Json[] {
  const resources = template.resources as Json[] | Record<string, Json> | undefined;
  return Array.isArray(resources) ? resources : Object.values(resources ?? {});
}

/** A module's nested deployment (Microsoft.Resources/deployments named as in main.bicep). */
export function moduleDeployment(template: Json, name: string): Json {
  const found = resourcesOf(template).find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === name);
  if (!found) throw new Error(`no module deployment named ${name}`);
  return found;
}

// --- ARM template expressions --------------------------------------------------------------------

/** An ARM expression: a function call, a string or number literal, or a property access. */
export type ArmNode =
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly ArmNode[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'access'; readonly target: ArmNode; readonly path: string; readonly index?: ArmNode };

/**
 * Parses `[fn('a', other(1)).prop]` (ARM's template expression syntax: single-quoted strings with
 * '' for a quote, calls, dotted and indexed access). Written here because no npm package parses ARM
 * expressions; it only has to read what Bicep emits, and fails loudly on anything else.
 */
export function parseArmExpression(text: string): ArmNode {
  if (!text.startsWith('[') || !text.endsWith(']')) return { kind: 'string', value: text };
  const source = text.slice(1, -1);
  let at = 0;
  const skipSpace = () => {
    while (source[at] === ' ') at += 1;
  };
  const fail = (what: string): never => {
    throw new Error(`ARM expression: ${what} at ${at} in ${source.slice(Math.max(0, at - 40), at + 40)}`);
  };
  const parseNode = (): ArmNode => {
    skipSpace();
    let node: ArmNode;
    if (source[at] === "'") {
      let value = '';
      at += 1;
      for (;;) {
        if (at >= source.length) fail('unterminated string');
        if (source[at] === "'" && source[at + 1] === "'") {
          value += "'";
          at += 2;
        } else if (source[at] === "'") {
          at += 1;
          break;
        } else value += source[at++];
      }
      node = { kind: 'string', value };
    } else if (/[-\d]/.test(source[at] ?? '')) {
      const match = /^-?\d+(\.\d+)?/.exec(source.slice(at)) ?? fail('a number');
      at += match[0].length;
      node = { kind: 'number', value: Number(match[0]) };
    } else {
      const match = /^[A-Za-z_][\w.]*/.exec(source.slice(at)) ?? fail('a function name');
      at += match[0].length;
      skipSpace();
      if (source[at] !== '(') fail('a call');
      at += 1;
      const args: ArmNode[] = [];
      skipSpace();
      if (source[at] === ')') at += 1;
      else
        for (;;) {
          args.push(parseNode());
          skipSpace();
          if (source[at] === ',') at += 1;
          else if (source[at] === ')') {
            at += 1;
            break;
          } else fail('"," or ")"');
        }
      node = { kind: 'call', name: match[0], args };
    }
    // Property and index access after any value: .name, ['name'], [0].
    for (;;) {
      if (source[at] === '.') {
        const match = /^\.[A-Za-z_]\w*/.exec(source.slice(at)) ?? fail('a property name');
        at += match[0].length;
        node = { kind: 'access', target: node, path: match[0].slice(1) };
      } else if (source[at] === '[') {
        at += 1;
        const index = parseNode();
        skipSpace();
        if (source[at] !== ']') fail('"]"');
        at += 1;
        node =
          index.kind === 'string' || index.kind === 'number'
            ? { kind: 'access', target: node, path: String(index.value) }
            : { kind: 'access', target: node, path: '*', index };
      } else return node;
    }
  };
  const root = parseNode();
  skipSpace();
  if (at !== source.length) fail('the end');
  return root;
}

/**
 * The keys an object-valued expression may have: createObject's names, union's members, both
 * branches of if(). Anything else (a parameter, a reference) has unknown keys and yields none.
 */
export function objectKeys(node: ArmNode): Set<string> {
  const keys = new Set<string>();
  if (node.kind !== 'call') return keys;
  const lower = node.name.toLowerCase();
  if (lower === 'createobject') {
    for (let i = 0; i < node.args.length; i += 2) {
      const key = node.args[i]!;
      if (key.kind !== 'string') throw new Error('createObject with a computed key');
      keys.add(key.value);
    }
  } else if (lower === 'union') {
    for (const arg of node.args) for (const key of objectKeys(arg)) keys.add(key);
  } else if (lower === 'if') {
    for (const arg of node.args.slice(1)) for (const key of objectKeys(arg)) keys.add(key);
  }
  return keys;
}

/** Every function name called anywhere in the template's expressions (lower case). */
export function calledFunctions(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    if (value.startsWith('[') && !value.startsWith('[['))
      for (const match of value.matchAll(/([A-Za-z_][\w.]*)\(/g)) found.add(match[1]!.toLowerCase());
  } else if (Array.isArray(value)) for (const item of value) calledFunctions(item, found);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) calledFunctions(item, found);
  return found;
}
