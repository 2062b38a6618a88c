import { randomUUID } from 'node:crypto';

/**
 * Graph's error answers, for the Graph emulator: `{ error: { code, message, details?, innerError:
 * { date, request-id, client-request-id } } }` (https://learn.microsoft.com/graph/errors). A handler
 * throws a GraphFailure; graph.ts turns it into the response.
 */
export class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Array<{ code: string; message: string; target?: string }>,
  ) {
    super(message);
  }
}

export const notFound = (id: string) =>
  new GraphFailure(
    404,
    'Request_ResourceNotFound',
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
export const denied = () => new GraphFailure(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
export const badRequest = (message: string) => new GraphFailure(400, 'Request_BadRequest', message);

export function graphErrorBody(code: string, message: string, details: GraphFailure['details'], clientRequestId: string) {
  return {
    error: {
      code,
      message,
      ...(details ? { details } : {}),
      innerError: {
        date: new Date().toISOString().replace(/\.\d+Z$/, ''),
        'request-id': randomUUID(),
        'client-request-id': clientRequestId,
      },
    },
  };
}
