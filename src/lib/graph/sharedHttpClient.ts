import { createDefaultHttpClient, type HttpClient } from '@azure/core-rest-pipeline';

let httpClient: HttpClient | undefined;

/**
 * One HTTP client (one keep-alive agent) for every Graph client and sign-in of the process, as the
 * global fetch had one pool: self mode builds a Graph client per session, and a client of its own
 * would mean a TLS handshake and an idle socket per renewal. Safe to share: credentials travel per
 * request.
 */
export function sharedHttpClient(): HttpClient {
  httpClient ??= createDefaultHttpClient();
  return httpClient;
}
