import { randomUUID } from 'node:crypto';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { createRemoteJWKSet, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
} from '../../src/lib/certificates/generateCertificate.js';
import { encodePemBundle } from '../../src/lib/certificates/encode.js';
import { EntraAuthority, type CertificateDirectory, type DirectoryApplication, type DirectoryKeyCredential } from './entraAuthority.js';
import { loadOrCreateEmulatorTls } from './tls.js';

const tenantId = randomUUID();
const DAY = 24 * 3600 * 1000;

/** A minimal directory for these tests; the Graph emulator provides the real one. */
class TestDirectory implements CertificateDirectory {
  readonly apps = new Map<string, { objectId: string; servicePrincipalId: string; keyCredentials: DirectoryKeyCredential[] }>();
  findApplication(tenant: string, clientId: string): DirectoryApplication | undefined {
    return tenant === tenantId ? this.apps.get(clientId) : undefined;
  }
  addApp(clientId: string, ...certificates: Array<{ certificate: GeneratedCertificate; addedAt?: Date }>) {
    this.apps.set(clientId, {
      objectId: randomUUID(),
      servicePrincipalId: randomUUID(),
      keyCredentials: certificates.map(({ certificate, addedAt }) => ({
        keyId: randomUUID(),
        type: 'AsymmetricX509Cert',
        usage: 'Verify',
        key: certificate.der,
        startDateTime: certificate.notBefore,
        endDateTime: certificate.notAfter,
        addedAt: addedAt ?? new Date(Date.now() - DAY),
      })),
    });
    return this.apps.get(clientId)!;
  }
}

let authority: EntraAuthority;
const directory = new TestDirectory();
let keyPair: Awaited<ReturnType<typeof generateRsaKeyPair>>;
let validCertificate: GeneratedCertificate;
let expiredCertificate: GeneratedCertificate;
let otherCertificate: GeneratedCertificate;

const pemOf = (certificate: GeneratedCertificate) => encodePemBundle(certificate.der, certificate.privateKey);
const privateKeyPem = (certificate: GeneratedCertificate) => certificate.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

beforeAll(async () => {
  authority = new EntraAuthority({ tls: loadOrCreateEmulatorTls(inject('emulatorTlsDir')), directory });
  await authority.start();
  keyPair = await generateRsaKeyPair(2048);
  validCertificate = createSelfSignedCertificate(keyPair, { displayName: 'valid', lifetimeDays: 30 });
  expiredCertificate = createSelfSignedCertificate(keyPair, {
    displayName: 'expired',
    lifetimeDays: 30,
    now: new Date(Date.now() - 60 * DAY),
  });
  otherCertificate = createSelfSignedCertificate(keyPair, { displayName: 'other', lifetimeDays: 30 });
});

afterAll(async () => {
  await authority.close();
});

function msalApp(
  clientId: string,
  credential: { clientSecret: string } | { clientCertificate: { thumbprint?: string; thumbprintSha256?: string; privateKey: string } },
) {
  return new ConfidentialClientApplication({
    auth: { clientId, authority: `${authority.url}/${tenantId}`, knownAuthorities: [new URL(authority.url).host], ...credential },
  });
}

