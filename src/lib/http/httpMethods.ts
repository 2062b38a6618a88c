/**
 * Every method an HTTP trigger is registered for, so that a wrong one reaches the handler (405 with
 * Allow) rather than the host (404). Not TRACE or CONNECT: the Fetch standard forbids them in a
 * Request, so the Functions worker cannot build the request it would hand us (undici throws "'TRACE'
 * HTTP method is unsupported"); the host refuses them before any handler. A module of its own,
 * importing nothing: registration reads it, and registration must stay light (cold start,
 * `npm run bench -- coldstart`).
 */
export const ALL_HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/**
 * The methods each HTTP function serves, by its registered name: src/index.ts registers exactly
 * these, so the host refuses any other before a handler runs (the local host with 405, Allow and
 * problem+json; Azure's host with 404). HEAD and OPTIONS are not served: the API is same-origin
 * (no CORS preflight) and a HEAD would cost what a GET costs. test/functions/openApi.test.ts keeps
 * this table, the handlers' own method tables and the OpenAPI document equal.
 */
export const ROUTE_METHODS = {
  health: ['GET'],
  apps: ['GET'],
  app: ['GET', 'PUT', 'PATCH', 'DELETE'],
  appHistory: ['GET'],
  appCertificates: ['GET', 'POST'],
  appCertificate: ['GET', 'DELETE'],
  appCertificateExport: ['POST'],
  rotations: ['GET', 'POST'],
  rotation: ['GET'],
  inventory: ['GET'],
  openApiDocument: ['GET'],
  dashboard: ['GET'],
} as const satisfies Record<string, readonly (typeof ALL_HTTP_METHODS)[number][]>;
