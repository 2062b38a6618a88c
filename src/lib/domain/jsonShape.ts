import type { FieldIssue } from '../errors.js';

/**
 * The deepest nesting a request body may have. The deepest real field is 3 levels down
 * (`notifications.recipients[0]`); the limit stops a body nested thousands of levels deep (small
 * enough to pass the size limit) before any recursive walk over it can exhaust the stack.
 */
export const MAX_JSON_DEPTH = 32;
/** At most this many issues, each path cut to PATH_CHARACTERS: a 64 KiB body cannot make a huge answer. */
const MAX_ISSUES = 20;
const PATH_CHARACTERS = 200;

/**
 * Keys that name Object.prototype's machinery: assigned to a plain object (a merge patch does),
 * `__proto__` replaces its prototype. No field of the API has these names, so they are refused.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * What is wrong with a parsed body's shape, whatever its schema: nesting past MAX_JSON_DEPTH, and
 * keys that would reach an object's prototype. Walked with an explicit stack, so the check itself
 * cannot overflow on the input it guards against; the first depth issue ends the walk.
 */
export function jsonShapeIssues(value: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const pending: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  const cut = (path: string) => (path.length > PATH_CHARACTERS ? `${path.slice(0, PATH_CHARACTERS)}…` : path);
  while (pending.length > 0 && issues.length < MAX_ISSUES) {
    const item = pending.pop()!;
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.depth >= MAX_JSON_DEPTH) {
      issues.push({ path: cut(item.path), message: `is nested deeper than ${MAX_JSON_DEPTH} levels` });
      break;
    }
    for (const [key, child] of Object.entries(item.value)) {
      const path = item.path === '' ? key : `${item.path}.${key}`;
      if (!Array.isArray(item.value) && FORBIDDEN_KEYS.has(key)) issues.push({ path: cut(path), message: 'is not a known field' });
      else pending.push({ value: child, path, depth: item.depth + 1 });
    }
  }
  return issues;
}
