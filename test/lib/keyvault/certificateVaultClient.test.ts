import { createPublicKey, randomUUID, sign, verify } from 'node:crypto';
import forge from 'node-forge';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
} from '../../../src/lib/certificates/generateCertificate.js';
import { encodePfx } from '../../../src/lib/certificates/pfx.js';
import { createCertificateVaultClient } from '../../../src/lib/serviceClients.js';
import { ConflictError, NotFoundError, PreconditionError, RetriableError, ValidationError } from '../../../src/lib/errors.js';
import type { CertificateVaultClient } from '../../../src/lib/keyvault/certificateVaultClient.js';
import { KeyVaultEmulator } from '../../emulators/keyVault.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../../support/identity.js';

const DAY = 24 * 3600 * 1000;
let identity: TestIdentity;
let vault: KeyVaultEmulator;
let client: CertificateVaultClient;
let keyPair: Awaited<ReturnType<typeof generateRsaKeyPair>>;

/** Distinct certificates from one key pair: key generation is the slow part and is not under test here. */
function certificate(displayName: string, now = new Date()): GeneratedCertificate {
  return createSelfSignedCertificate(keyPair, { displayName, lifetimeDays: 30, now });
}

function pfxOf(cert: GeneratedCertificate, legacy = false) {
  return encodePfx(cert.der, cert.privateKey, { legacy });
}

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  vault = new KeyVaultEmulator({
    tls,
    tenantId: identity.tenantId,
    authorityHost: identity.authority.url,
    verifyToken: (token, audiences) => identity.authority.verifyAccessToken(token, audiences),
    rbac: true,
    pageSize: 2,
  });
  await vault.start();
  vault.assignRole(identity.principalId, 'Key Vault Certificates Officer');
  vault.assignRole(identity.principalId, 'Key Vault Certificate User');
  client = createCertificateVaultClient(vault.vaultUrl, identity.clientSecretCredential, { retryOptions: FAST_RETRIES });
  keyPair = await generateRsaKeyPair(2048);
});

afterAll(async () => {
  await vault?.close();
  await identity?.close();
});

beforeEach(() => vault.server.clearFaults());

