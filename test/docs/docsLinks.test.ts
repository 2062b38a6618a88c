import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The documentation is in the repository and holds together (issue 22.3): every relative link of
 * README.md, DEVELOPERS.md, BENCHMARKS.md and docs/*.md names a file that exists and, with a
 * #fragment, a heading in it (GitHub's anchor rules: lower case, punctuation dropped, spaces to
 * hyphens); the README stays a landing page.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILES = [
  'README.md',
  'DEVELOPERS.md',
  'BENCHMARKS.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchor: lower case, anything but letters, digits, spaces, hyphens and underscores dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
}

describe('the documentation', () => {
  it.each(FILES)('%s: every relative link resolves, to a file and a heading', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue;
      const [path, fragment] = target!.split('#');
      const resolved = path ? resolve(dirname(join(ROOT, file)), path) : join(ROOT, file);
      if (!resolved.startsWith(ROOT)) broken.push(`${target} (outside the repository)`);
      else if (!existsSync(resolved)) broken.push(`${target} (no such file)`);
      else if (fragment && resolved.endsWith('.md') && !anchors(resolved.slice(ROOT.length)).has(fragment))
        broken.push(`${target} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  it('keeps the README a landing page: under 200 lines, with the two commands and links to every guide', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThan(200);
    expect(readme).toContain('npm ci && npm test');
    expect(readme).toContain('npm ci && npm run sandbox');
    for (const guide of readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'))) expect(readme).toContain(`](docs/${guide}`);
  });

  it('names a heading anchor as GitHub does', () => {
    expect(anchorOf('Five-minute walk-through')).toBe('five-minute-walk-through');
    expect(anchorOf('Command line: `entra-cert-rotator`')).toBe('command-line-entra-cert-rotator');
    expect(anchorOf('The tour continues')).toBe('the-tour-continues');
  });
});

describe('pointers in the code', () => {
  it('name no file outside the repository, and every docs/ guide they name exists', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\.(ts|mjs|js|bicep|sh|json|yaml|md)$/.test(f) && !f.startsWith('node_modules/') && f !== 'package-lock.json');
    const outside: string[] = [];
    const missing: string[] = [];
    for (const file of files) {
      if (!existsSync(join(ROOT, file))) continue;
      const text = readFileSync(join(ROOT, file), 'utf8');
      if (/\.\.\/shared\/|PRODUCT\.md/.test(text)) outside.push(file);
      for (const [guide] of text.matchAll(/docs\/[a-z-]+\.md/g)) if (!existsSync(join(ROOT, guide))) missing.push(`${file}: ${guide}`);
    }
    expect(outside).toEqual([]);
    expect([...new Set(missing)]).toEqual([]);
  });
});
