import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
} from '../../../src/lib/certificates/generateCertificate.js';
import { RetriableError } from '../../../src/lib/errors.js';
import { graphScopeFor } from '../../../src/lib/graph/graphClient.js';
import { AppSignInVerifier } from '../../../src/lib/graph/signInVerifier.js';
import { EntraAuthority } from '../../emulators/entraAuthority.js';
import { GraphEmulator } from '../../emulators/graph.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';

const tenantId = randomUUID();
let authority: EntraAuthority;
let graph: GraphEmulator;
let verifier: AppSignInVerifier;
let keyPair: Awaited<ReturnType<typeof generateRsaKeyPair>>;

function certificate(): GeneratedCertificate {
  return createSelfSignedCertificate(keyPair, { displayName: 'verifier', lifetimeDays: 30 });
}

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  verifier = new AppSignInVerifier({ tenantId, authorityHost: `${authority.url}/`, scope: graphScopeFor(graph.url) });
  keyPair = await generateRsaKeyPair(2048);
});

afterAll(async () => {
  await graph?.close();
  await authority?.close();
});

describe('AppSignInVerifier against the authority emulator', () => {
  it('signs in as the app with a certificate on its registration: one token request, the metadata read once', async () => {
    const before = authority.server.counters();
    for (let i = 0; i < 3; i++) {
      const app = graph.createApplication({ tenantId, displayName: `signs-in-${i}` });
      const cert = certificate();
      graph.seedCertificate(app.appId, cert.der);
      await verifier.verify(app.appId, cert);
      const issued = authority.issued.at(-1)!;
      expect(issued.via).toBe('client_assertion');
      expect(issued.claims.appid ?? issued.claims.azp).toBe(app.appId);
    }
    const after = authority.server.counters();
    const delta: Record<string, number> = {};
    for (const [route, n] of Object.entries(after)) if (n !== (before[route] ?? 0)) delta[route] = n - (before[route] ?? 0);
    expect(delta).toEqual({ token: 3, 'openid-configuration': 1 });
  });

  it('sends an assertion Entra accepts: PS256 with x5t#S256, aud the token endpoint, iss = sub = the app, a jti, short-lived', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'assertion' });
    const cert = certificate();
    graph.seedCertificate(app.appId, cert.der);
    await verifier.verify(app.appId, cert);
    const assertion = new URLSearchParams(authority.server.requests('token').at(-1)!.body).get('client_assertion');
    expect(assertion).toBeTruthy();
    const header = decodeProtectedHeader(assertion!);
    const claims = decodeJwt(assertion!);
    expect(header).toMatchObject({ alg: 'PS256', typ: 'JWT', 'x5t#S256': cert.thumbprints.x5tS256 });
    expect(claims).toMatchObject({ iss: app.appId, sub: app.appId, aud: `${authority.url}/${tenantId}/oauth2/v2.0/token` });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(600);
  });

  it('turns a refusal into a retriable error that quotes Entra (a certificate not, or not yet, on the app)', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'refused' });
    const cert = certificate();
    const refusal = verifier.verify(app.appId, cert);
    await expect(refusal).rejects.toBeInstanceOf(RetriableError);
    await expect(refusal).rejects.toThrow(/Signing in as app .* with the new certificate failed: HTTP 401: AADSTS700027/);

    graph.seedCertificate(app.appId, cert.der, { addedAt: new Date() });
    authority.refuseNewCertificatesFor(60);
    try {
      await expect(verifier.verify(app.appId, cert)).rejects.toThrow(/AADSTS700027/);
    } finally {
      authority.refuseNewCertificatesFor(0);
    }
    await verifier.verify(app.appId, cert);
  });

  it('says so when the authority cannot be reached', async () => {
    const unreachable = new AppSignInVerifier({ tenantId, authorityHost: 'https://127.0.0.1:1', scope: graphScopeFor(graph.url) });
    const app = graph.createApplication({ tenantId, displayName: 'unreachable' });
    const refusal = unreachable.verify(app.appId, certificate());
    await expect(refusal).rejects.toBeInstanceOf(RetriableError);
    await expect(refusal).rejects.toThrow(/Signing in as app .* with the new certificate failed: /);
  });

  it('does not keep a failed metadata read: the next verification reads it again and signs in', async () => {
    const fresh = new AppSignInVerifier({ tenantId, authorityHost: authority.url, scope: graphScopeFor(graph.url) });
    const app = graph.createApplication({ tenantId, displayName: 'metadata-retry' });
    const cert = certificate();
    graph.seedCertificate(app.appId, cert.der);
    const reads = () => authority.server.count('openid-configuration');
    const before = reads();
    const down = authority.server.inject('openid-configuration', { status: 503, times: 1 });
    await expect(fresh.verify(app.appId, cert)).rejects.toThrow(/OpenID metadata .* answered HTTP 503/);
    expect(down.served).toBe(1);
    await fresh.verify(app.appId, cert);
    await fresh.verify(app.appId, cert);
    expect(reads() - before).toBe(2);
  });

  it('gives up on an authority that does not answer within its deadline, saying so', async () => {
    const patient = new AppSignInVerifier({ tenantId, authorityHost: authority.url, scope: graphScopeFor(graph.url), timeoutInMs: 200 });
    const app = graph.createApplication({ tenantId, displayName: 'slow' });
    const cert = certificate();
    graph.seedCertificate(app.appId, cert.der);
    const slow = authority.server.inject('token', { delayMs: 1_000, times: 1 });
    await expect(patient.verify(app.appId, cert)).rejects.toThrow(/failed: no answer within 200 ms/);
    expect(slow.served).toBe(1);
  });
});
