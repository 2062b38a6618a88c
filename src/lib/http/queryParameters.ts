import type { HttpRequest } from '@azure/functions';
import { ValidationError } from '../errors.js';

/**
 * The query string as one value per name, for the routes' strict zod schemas. A name given twice is
 * the caller's error (400 naming it), never settled silently by the last or the first value:
 * `?force=false&force=true` must not remove an app's last valid certificate.
 */
export function queryParameters(request: HttpRequest): Record<string, string> {
  // No prototype: a parameter named `__proto__` or `constructor` is a name like any other.
  const query = Object.create(null) as Record<string, string>;
  const repeated = new Set<string>();
  // From the URL, not `request.query`: the Functions host hands the query to the worker as a
  // name-to-value map (RpcHttp.query), where a repeated name is already folded into one entry, and
  // so does `npm run host`; the URL it hands over still has every occurrence.
  for (const [name, value] of new URL(request.url).searchParams) {
    if (Object.hasOwn(query, name)) repeated.add(name);
    else query[name] = value;
  }
  if (repeated.size > 0) {
    throw new ValidationError([...repeated].map((name) => ({ path: name, message: 'is given more than once; give it once' })));
  }
  return query;
}
