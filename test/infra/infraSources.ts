import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Readers for the deployment files that no compiler checks here (no Bicep compiler is available to
 * this project's CI): they parse just enough of main.bicep, the modules, README and the settings
 * module for the cross-checks in this folder. Hand-written because no maintained Bicep parser ships
 * on npm; the Bicep they read is kept deliberately flat (one `NAME: value` per line) for them.
 */

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const infraDir = join(repoRoot, 'infra');

/**
 * Azure's built-in roles, as listed in "Azure built-in roles" (Microsoft Learn): the GUID is the
 * role everywhere, in every tenant.
 */
export const BUILT_IN_ROLES: Readonly<Record<string, string>> = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Key Vault Certificates Officer': 'a4417e6f-fecd-4de8-b567-7b0420556985',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'EventGrid Data Sender': 'd5a91429-5739-47e2-a06b-3470a27159e7',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'Communication and Email Service Owner': '09976791-48a7-449e-bb21-39d1a415f350',
};

export function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/** Every .bicep file under infra/, as paths relative to the repository root. */
export function bicepFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.bicep')) found.push(relative(repoRoot, path));
    }
  };
  walk(infraDir);
  return found.sort();
}

/**
 * The environment variables src/lib/config.ts reads: the property names of its `envSchema` object,
 * which `loadSettings` iterates (`envSchema.shape`) to read `env[name]`. Read with the TypeScript
 * parser so that formatting changes in config.ts do not matter.
 */
export function settingsReadByConfig(): string[] {
  const path = join(repoRoot, 'src/lib/config.ts');
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  let names: string[] | undefined;
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'envSchema') {
      const init = node.initializer;
      if (init && ts.isCallExpression(init) && init.arguments[0] && ts.isObjectLiteralExpression(init.arguments[0])) {
        names = init.arguments[0].properties.map((p) => {
          if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) {
            throw new Error(`envSchema has a property that is not a plain name: ${p.getText(source)}`);
          }
          return p.name.text;
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!names) throw new Error('src/lib/config.ts no longer declares `const envSchema = z.object({...})`');
  return names;
}

/**
 * A flat object variable of a Bicep file, `var NAME = {` … `}` (closing brace alone at column 0),
 * as name → value expression (the Bicep text after the colon).
 */
export function bicepObjectVariable(bicep: string, variable: string): Map<string, string> {
  const lines = bicep.split(/\r?\n/);
  const start = lines.findIndex((line) => line === `var ${variable} = {`);
  if (start < 0) throw new Error(`no \`var ${variable} = {\` line`);
  const entries = new Map<string, string>();
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '}') return entries;
    if (line.trim() === '' || line.trim().startsWith('//')) continue;
    const match = /^ {2}([A-Za-z_][A-Za-z0-9_]*): (.+)$/.exec(line);
    if (!match) throw new Error(`var ${variable}: line ${i + 1} is not \`  NAME: value\`: ${line}`);
    if (entries.has(match[1]!)) throw new Error(`var ${variable}: ${match[1]} is set twice`);
    entries.set(match[1]!, match[2]!.trim());
  }
  throw new Error(`var ${variable}: no closing brace`);
}

export interface BicepDeclaration {
  kind: 'param' | 'output';
  name: string;
  /** The declaration line itself. */
  line: string;
  /** The decorator lines above it (may span several lines, such as `@allowed([...])`). */
  decorators: string;
}

/** Every `param` and `output` of a Bicep file with the decorators written above it. */
export function bicepDeclarations(bicep: string): BicepDeclaration[] {
  const lines = bicep.split(/\r?\n/);
  const result: BicepDeclaration[] = [];
  lines.forEach((line, index) => {
    const match = /^(param|output) ([A-Za-z_][A-Za-z0-9_]*) /.exec(line);
    if (!match) return;
    const above: string[] = [];
    for (let i = index - 1; i >= 0; i--) {
      const previous = lines[i]!;
      const endsStatement =
        previous.trim() === '' ||
        previous === '}' ||
        previous.startsWith('//') ||
        /^(param|var|resource|module|output|type|targetScope|import|func)\b/.test(previous);
      if (endsStatement) break;
      above.unshift(previous);
    }
    result.push({ kind: match[1] as 'param' | 'output', name: match[2]!, line, decorators: above.join('\n') });
  });
  return result;
}

export interface ReadmeSetting {
  names: string[];
  required: boolean;
}

/** The rows of README's `## Settings` table: the backticked names in the first cell, and its "required" cell. */
export function readmeSettingsTable(): ReadmeSetting[] {
  const readme = readRepoFile('README.md');
  const section = /^## Settings\n([\s\S]*?)(?=^## )/m.exec(readme);
  if (!section) throw new Error('README.md has no "## Settings" section');
  const rows = section[1]!.split('\n').filter((line) => line.startsWith('|'));
  const [header, , ...body] = rows;
  if (!header || !/^\|\s*setting\s*\|\s*required\s*\|/i.test(header)) {
    throw new Error(`README settings table header changed: ${header}`);
  }
  return body.map((row) => {
    const cells = row.split('|').map((cell) => cell.trim());
    const names = [...(cells[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const required = cells[2]?.toLowerCase();
    if (names.length === 0 || (required !== 'yes' && required !== 'no')) {
      throw new Error(`README settings row is not "| \`NAME\` | yes/no | …": ${row}`);
    }
    return { names, required: required === 'yes' };
  });
}

/** The part of a setting name before its first `__` (`AzureWebJobsStorage__accountName` → `AzureWebJobsStorage`). */
export function settingBase(name: string): string {
  return name.split('__')[0]!;
}
