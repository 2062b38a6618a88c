import type { KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { keyIdForRenewal } from '../../src/lib/renewal/RenewalService.js';
import type { GraphKeyCredential } from '../emulators/graph.js';
import { peekAll, type RenewalWorld } from './renewalWorld.js';

/**
 * The invariants of PRODUCT.md §4 that every renewal test checks after its scenario, in one place:
 *  1. one new certificate per renewal id in Entra (and at most one Key Vault version per renewal id);
 *  2. every credential that existed before is still there, unless it expired and the rotator made it;
 *  3. Key Vault's latest version, the stored state and Entra's newest managed certificate agree;
 *  4. no private key material in any table entity, queue message, event, email body or log line.
 */

export interface CredentialBaseline {
  readonly appId: string;
  readonly credentials: readonly { keyId: string; endDateTime: Date; managed: boolean }[];
}

/** The app registration's credentials before a scenario. */
export function credentialBaseline(world: RenewalWorld, appId: string): CredentialBaseline {
  const app = world.graph.application(appId);
  if (!app) throw new Error(`No app registration ${appId}`);
  return {
    appId,
    credentials: app.keyCredentials.map((c) => ({ keyId: c.keyId, endDateTime: c.endDateTime, managed: isManaged(c) })),
  };
}

const isManaged = (c: Pick<GraphKeyCredential, 'displayName'>) => (c.displayName ?? '').startsWith('entra-cert-rotator');

export interface InvariantExpectations {
  /** How many new certificates the scenario must have added in Entra (one per renewal that ran). */
  readonly newCertificates: number;
  /** Keys that never went to Key Vault (no-Key-Vault apps) but must not leak either. */
  readonly extraPrivateKeys?: readonly KeyObject[];
  /** Apps whose emails may carry the certificate as an attachment (includeCertificate). */
  readonly attachmentsAllowed?: boolean;
}

export async function assertRenewalInvariants(
  world: RenewalWorld,
  before: CredentialBaseline,
  expected: InvariantExpectations,
): Promise<void> {
  const { appId } = before;
  const registration = world.graph.application(appId)!;
  const stored = (await world.store.getApp(appId))!;
  const state = stored.state;
  const vaultName = stored.config.keyVault.certificateName;
  const versions = stored.config.keyVault.enabled ? world.keyVault.versions(vaultName) : [];
  const now = Date.now();

  // 1. One new certificate per renewal id.
  const beforeIds = new Set(before.credentials.map((c) => c.keyId));
  const added = registration.keyCredentials.filter((c) => !beforeIds.has(c.keyId));
  expect(added, 'new certificates in Entra').toHaveLength(expected.newCertificates);
  const renewalIds = new Set([...state.deployAttempts, ...versions.map((v) => v.tags.renewalId).filter((id) => id !== undefined)]);
  const keyIdOwners = new Map([...renewalIds].map((id) => [keyIdForRenewal(id), id]));
  for (const credential of added) {
    expect(isManaged(credential), `credential ${credential.keyId} is marked as the rotator's`).toBe(true);
    if (stored.config.graphMode === 'owner') {
      expect(keyIdOwners.has(credential.keyId), `credential ${credential.keyId} belongs to a renewal id`).toBe(true);
    }
  }
  const perRenewal = new Map<string, number>();
  for (const v of versions) perRenewal.set(v.tags.renewalId ?? '', (perRenewal.get(v.tags.renewalId ?? '') ?? 0) + 1);
  for (const [renewalId, count] of perRenewal) expect(count, `Key Vault versions tagged ${renewalId}`).toBe(1);

  // 2. No credential lost.
  const nowIds = new Set(registration.keyCredentials.map((c) => c.keyId));
  for (const c of before.credentials) {
    const mayGo = c.managed && c.endDateTime.getTime() <= now;
    if (!mayGo) expect(nowIds.has(c.keyId), `credential ${c.keyId} that existed before is still there`).toBe(true);
  }

  // 3. Entra, Key Vault and the state agree on the current certificate.
  const managed = registration.keyCredentials
    .map((c, index) => ({ c, index }))
    .filter(({ c }) => isManaged(c))
    .sort((a, b) => a.c.addedAt.getTime() - b.c.addedAt.getTime() || a.index - b.index);
  const newest = managed.at(-1)?.c;
  expect(newest, 'a managed certificate in Entra').toBeDefined();
  const newestThumbprint = Buffer.from(newest!.customKeyIdentifier, 'base64').toString('hex').toUpperCase();
  expect(state.currentThumbprint, 'state names Entra’s newest managed certificate').toBe(newestThumbprint);
  expect(state.keyId).toBe(newest!.keyId);
  expect(state.lease, 'no lease left behind').toBeUndefined();
  if (stored.config.keyVault.enabled) {
    expect(versions.at(-1)?.thumbprint, 'Key Vault’s latest version is the current certificate').toBe(state.currentThumbprint);
    expect(state.keyVaultVersion).toBe(versions.at(-1)?.version);
  }

  // 4. No private key material outside its allowed places.
  await assertNoPrivateKeyMaterial(world, { extraPrivateKeys: expected.extraPrivateKeys, attachmentsAllowed: expected.attachmentsAllowed });
}

/** What would betray a private key: PEM armour, and slices of its PKCS#8/PKCS#1 DER and of any PFX, in base64. */
function needlesFor(world: RenewalWorld, extra: readonly KeyObject[]): string[] {
  const keys: KeyObject[] = [...extra];
  for (const name of world.keyVault.certificateNames()) for (const v of world.keyVault.versions(name)) keys.push(v.privateKey);
  const needles = ['PRIVATE KEY'];
  // A 64-character slice from inside the base64: a whole PEM line, and a substring of unwrapped base64.
  const slice = (b64: string) => b64.slice(64, 128);
  for (const key of keys) {
    needles.push(slice(key.export({ type: 'pkcs8', format: 'der' }).toString('base64')));
    needles.push(slice(key.export({ type: 'pkcs1', format: 'der' }).toString('base64')));
  }
  for (const request of world.keyVault.server.requests('importCertificate')) {
    if (request.body === '') continue; // the SDK's first, unauthenticated request of a challenge
    const value = (JSON.parse(request.body) as { value?: string }).value;
    if (value) needles.push(slice(value));
  }
  return needles.filter((n) => n.length > 0);
}

export async function assertNoPrivateKeyMaterial(
  world: RenewalWorld,
  options: { extraPrivateKeys?: readonly KeyObject[]; attachmentsAllowed?: boolean } = {},
): Promise<void> {
  const needles = needlesFor(world, options.extraPrivateKeys ?? []);
  const places: [string, string][] = [];
  for await (const entity of world.table.listEntities()) places.push([`table row ${String(entity.rowKey)}`, JSON.stringify(entity)]);
  for (const { message } of world.enqueued) places.push(['enqueued message', JSON.stringify(message)]);
  for (const text of [...(await peekAll(world.queue)), ...(await peekAllIfExists(world))]) places.push(['queue message', text]);
  for (const e of world.eventGrid.events()) places.push([`event ${e.event.id}`, JSON.stringify(e.event)]);
  for (const m of world.email.messages()) {
    const { attachments, ...rest } = m.message as { attachments?: unknown[] } & Record<string, unknown>;
    places.push([`email ${String((m.message as { content?: { subject?: string } }).content?.subject)}`, JSON.stringify(rest)]);
    if (!options.attachmentsAllowed) expect(attachments ?? [], 'no attachment unless the app asks for one').toEqual([]);
  }
  for (const line of world.logs) places.push(['log line', line]);
  for (const [where, text] of places) {
    for (const needle of needles) expect(text.includes(needle), `private key material in ${where}`).toBe(false);
  }
}

async function peekAllIfExists(world: RenewalWorld): Promise<string[]> {
  return (await world.poisonQueue.exists()) ? peekAll(world.poisonQueue) : [];
}