async function postToken(form: Record<string, string>) {
  const response = await fetch(authority.tokenEndpointFor(tenantId), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function expectAadsts(body: Record<string, unknown>, code: number) {
  expect(body.error_codes).toEqual([code]);
  for (const field of ['error', 'timestamp', 'trace_id', 'correlation_id']) expect(typeof body[field], field).toBe('string');
  expect(body.error_description).toMatch(new RegExp(`^AADSTS${code}: `));
}

describe('OpenID metadata and JWKS', () => {
  it('publishes metadata whose JWKS verifies the tokens it issues, v2 and v1', async () => {
    const metadata = (await (await fetch(`${authority.url}/${tenantId}/v2.0/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(metadata.issuer).toBe(`${authority.url}/${tenantId}/v2.0`);
    expect(metadata.token_endpoint).toBe(authority.tokenEndpointFor(tenantId));
    const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri!));

    const v2 = await authority.issueAccessToken({ tenantId, audience: 'api://rotator', roles: ['CertRotator.Admin'], name: 'Ada' });
    const { payload } = await jwtVerify(v2, jwks, { issuer: metadata.issuer, audience: 'api://rotator' });
    expect(payload).toMatchObject({ ver: '2.0', tid: tenantId, roles: ['CertRotator.Admin'], name: 'Ada' });

    const v1 = await authority.issueAccessToken({ tenantId, audience: 'api://rotator', version: 1, appId: 'client-1' });
    const v1Result = await jwtVerify(v1, jwks, { issuer: `https://sts.windows.net/${tenantId}/`, audience: 'api://rotator' });
    expect(v1Result.payload).toMatchObject({ ver: '1.0', appid: 'client-1' });
  });

  it('makes bad tokens on request that a validator rejects, and verifyAccessToken rejects them too', async () => {
    const jwks = createRemoteJWKSet(new URL(`${authority.url}/${tenantId}/discovery/v2.0/keys`));
    const issuer = authority.issuerFor(tenantId);
    const foreign = await authority.issueAccessToken({ tenantId, audience: 'api://rotator', signWith: 'foreign-key' });
    await expect(jwtVerify(foreign, jwks, { issuer })).rejects.toThrow(/signature/);
    const none = await authority.issueAccessToken({ tenantId, audience: 'api://rotator', signWith: 'none' });
    await expect(jwtVerify(none, jwks, { issuer })).rejects.toThrow();
    const expired = await authority.issueAccessToken({ tenantId, audience: 'api://rotator', expiresAt: new Date(Date.now() - 3600_000) });
    await expect(jwtVerify(expired, jwks, { issuer })).rejects.toThrow(/exp/);
    const wrongIssuer = await authority.issueAccessToken({ tenantId, audience: 'api://rotator', issuer: 'https://evil.example/' });

    for (const bad of [foreign, none, expired, wrongIssuer])
      expect(await authority.verifyAccessToken(bad, 'api://rotator')).toBeUndefined();
    const good = await authority.issueAccessToken({ tenantId, audience: 'api://rotator' });
    expect(await authority.verifyAccessToken(good, ['https://graph.microsoft.com'])).toBeUndefined();
    expect(await authority.verifyAccessToken(good, ['https://graph.microsoft.com', 'api://rotator'])).toMatchObject({ tid: tenantId });
  });

  it('keeps publishing the old key after a rotation', async () => {
    const before = await authority.issueAccessToken({ tenantId, audience: 'api://rotator' });
    authority.rotateSigningKey();
    const after = await authority.issueAccessToken({ tenantId, audience: 'api://rotator' });
    const jwks = createRemoteJWKSet(new URL(`${authority.url}/${tenantId}/discovery/v2.0/keys`));
    await jwtVerify(before, jwks);
    await jwtVerify(after, jwks);
    expect(authority.jwks.keys).toHaveLength(2);
  });
});

describe('token endpoint with msal-node', () => {
  it('issues a token for a client secret, and refuses a wrong one with AADSTS7000215', async () => {
    const clientId = randomUUID();
    authority.registerClientSecret(tenantId, clientId, 's3cret', { roles: ['Application.ReadWrite.OwnedBy'] });
    const result = await msalApp(clientId, { clientSecret: 's3cret' }).acquireTokenByClientCredential({
      scopes: ['https://graph.microsoft.com/.default'],
    });
    const claims = await authority.verifyAccessToken(result!.accessToken, 'https://graph.microsoft.com');
    expect(claims).toMatchObject({
      appid: clientId,
      roles: ['Application.ReadWrite.OwnedBy'],
      oid: authority.servicePrincipalIdOf(tenantId, clientId),
    });

    await expect(
      msalApp(clientId, { clientSecret: 'wrong' }).acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] }),
    ).rejects.toThrow(/AADSTS7000215/);
    const raw = await postToken({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: 'wrong',
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(raw.status).toBe(401);
    expectAadsts(raw.body, 7000215);
  });

  it('refuses a scope without /.default', async () => {
    const clientId = randomUUID();
    authority.registerClientSecret(tenantId, clientId, 's3cret');
    const raw = await postToken({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: 's3cret',
      scope: 'https://graph.microsoft.com/Application.Read.All',
    });
    expect(raw.status).toBe(400);
    expectAadsts(raw.body, 1002012);
  });

  it('issues a token for a certificate by SHA-1 thumbprint (RS256 + x5t)', async () => {
    const clientId = randomUUID();
    const app = directory.addApp(clientId, { certificate: validCertificate });
    const result = await msalApp(clientId, {
      clientCertificate: { thumbprint: validCertificate.thumbprints.sha1, privateKey: privateKeyPem(validCertificate) },
    }).acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
    expect(await authority.verifyAccessToken(result!.accessToken, 'https://graph.microsoft.com')).toMatchObject({
      appid: clientId,
      oid: app.servicePrincipalId,
    });
    const assertion = new URLSearchParams(authority.server.requests('token').at(-1)!.body).get('client_assertion')!;
    expect(JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString())).toMatchObject({
      alg: 'RS256',
      x5t: validCertificate.thumbprints.x5t,
    });
  });

  it('issues a token for a certificate by SHA-256 thumbprint (PS256 + x5t#S256)', async () => {
    const clientId = randomUUID();
    directory.addApp(clientId, { certificate: validCertificate });
    const result = await msalApp(clientId, {
      clientCertificate: { thumbprintSha256: validCertificate.thumbprints.sha256, privateKey: privateKeyPem(validCertificate) },
    }).acquireTokenByClientCredential({ scopes: ['https://vault.azure.net/.default'] });
    expect(await authority.verifyAccessToken(result!.accessToken, 'https://vault.azure.net')).toMatchObject({ appid: clientId });
    const assertion = new URLSearchParams(authority.server.requests('token').at(-1)!.body).get('client_assertion')!;
    expect(JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString())).toMatchObject({
      alg: 'PS256',
      'x5t#S256': validCertificate.thumbprints.x5tS256,
    });
  });

  it('refuses an unknown certificate, an expired one and a not yet propagated one with AADSTS700027', async () => {
    const clientId = randomUUID();
    directory.addApp(clientId, { certificate: validCertificate }, { certificate: expiredCertificate });
    const tryWith = (certificate: GeneratedCertificate) =>
      msalApp(clientId, {
        clientCertificate: { thumbprint: certificate.thumbprints.sha1, privateKey: privateKeyPem(certificate) },
      }).acquireTokenByClientCredential({
        scopes: ['https://graph.microsoft.com/.default'],
      });
    await expect(tryWith(otherCertificate)).rejects.toThrow(/AADSTS700027.*not registered/);
    await expect(tryWith(expiredCertificate)).rejects.toThrow(/AADSTS700027.*expired/);
    expectAadsts((await postToken(await assertionForm(clientId, otherCertificate))).body, 700027);

    directory.apps
      .get(clientId)!
      .keyCredentials.push({ ...directory.apps.get(clientId)!.keyCredentials[0]!, key: otherCertificate.der, addedAt: new Date() });
    authority.refuseNewCertificatesFor(3600);
    try {
      await expect(tryWith(otherCertificate)).rejects.toThrow(/AADSTS700027/);
      // An old certificate of the same app still signs in during the propagation window.
      await tryWith(validCertificate);
    } finally {
      authority.refuseNewCertificatesFor(0);
    }
    await tryWith(otherCertificate);
  });

  it('refuses assertions with a wrong audience, issuer, algorithm or signature', async () => {
    const clientId = randomUUID();
    directory.addApp(clientId, { certificate: validCertificate });
    const cases: Array<[Parameters<typeof assertionForm>[2], number]> = [
      [{ aud: 'https://login.microsoftonline.com/common/oauth2/v2.0/token' }, 700023],
      [{ iss: randomUUID() }, 700021],
      [{ alg: 'PS256' }, 5002723],
      [{ exp: Math.floor(Date.now() / 1000) - 3600 }, 700024],
      [{ signWith: otherCertificate }, 700027],
    ];
    for (const [override, code] of cases) {
      const { status, body } = await postToken(await assertionForm(clientId, validCertificate, override));
      expect(status).toBe(401);
      expectAadsts(body, code);
    }
    const forged = await assertionForm(clientId, validCertificate, { privateKey: (await generateRsaKeyPair(2048)).privateKey });
    expectAadsts((await postToken(forged)).body, 7000274);
    expect((await postToken(await assertionForm(clientId, validCertificate))).status).toBe(200);
  });
});

async function assertionForm(
  clientId: string,
  certificate: GeneratedCertificate,
  override: {
    aud?: string;
    iss?: string;
    alg?: string;
    exp?: number;
    signWith?: GeneratedCertificate;
    privateKey?: GeneratedCertificate['privateKey'];
  } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const header = override.signWith ?? certificate;
  const jwt = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: override.alg ?? 'RS256', typ: 'JWT', x5t: header.thumbprints.x5t })
    .setAudience(override.aud ?? authority.tokenEndpointFor(tenantId))
    .setIssuer(override.iss ?? clientId)
    .setSubject(clientId)
    .setNotBefore(now - 60)
    .setExpirationTime(override.exp ?? now + 600)
    .sign(override.privateKey ?? certificate.privateKey);
  return {
    grant_type: 'client_credentials',
    client_id: clientId,
    scope: 'https://graph.microsoft.com/.default',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt,
  };
}

