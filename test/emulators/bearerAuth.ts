import type { IncomingHttpHeaders } from 'node:http';

/**
 * How an emulator checks a bearer token: the Entra authority emulator's `verifyAccessToken` in the
 * tests and the sandbox, so the emulators of the resource services never hold signing keys of their
 * own. Returns the token's claims when it is valid for one of `audiences`, else undefined.
 */
export type BearerVerifier = (token: string, audiences: string[]) => Promise<Record<string, unknown> | undefined>;

/** The token of an `Authorization: Bearer …` header, or undefined when there is none. */
export function bearerTokenOf(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  return match?.[1];
}

/**
 * Entra writes a resource's App ID URI into `aud` without the `/.default` suffix, with or without a
 * trailing slash depending on how the scope was spelled (Communication Services' SDK asks for
 * `https://communication.azure.com//.default`), so a resource accepts both forms as Azure does.
 */
export function audiencesFor(resource: string): string[] {
  const bare = resource.replace(/\/+$/, '');
  return [bare, `${bare}/`];
}
