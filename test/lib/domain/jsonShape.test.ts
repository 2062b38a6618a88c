import { describe, expect, it } from 'vitest';
import { jsonShapeIssues, MAX_JSON_DEPTH } from '../../../src/lib/domain/jsonShape.js';

describe('jsonShapeIssues', () => {
  it.each([
    ['a flat config', { lifetimeDays: 90, notifications: { recipients: ['a@b.example'] } }, []],
    ['scalars and null', null, []],
    [
      '__proto__ as an own key (as JSON.parse makes it)',
      JSON.parse('{"__proto__":{"x":1}}') as unknown,
      [{ path: '__proto__', message: 'is not a known field' }],
    ],
    ['constructor inside an object', { keyVault: { constructor: 1 } }, [{ path: 'keyVault.constructor', message: 'is not a known field' }]],
    ['array indices are no keys to refuse', { recipients: ['constructor'] }, []],
  ])('%s', (_name, value, issues) => {
    expect(jsonShapeIssues(value)).toEqual(issues);
  });

  it(`stops at ${MAX_JSON_DEPTH} levels, naming where, without recursion`, () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`) as unknown;
    expect(jsonShapeIssues(deep)).toEqual([
      { path: Array(MAX_JSON_DEPTH).fill('a').join('.'), message: `is nested deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  });

  it('reports at most 20 issues, each path cut to 200 characters, however many the body holds', () => {
    const key = 'k'.repeat(30_000);
    const issues = jsonShapeIssues({ [key]: Array.from({ length: 2000 }, () => JSON.parse('{"__proto__":0}') as unknown) });
    expect(issues).toHaveLength(20);
    for (const issue of issues) expect(issue.path.length).toBeLessThanOrEqual(201);
  });
});
