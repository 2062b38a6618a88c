/**
 * Every method an HTTP trigger is registered for, so that a wrong one reaches the handler (405 with
 * Allow) rather than the host (404). A module of its own, importing nothing: registration reads it,
 * and registration must stay light (cold start, `npm run bench -- coldstart`).
 */
export const ALL_HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'] as const;
