import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * What the infra tests compare the compiled template with: Azure's built-in role ids, the settings
 * src/lib/config.ts reads (parsed with the TypeScript compiler) and the settings table of docs/configuration.md.
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
  'Key Vault Certificate User': 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba',
  'Role Based Access Control Administrator': 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
  'EventGrid Data Sender': 'd5a91429-5739-47e2-a06b-3470a27159e7',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'Communication and Email Service Owner': '09976791-48a7-449e-bb21-39d1a415f350',
};

export function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
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

export interface ReadmeSetting {
  names: string[];
  required: boolean;
}

/** The rows of the `## Settings` table of docs/configuration.md: the backticked names in the first cell, and its "required" cell. */
export function readmeSettingsTable(): ReadmeSetting[] {
  const readme = readRepoFile('docs/configuration.md');
  const section = /^## Settings\n([\s\S]*?)(?=^## )/m.exec(readme);
  if (!section) throw new Error('docs/configuration.md has no "## Settings" section');
  const rows = section[1]!.split('\n').filter((line) => line.startsWith('|'));
  const [header, , ...body] = rows;
  if (!header || !/^\|\s*setting\s*\|\s*required\s*\|/i.test(header)) {
    throw new Error(`docs/configuration.md settings table header changed: ${header}`);
  }
  return body.map((row) => {
    const cells = row.split('|').map((cell) => cell.trim());
    const names = [...(cells[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const required = cells[2]?.toLowerCase();
    if (names.length === 0 || (required !== 'yes' && required !== 'no')) {
      throw new Error(`docs/configuration.md settings row is not "| \`NAME\` | yes/no | …": ${row}`);
    }
    return { names, required: required === 'yes' };
  });
}

/** The part of a setting name before its first `__` (`AzureWebJobsStorage__accountName` → `AzureWebJobsStorage`). */
export function settingBase(name: string): string {
  return name.split('__')[0]!;
}
