import { describe, expect, it } from 'vitest';
import {
  accessStatusOf,
  assignmentName,
  assignmentsFor,
  certificateIsInVault,
  grantsToRevoke,
  needsAdmin,
  wantsGrants,
} from '../../../src/lib/access/accessPlan.js';
import { renewalStateSchema, type AppConfig } from '../../../src/lib/domain/appConfig.js';

const VAULT = '/subscriptions/8f2d3c4b-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-one';
const APP_SP = '11111111-1111-4111-8111-111111111111';
const READER = '22222222-2222-4222-8222-222222222222';

function config(keyVault: Partial<AppConfig['keyVault']> = {}): AppConfig {
  return {
    appId: '33333333-3333-4333-8333-333333333333',
    displayName: 'Payments',
    enabled: true,
    lifetimeDays: 90,
    renewBeforeDays: 30,
    keySize: 2048,
    graphMode: 'owner',
    bootstrap: false,
    notifications: { enabled: false, recipients: [], thresholdDays: 14, includeCertificate: false, attachmentFormat: 'cer' },
    keyVault: {
      enabled: true,
      vaultUrl: 'https://kv-one.vault.azure.net/',
      certificateName: 'payments',
      grantAppRead: true,
      readers: [],
      ...keyVault,
    },
  };
}

describe('assignmentsFor', () => {
  it('gives each principal Secrets User on the secret and Certificate User on the certificate, nothing at the vault', () => {
    const assignments = assignmentsFor(VAULT, 'payments', [APP_SP, READER]);
    expect(assignments.map(({ role, scope, principalId }) => [principalId, role, scope])).toEqual([
      [APP_SP, 'Key Vault Secrets User', `${VAULT}/secrets/payments`],
      [APP_SP, 'Key Vault Certificate User', `${VAULT}/certificates/payments`],
      [READER, 'Key Vault Secrets User', `${VAULT}/secrets/payments`],
      [READER, 'Key Vault Certificate User', `${VAULT}/certificates/payments`],
    ]);
    expect(new Set(assignments.map((a) => a.name)).size).toBe(4);
  });

  it('names an assignment the same on every run and whatever the case of the ids, differently for anything else', () => {
    const scope = `${VAULT}/secrets/payments`;
    const name = assignmentName(scope, 'Key Vault Secrets User', READER);
    expect(name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(assignmentName(scope.toUpperCase(), 'Key Vault Secrets User', READER.toUpperCase())).toBe(name);
    expect(assignmentName(scope, 'Key Vault Certificate User', READER)).not.toBe(name);
    expect(assignmentName(scope, 'Key Vault Secrets User', APP_SP)).not.toBe(name);
    expect(assignmentName(`${VAULT}/secrets/other`, 'Key Vault Secrets User', READER)).not.toBe(name);
  });
});

describe.each([
  { keyVault: {}, wants: true },
  { keyVault: { grantAppRead: false }, wants: false },
  { keyVault: { grantAppRead: false, readers: [READER] }, wants: true },
  { keyVault: { enabled: false, readers: [READER] }, wants: false },
])('wantsGrants($keyVault)', ({ keyVault, wants }) => {
  it(`is ${wants}`, () => expect(wantsGrants(config(keyVault))).toBe(wants));
});

describe('certificateIsInVault', () => {
  const state = (keyVaultId?: string) => renewalStateSchema.parse(keyVaultId ? { keyVaultId } : {});
  it.each([
    ['no certificate yet', undefined, false],
    ['this vault and name', 'https://kv-one.vault.azure.net/certificates/payments/0123abcd', true],
    ['another name (renamed since)', 'https://kv-one.vault.azure.net/certificates/payments-old/0123abcd', false],
    ['a name this one is a prefix of', 'https://kv-one.vault.azure.net/certificates/payments2/0123abcd', false],
    ['another vault (moved since)', 'https://kv-two.vault.azure.net/certificates/payments/0123abcd', false],
  ])('%s', (_, keyVaultId, expected) => expect(certificateIsInVault(config(), state(keyVaultId))).toBe(expected));
});

describe('grantsToRevoke', () => {
  it('removes only recorded grants the config no longer asks for', () => {
    const [spSecret, spCert, readerSecret, readerCert] = assignmentsFor(VAULT, 'payments', [APP_SP, READER]);
    const recorded = [spSecret!, spCert!, readerSecret!, readerCert!];
    expect(grantsToRevoke(recorded, [spSecret!, spCert!])).toEqual([readerSecret, readerCert]);
    expect(grantsToRevoke(recorded, recorded)).toEqual([]);
    expect(grantsToRevoke([], [spSecret!])).toEqual([]);
  });
});

describe('accessStatusOf', () => {
  it.each([
    [{ refused: false, unsatisfiable: false, waiting: false }, 'granted'],
    [{ refused: false, unsatisfiable: false, waiting: true }, 'pending'],
    [{ refused: false, unsatisfiable: true, waiting: true }, 'not-configured'],
    [{ refused: true, unsatisfiable: true, waiting: true }, 'missing-permission'],
  ] as const)('%j is %s', (outcome, status) => expect(accessStatusOf(outcome)).toBe(status));
});

describe('needsAdmin', () => {
  it.each([
    [undefined, 'pending', false],
    [undefined, 'missing-permission', true],
    ['pending', 'not-configured', true],
    ['missing-permission', 'missing-permission', false],
    ['missing-permission', 'granted', false],
    ['granted', 'missing-permission', true],
  ] as const)('%s → %s: %s', (previous, next, expected) => expect(needsAdmin(previous, next)).toBe(expected));
});
