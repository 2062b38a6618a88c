/**
 * Every method an HTTP trigger is registered for, so that a wrong one reaches the handler (405 with
 * Allow) rather than the host (404). Not TRACE or CONNECT: the Fetch standard forbids them in a
 * Request, so the Functions worker cannot build the request it would hand us (undici throws "'TRACE'
 * HTTP method is unsupported"); the host refuses them before any handler. A module of its own,
 * importing nothing: registration reads it, and registration must stay light (cold start,
 * `npm run bench -- coldstart`).
 */
export const ALL_HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
