import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSelfSignedCertificate, generateRsaKeyPair } from '../../src/lib/certificates/generateCertificate.js';
import { encodePfx } from '../../src/lib/certificates/pfx.js';
import { getCertificateVaultClient, getEventPublisher, getNotificationMailer } from '../../src/lib/composition.js';
import { EmailEmulator } from '../emulators/email.js';
import { EventGridEmulator } from '../emulators/eventGrid.js';
import { KeyVaultEmulator } from '../emulators/keyVault.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { startTestIdentity, type TestIdentity } from '../support/identity.js';

/**
 * The composition root builds the three adapters from the settings alone, with DefaultAzureCredential
 * (here through AZURE_CLIENT_ID / AZURE_CLIENT_SECRET and a non-public AZURE_AUTHORITY_HOST, so
 * instance discovery must be off), exactly as the Function App does.
 */
let identity: TestIdentity;
let vault: KeyVaultEmulator;
let email: EmailEmulator;
let topic: EventGridEmulator;
const savedEnv = { ...process.env };

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  const verifyToken = (token: string, audiences: string[]) => identity.authority.verifyAccessToken(token, audiences);
  vault = new KeyVaultEmulator({ tls, tenantId: identity.tenantId, authorityHost: identity.authority.url, verifyToken });
  email = new EmailEmulator({ tls, accessKey: randomBytes(32).toString('base64'), verifyToken });
  topic = new EventGridEmulator({ tls, keys: [randomBytes(32).toString('base64')], verifyToken });
  await Promise.all([vault.start(), email.start(), topic.start()]);
  const secret = randomUUID();
  identity.authority.registerClientSecret(identity.tenantId, identity.clientId, secret, { principalId: identity.principalId });
  Object.assign(process.env, {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    MANAGED_TENANT_ID: identity.tenantId,
    DEFAULT_KEYVAULT_URL: vault.vaultUrl,
    API_AUDIENCE: 'api://entra-cert-rotator',
    API_TENANT_ID: identity.tenantId,
    AZURE_AUTHORITY_HOST: identity.authority.url,
    AZURE_TENANT_ID: identity.tenantId,
    AZURE_CLIENT_ID: identity.clientId,
    AZURE_CLIENT_SECRET: secret,
    EMAIL_ENDPOINT: email.server.url,
    EMAIL_SENDER: 'DoNotReply@rotator.example.com',
    EVENTGRID_TOPIC_ENDPOINT: topic.topicEndpoint,
  });
});

afterAll(async () => {
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
  await Promise.all([vault?.close(), email?.close(), topic?.close()]);
  await identity?.close();
});

describe('composition root: Key Vault, email and Event Grid adapters from the settings', () => {
  it('builds each adapter once, signed in with DefaultAzureCredential against a private authority', async () => {
    const certificate = createSelfSignedCertificate(await generateRsaKeyPair(2048), { displayName: 'composed', lifetimeDays: 30 });
    const vaultClient = getCertificateVaultClient();
    expect(getCertificateVaultClient(vault.vaultUrl)).toBe(vaultClient);
    const imported = await vaultClient.importCertificate('composed', await encodePfx(certificate.der, certificate.privateKey));
    expect(vault.latest('composed')?.version).toBe(imported.version);

    const mailer = getNotificationMailer()!;
    expect(getNotificationMailer()).toBe(mailer);
    await mailer.send({ to: ['admin@contoso.example'], subject: 's', plainText: 't', html: '<p>t</p>' });
    expect(email.messages().map((m) => m.caller)).toEqual([identity.principalId]);

    const publisher = getEventPublisher()!;
    const id = randomUUID();
    await publisher.publish([{ id, type: 'EntraCertRotator.CertificateGenerated', source: '/entra-cert-rotator/apps/x', data: {} }]);
    expect(topic.events().map((e) => [e.event.id, e.publisher])).toEqual([[id, identity.principalId]]);
  });
});