describe('CertificateVaultClient against the Key Vault emulator', () => {
  it('answers the first, token-less request with the challenge that names the authority, tenant and resource', async () => {
    const response = await fetch(`${vault.vaultUrl}certificates/anything?api-version=2025-07-01`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer authorization="${identity.authority.url}/${identity.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(await response.json()).toEqual({
      error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
    });
  });

  it('imports a PFX as a new version per import, with tags, x5t and the thumbprint Entra shows', async () => {
    const name = `app-${randomUUID()}`;
    const first = certificate('first');
    const second = certificate('second');
    const imported1 = await client.importCertificate(name, { ...(await pfxOf(first)), tags: { renewalId: 'r1' } });
    const imported2 = await client.importCertificate(name, { ...(await pfxOf(second, true)), tags: { renewalId: 'r2' } });

    expect(imported1).toMatchObject({ name, thumbprint: first.thumbprints.sha1, x5t: first.thumbprints.x5t, tags: { renewalId: 'r1' } });
    expect(imported1.id).toBe(`${vault.vaultUrl}certificates/${name}/${imported1.version}`);
    expect(imported2.version).not.toBe(imported1.version);
    expect(vault.versions(name).map((v) => v.thumbprint)).toEqual([first.thumbprints.sha1, second.thumbprints.sha1]);
    expect(vault.versions(name).map((v) => v.tags)).toEqual([{ renewalId: 'r1' }, { renewalId: 'r2' }]);

    expect((await client.getLatest(name))?.version).toBe(imported2.version);
    expect((await client.getVersion(name, imported1.version))?.thumbprint).toBe(first.thumbprints.sha1);
    expect((await client.listVersions(name)).map((v) => v.version)).toEqual([imported1.version, imported2.version]);
  });

  it('finds an earlier import by tag so a retry reuses it, across pages of versions', async () => {
    const name = `app-${randomUUID()}`;
    for (const renewalId of ['a', 'b', 'c'])
      await client.importCertificate(name, { ...(await pfxOf(certificate(renewalId))), tags: { renewalId } });
    // pageSize 2: the versions arrive in two pages and the adapter follows nextLink.
    expect(await client.listVersions(name)).toHaveLength(3);
    expect((await client.findVersionByTag(name, 'renewalId', 'c'))?.version).toBe(vault.latest(name)!.version);
    expect((await client.findVersionByTag(name, 'renewalId', 'a'))?.version).toBe(vault.versions(name)[0]!.version);
    expect(await client.findVersionByTag(name, 'renewalId', 'zzz')).toBeUndefined();
  });

  it('reads a certificate with its private key from the secret, by version and by thumbprint', async () => {
    const name = `app-${randomUUID()}`;
    const cert = certificate('with-key');
    const imported = await client.importCertificate(name, await pfxOf(cert));
    for (const which of [{ version: imported.version }, { thumbprint: cert.thumbprints.sha1.toLowerCase().match(/../g)!.join(':') }]) {
      const got = await client.getCertificateWithPrivateKey(name, which);
      expect(got.der.equals(cert.der)).toBe(true);
      expect(got.certificate.version).toBe(imported.version);
      const signature = sign('sha256', Buffer.from('proof'), got.privateKey);
      expect(verify('sha256', Buffer.from('proof'), createPublicKey(cert.privateKey), signature)).toBe(true);
    }
    expect(vault.server.count('getSecret')).toBeGreaterThanOrEqual(2);
  });

  it("serves a version's secret as the same bytes on every read, as Key Vault's immutable versions do", async () => {
    const name = `app-${randomUUID()}`;
    const imported = await client.importCertificate(name, await pfxOf(certificate('same-secret')));
    const secrets = new SecretClient(vault.vaultUrl, identity.clientSecretCredential, {
      retryOptions: FAST_RETRIES,
      // A loopback vault is not under vault.azure.net, as in composition.ts.
      disableChallengeResourceVerification: true,
    });
    const first = await secrets.getSecret(name, { version: imported.version });
    const again = await secrets.getSecret(name, { version: imported.version });
    expect(first.properties.contentType).toBe('application/x-pkcs12');
    expect(first.value).toBeTruthy();
    expect(again.value).toBe(first.value);
  });

  it('tells apart a missing certificate, a missing version and a missing key', async () => {
    const name = `app-${randomUUID()}`;
    expect(await client.getLatest(name)).toBeUndefined();
    expect(await client.listVersions(name)).toEqual([]);
    await expect(client.getCertificateWithPrivateKey(name, { thumbprint: 'AB'.repeat(20) })).rejects.toBeInstanceOf(NotFoundError);

    await client.importCertificate(name, await pfxOf(certificate('keyed')));
    const secretGone = vault.server.inject('getSecret', {
      status: 404,
      body: { error: { code: 'SecretNotFound', message: 'A secret with (name/id) x was not found' } },
      times: 1,
    });
    const missingKey = client.getCertificateWithPrivateKey(name, { version: vault.latest(name)!.version });
    await expect(missingKey).rejects.toBeInstanceOf(ConflictError);
    await expect(missingKey).rejects.toThrow(/private key .* is not available from Key Vault/);
    expect(secretGone.served).toBe(1);

    // A secret that is not a PFX it can open says why, not what content type it has.
    const latest = vault.latest(name)!;
    const notAPfx = vault.server.inject('getSecret', {
      status: 200,
      body: {
        value: Buffer.from('not a pfx').toString('base64'),
        contentType: 'application/x-pkcs12',
        id: `${vault.vaultUrl}secrets/${name}/${latest.version}`,
        attributes: { enabled: true },
      },
      times: 1,
    });
    await expect(client.getCertificateWithPrivateKey(name, { version: latest.version })).rejects.toThrow(
      /is not available from Key Vault: its PFX cannot be read \(malformed\)/,
    );
    expect(notAPfx.served).toBe(1);
  });

  it('refuses a PFX with a wrong password as Key Vault does, and stores nothing', async () => {
    const name = `app-${randomUUID()}`;
    const { pfx } = await pfxOf(certificate('wrong-password'));
    const attempt = client.importCertificate(name, { pfx, password: 'not-the-password-of-this-pfx-at-all' });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toThrow(/PKCS#12 X.509 certificate content can not be read/);
    expect(vault.versions(name)).toEqual([]);
    expect(vault.server.requests('importCertificate').at(-1)?.status).toBe(400);
  });

  it('refuses a PFX without a private key and an expired certificate', async () => {
    const name = `app-${randomUUID()}`;
    const cert = certificate('no-key');
    const forgeCert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(cert.der.toString('binary')));
    const password = 'a-password-of-enough-length-123';
    const certOnly = Buffer.from(
      forge.asn1.toDer(forge.pkcs12.toPkcs12Asn1(null, [forgeCert], password, { algorithm: '3des' })).getBytes(),
      'binary',
    );
    await expect(client.importCertificate(name, { pfx: certOnly, password })).rejects.toThrow(/Private key is not specified/);

    const expired = certificate('expired', new Date(Date.now() - 60 * DAY));
    await expect(client.importCertificate(name, await pfxOf(expired))).rejects.toThrow(/expired/);
    expect(vault.versions(name)).toEqual([]);
  });

  it('refuses a token issued for another resource', async () => {
    const wrong = createCertificateVaultClient(vault.vaultUrl, identity.wrongAudienceCredential(), { retryOptions: FAST_RETRIES });
    const attempt = wrong.getLatest('anything');
    await expect(attempt).rejects.toBeInstanceOf(PreconditionError);
    await expect(attempt).rejects.toThrow(/AKV10022/);
  });

  it('names the role to grant when RBAC refuses the caller', async () => {
    const name = `app-${randomUUID()}`;
    await client.importCertificate(name, await pfxOf(certificate('rbac')));
    vault.removeRole(identity.principalId, 'Key Vault Certificate User');
    try {
      const attempt = client.getCertificateWithPrivateKey(name, { version: vault.latest(name)!.version });
      await expect(attempt).rejects.toBeInstanceOf(PreconditionError);
      await expect(attempt).rejects.toThrow(/'Key Vault Certificate User' role on the key vault/);
    } finally {
      vault.assignRole(identity.principalId, 'Key Vault Certificate User');
    }
  });

  it('works with the managed identity that production uses (DefaultAzureCredential, IDENTITY_ENDPOINT)', async () => {
    const name = `app-${randomUUID()}`;
    await identity.withManagedIdentity(async (credential) => {
      const viaIdentity = createCertificateVaultClient(vault.vaultUrl, credential, { retryOptions: FAST_RETRIES });
      await expect(viaIdentity.importCertificate(name, await pfxOf(certificate('mi')))).rejects.toThrow(
        /'Key Vault Certificates Officer' role/,
      );
      vault.assignRole(identity.managedIdentity.principalId, 'Key Vault Certificates Officer');
      const imported = await viaIdentity.importCertificate(name, await pfxOf(certificate('mi')));
      expect((await viaIdentity.getLatest(name))?.version).toBe(imported.version);
    });
  });

  describe('faults', () => {
    it('waits out a 429 with Retry-After and then succeeds', async () => {
      const name = `app-${randomUUID()}`;
      const throttled = vault.server.inject('importCertificate', { status: 429, retryAfterSeconds: 1, times: 1 });
      const imported = await client.importCertificate(name, await pfxOf(certificate('throttled')));
      expect(throttled.served).toBe(1);
      expect(vault.versions(name).map((v) => v.version)).toEqual([imported.version]);
      expect(
        vault.server
          .requests('importCertificate')
          .slice(-2)
          .map((r) => r.status),
      ).toEqual([429, 200]);
    });

    it('gets past N 5xx failures and a dropped connection', async () => {
      const name = `app-${randomUUID()}`;
      await client.importCertificate(name, await pfxOf(certificate('seed')));
      const failures = vault.server.inject('getCertificate', { status: 503, times: 2 });
      expect(await client.getLatest(name)).toBeDefined();
      expect(failures.served).toBe(2);
      const dropped = vault.server.inject('listCertificateVersions', { drop: true, times: 1 });
      expect(await client.listVersions(name)).toHaveLength(1);
      expect(dropped.served).toBe(1);
    });

    it('turns a vault that does not answer in time into a RetriableError', async () => {
      const impatient = createCertificateVaultClient(vault.vaultUrl, identity.clientSecretCredential, {
        retryOptions: FAST_RETRIES,
        timeoutInMs: 300,
      });
      await impatient.getLatest('warm-up');
      const slow = vault.server.inject('getCertificate', { delayMs: 1500, times: 1 });
      const attempt = impatient.getLatest(`app-${randomUUID()}`);
      await expect(attempt).rejects.toBeInstanceOf(RetriableError);
      await expect(attempt).rejects.toThrow(/did not complete/);
      expect(slow.served).toBe(1);
    });

    it('gives up with a RetriableError carrying Retry-After when the service keeps failing', async () => {
      const down = vault.server.inject('getCertificate', { status: 503, retryAfterSeconds: 0, headers: { 'retry-after': '0' } });
      const attempt = client.getLatest(`app-${randomUUID()}`);
      await expect(attempt).rejects.toBeInstanceOf(RetriableError);
      await expect(attempt).rejects.toMatchObject({ retryAfterSeconds: 0 });
      expect(down.served).toBe(1 + FAST_RETRIES.maxRetries);
    });
  });
});
