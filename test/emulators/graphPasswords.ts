import { randomBytes, randomUUID } from 'node:crypto';
import type { GraphPasswordCredential } from './graph.js';

/**
 * POST /applications/{id}/addPassword as Microsoft Graph v1.0 answers it
 * (learn.microsoft.com/graph/api/application-addpassword, resources/passwordcredential): the body is
 * `{ passwordCredential: { displayName?, startDateTime?, endDateTime? } }`; Entra makes the keyId and
 * the secret, answers the secretText once (200, the passwordCredential) and keeps only its hint, the
 * first three characters. Left out, endDateTime is two years after the start.
 */

const TWO_YEARS_MS = 2 * 365 * 24 * 3600_000;
const graphDate = (date: Date) => date.toISOString().replace(/\.\d+Z$/, 'Z');

export interface AddedPassword {
  readonly credential: GraphPasswordCredential;
  /** The JSON body Graph answers, secretText included (shown once, never stored). */
  readonly body: Record<string, unknown>;
}

export function addPasswordCredential(graphUrl: string, json: unknown, now: Date, badRequest: (message: string) => Error): AddedPassword {
  const body = json as Record<string, unknown> | undefined;
  const input = body?.passwordCredential;
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw badRequest("The request body must contain 'passwordCredential'.");
  const { displayName, startDateTime, endDateTime, ...rest } = input as Record<string, unknown>;
  // secretText, keyId and hint are Entra's to make (Graph ignores or refuses them); here a mistake to send.
  const other = Object.keys(rest)[0];
  if (other !== undefined) throw badRequest(`Property '${other}' is read-only or not supported by this emulator on passwordCredential.`);
  const date = (value: unknown, name: string, fallback: Date): Date => {
    if (value === undefined || value === null) return fallback;
    const parsed = typeof value === 'string' ? new Date(value) : new Date(NaN);
    if (Number.isNaN(parsed.getTime()))
      throw badRequest(`Invalid value specified for property '${name}' of resource 'PasswordCredential'.`);
    return parsed;
  };
  const start = date(startDateTime, 'startDateTime', now);
  const end = date(endDateTime, 'endDateTime', new Date(start.getTime() + TWO_YEARS_MS));
  if (end <= start) throw badRequest('The end date of the password must be after its start date.');
  if (displayName !== undefined && displayName !== null && typeof displayName !== 'string')
    throw badRequest("Invalid value specified for property 'displayName' of resource 'PasswordCredential'.");
  const secretText = randomBytes(30).toString('base64url');
  const credential: GraphPasswordCredential = {
    keyId: randomUUID(),
    displayName: displayName ?? null,
    hint: secretText.slice(0, 3),
    startDateTime: start,
    endDateTime: end,
  };
  return {
    credential,
    body: {
      '@odata.context': `${graphUrl}/v1.0/$metadata#microsoft.graph.passwordCredential`,
      customKeyIdentifier: null,
      displayName: credential.displayName,
      endDateTime: graphDate(end),
      hint: credential.hint,
      keyId: credential.keyId,
      secretText,
      startDateTime: graphDate(start),
    },
  };
}