describe('@azure/identity against the authority', () => {
  it('ClientSecretCredential and ClientCertificateCredential get tokens with authorityHost and instance discovery disabled', async () => {
    const secretClient = randomUUID();
    authority.registerClientSecret(tenantId, secretClient, 'pa55');
    const secretCredential = new ClientSecretCredential(tenantId, secretClient, 'pa55', {
      authorityHost: authority.url,
      disableInstanceDiscovery: true,
    });
    const secretToken = await secretCredential.getToken('https://vault.azure.net/.default');
    expect(await authority.verifyAccessToken(secretToken.token, 'https://vault.azure.net')).toMatchObject({ appid: secretClient });

    const certClient = randomUUID();
    directory.addApp(certClient, { certificate: validCertificate });
    const certCredential = new ClientCertificateCredential(
      tenantId,
      certClient,
      { certificate: pemOf(validCertificate) },
      { authorityHost: authority.url, disableInstanceDiscovery: true },
    );
    const certToken = await certCredential.getToken('https://graph.microsoft.com/.default');
    expect(await authority.verifyAccessToken(certToken.token, 'https://graph.microsoft.com')).toMatchObject({ appid: certClient });

    const unknown = new ClientCertificateCredential(
      tenantId,
      randomUUID(),
      { certificate: pemOf(validCertificate) },
      { authorityHost: authority.url, disableInstanceDiscovery: true },
    );
    await expect(unknown.getToken('https://graph.microsoft.com/.default')).rejects.toThrow(/AADSTS700016/);
  });

  it('DefaultAzureCredential uses the App Service managed identity endpoint from IDENTITY_ENDPOINT / IDENTITY_HEADER', async () => {
    const principalId = randomUUID();
    const clientId = randomUUID();
    const { endpoint, header } = authority.enableManagedIdentity({ tenantId, principalId, clientId, roles: ['Application.Read.All'] });
    const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
    process.env.IDENTITY_ENDPOINT = endpoint;
    process.env.IDENTITY_HEADER = header;
    try {
      const credential = new DefaultAzureCredential();
      const token = await credential.getToken('https://graph.microsoft.com/.default');
      expect(await authority.verifyAccessToken(token.token, 'https://graph.microsoft.com')).toMatchObject({
        oid: principalId,
        appid: clientId,
        tid: tenantId,
        roles: ['Application.Read.All'],
      });
      const request = authority.server.requests('managed-identity').at(-1)!;
      expect(request.status).toBe(200);
      expect(request.path).toBe('/msi/token');
    } finally {
      if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
      else process.env.IDENTITY_ENDPOINT = saved.endpoint;
      if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
      else process.env.IDENTITY_HEADER = saved.header;
    }
    const refused = await fetch(`${endpoint}?resource=https://graph.microsoft.com&api-version=2019-08-01`, {
      headers: { 'x-identity-header': 'nope' },
    });
    expect(refused.status).toBe(401);
  });
});
