/**
 * Headers every API response carries: no content sniffing (a JSON body is never run as script or
 * styles), and a policy that loads nothing and may be framed by nothing, since an API response is
 * never a page (the dashboard sets its own). A module of its own, importing nothing: the health
 * and OpenAPI handlers use it without loading the rest of the HTTP layer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};
