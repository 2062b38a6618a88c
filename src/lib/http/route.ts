import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { BearerAuthenticator, Caller, Role } from './bearerAuthenticator.js';
import { MethodNotAllowedError } from './httpErrors.js';
import { problemResponse } from './problem.js';
import { SECURITY_HEADERS } from './securityHeaders.js';

export { ALL_HTTP_METHODS } from './httpMethods.js';

export interface MethodHandler {
  /** The app role the method needs; `undefined` for an anonymous method. */
  readonly role: Role | undefined;
  readonly handle: (request: HttpRequest, context: InvocationContext, caller: Caller | undefined) => Promise<HttpResponseInit>;
}

/**
 * One route: dispatch by method (405 with Allow otherwise), authenticate and authorize, run the
 * method, and turn whatever it throws into problem+json. Order: method, then token, then the
 * request's content, so an anonymous caller learns nothing about the body rules.
 */
export function createRoute(authenticator: BearerAuthenticator, methods: Partial<Record<string, MethodHandler>>): HttpHandler {
  const allow = Object.keys(methods);
  return async (request, context) => {
    try {
      const method = methods[request.method.toUpperCase()];
      if (method === undefined) throw new MethodNotAllowedError(request.method, allow);
      const caller = method.role === undefined ? undefined : await authenticator.authorize(request, method.role);
      const response = await method.handle(request, context, caller);
      return {
        ...response,
        headers: { 'Cache-Control': 'no-store', ...(response.headers as Record<string, string> | undefined), ...SECURITY_HEADERS },
      };
    } catch (error) {
      return problemResponse(error, request, context, { authorizationUri: authenticator.authorizationUri });
    }
  };
}
