import { randomUUID } from 'node:crypto';
import forge from 'node-forge';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSelfSignedCertificate, generateRsaKeyPair, type RsaKeyPair } from '../../src/lib/certificates/generateCertificate.js';
import { EntraAuthority } from './entraAuthority.js';
import { GRAPH_RESOURCE, GraphEmulator, type GraphApplication } from './graph.js';
import { DEFAULT_POLICY_ID } from './graphPolicies.js';
import { loadOrCreateEmulatorTls } from './tls.js';

/**
 * The Graph emulator's app management policies (graphPolicies.ts) on the wire: both routes and the
 * permission they need, and the writes the policies in force refuse (a lifetime above the cap, a
 * self-signed certificate under a trusted-CA rule), the way a renewal that skipped the preflight
 * meets them.
 */

const tenantId = randomUUID();
const rotator = { oid: randomUUID(), appId: randomUUID() };
let authority: EntraAuthority;
let graph: GraphEmulator;
let keyPair: RsaKeyPair;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  keyPair = await generateRsaKeyPair(2048);
});
afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});
afterEach(() => graph.policies.clear());

const token = (roles: string[]) => authority.issueAccessToken({ tenantId, audience: GRAPH_RESOURCE, version: 1, roles, ...rotator });

async function call(method: string, path: string, options: { roles: string[]; body?: unknown }) {
  const response = await fetch(`${graph.url}/v1.0${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await token(options.roles)}`,
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & {
      error?: { code: string; message: string };
      value?: { id: string; isEnabled: boolean; restrictions: unknown }[];
    },
  };
}

function ownedApp(): GraphApplication {
  return graph.createApplication({ tenantId, displayName: 'Payroll', owners: [rotator.oid] });
}

function keyCredential(der: Buffer, notBefore: Date, notAfter: Date) {
  return {
    type: 'AsymmetricX509Cert',
    usage: 'Verify',
    key: der.toString('base64'),
    startDateTime: notBefore.toISOString(),
    endDateTime: notAfter.toISOString(),
  };
}

/** A leaf certificate issued by a (throwaway) CA: not self-signed. */
function caIssued(lifetimeDays: number): { der: Buffer; notBefore: Date; notAfter: Date } {
  const ca = forge.pki.privateKeyFromPem(keyPair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  const leaf = forge.pki.rsa.generateKeyPair({ bits: 1024 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = leaf.publicKey;
  cert.serialNumber = '01';
  // Whole seconds: a DER time has none, and Graph refuses an endDateTime past the certificate's.
  cert.validity.notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  cert.validity.notAfter = new Date(cert.validity.notBefore.getTime() + lifetimeDays * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'Issued leaf' }]);
  cert.setIssuer([{ name: 'commonName', value: 'Contoso Issuing CA' }]);
  cert.sign(ca, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { der, notBefore: cert.validity.notBefore, notAfter: cert.validity.notAfter };
}

describe('the policy routes', () => {
  it('serve the tenant default and the app policies with Policy.Read.All, and 403 without', async () => {
    const app = ownedApp();
    graph.policies.tenant = {
      ...graph.policies.tenant,
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P90D' }],
    };
    graph.policies.assign(app.id, { id: 'own', displayName: 'Own', isEnabled: true, keyCredentials: [] });

    const tenant = await call('GET', '/policies/defaultAppManagementPolicy', { roles: ['Policy.Read.All'] });
    expect(tenant.status).toBe(200);
    expect(tenant.body).toMatchObject({
      id: DEFAULT_POLICY_ID,
      isEnabled: true,
      applicationRestrictions: { keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P90D' }] },
    });
    const own = await call('GET', `/applications/${app.id}/appManagementPolicies`, { roles: ['Policy.Read.All', 'Application.Read.All'] });
    expect(own.status).toBe(200);
    expect(own.body.value?.map((p) => [p.id, p.isEnabled, typeof p.restrictions])).toEqual([['own', true, 'object']]);

    expect((await call('GET', '/policies/defaultAppManagementPolicy', { roles: ['Application.Read.All'] })).status).toBe(403);
    expect((await call('GET', `/applications/${app.id}/appManagementPolicies`, { roles: ['Application.Read.All'] })).status).toBe(403);
  });
});

describe('writes under the policies in force', () => {
  const patch = (app: GraphApplication, credential: unknown) =>
    call('PATCH', `/applications/${app.id}`, { roles: ['Application.ReadWrite.OwnedBy'], body: { keyCredentials: [credential] } });
  const selfSigned = (lifetimeDays: number) => {
    const c = createSelfSignedCertificate(keyPair, { displayName: 'self', lifetimeDays });
    return keyCredential(c.der, c.notBefore, c.notAfter);
  };

  it("an app's lifetime cap refuses a longer certificate with CredentialInvalidLifetimeAsPerAppPolicy naming the policy", async () => {
    const app = ownedApp();
    graph.policies.assign(app.id, {
      id: 'cap-90',
      displayName: null,
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P90D' }],
    });
    const refused = await patch(app, selfSigned(180));
    expect(refused.status).toBe(400);
    expect(refused.body.error?.code).toBe('CredentialInvalidLifetimeAsPerAppPolicy');
    expect(refused.body.error?.message).toContain("'cap-90'");
    expect((await patch(app, selfSigned(90))).status).toBe(204);
  });

  it('a trusted-CA rule refuses a self-signed certificate and takes one a CA issued', async () => {
    const app = ownedApp();
    graph.policies.tenant = {
      ...graph.policies.tenant,
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'trustedCertificateAuthority', certificateBasedApplicationConfigurationIds: [randomUUID()] }],
    };
    const refused = await patch(app, selfSigned(30));
    expect(refused.status).toBe(400);
    expect(refused.body.error?.code).toMatch(/AsPerAppPolicy$/);
    expect(refused.body.error?.message).toContain(`'${DEFAULT_POLICY_ID}'`);
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(0);
    const issued = caIssued(30);
    expect((await patch(app, keyCredential(issued.der, issued.notBefore, issued.notAfter))).status).toBe(204);
  });

  it.each([
    ['the restriction is disabled', { state: 'disabled' as const }],
    [
      'the app was created before the restriction applies',
      { restrictForAppsCreatedAfterDateTime: new Date(Date.now() + 86_400_000).toISOString() },
    ],
  ])('a trusted-CA rule does not bind when %s', async (_name, extra) => {
    const app = ownedApp();
    graph.policies.tenant = {
      ...graph.policies.tenant,
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'trustedCertificateAuthority', ...extra }],
    };
    expect((await patch(app, selfSigned(30))).status).toBe(204);
  });
});
