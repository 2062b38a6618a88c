import { randomUUID } from 'node:crypto';
import type { EmulatorResponse } from './emulatorServer.js';

/**
 * The Entra authority emulator's refusals: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 * ({ error, error_description "AADSTSnnn: …\r\nTrace ID…", error_codes, timestamp, trace_id,
 * correlation_id, error_uri }). A grant throws an AadstsError; entraAuthority.ts answers it.
 */
export class AadstsError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    description: string,
  ) {
    super(description);
  }
}

export function aadstsResponse(error: AadstsError, authorityUrl: string): EmulatorResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return {
    status: error.status,
    body: {
      error: error.error,
      error_description: `AADSTS${error.code}: ${error.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [error.code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${authorityUrl}/error?code=${error.code}`,
    },
  };
}
