import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { expect } from 'vitest';
import { thumbprintsOf } from '../../src/lib/certificates/thumbprints.js';
import { keyIdForRenewal } from '../../src/lib/renewal/deployStage.js';
import type { AppStore } from '../../src/lib/tables/appStore.js';
import type { GraphEmulator, GraphKeyCredential } from '../emulators/graph.js';
import type { KeyVaultEmulator } from '../emulators/keyVault.js';
import { peekAll, type RenewalWorld } from './renewalWorld.js';

/**
 * The invariants of docs/renewal.md that every renewal test checks after its scenario, in one place:
 *  1. one new certificate per renewal id in Entra (and at most one Key Vault version per renewal id);
 *  2. every credential that existed before is still there, unless it expired and the rotator made it;
 *  3. Key Vault's latest version, the stored state and Entra's newest managed certificate agree;
 *  4. no private key material in any table entity, queue message, event, email body or log line.
 * Per configuration: with Key Vault, every new certificate is one renewal's tagged version (so self
 * mode, whose keyIds Graph assigns, is held to one certificate per renewal too); without Key Vault,
 * no version exists and every certificate on the app registration went out by email first, in a PFX
 * that opens with the password of its companion email.
 */

export interface CredentialBaseline {
  readonly appId: string;
  readonly credentials: readonly { keyId: string; endDateTime: Date; managed: boolean }[];
}

/** The app registration's credentials before a scenario. */
export function credentialBaseline(parts: Pick<RenewalParts, 'graph'>, appId: string): CredentialBaseline {
  const app = parts.graph.application(appId);
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

/** What the checks below read: Entra, Key Vault and the stored state (a RenewalWorld, or a soak's services). */
export interface RenewalParts {
  readonly graph: Pick<GraphEmulator, 'application'>;
  readonly keyVault: Pick<KeyVaultEmulator, 'versions'>;
  readonly store: Pick<AppStore, 'getApp'>;
}

export type RenewalInvariant = 'one-certificate-per-renewal' | 'no-lost-credential' | 'agreement';

export interface RenewalViolation {
  readonly invariant: RenewalInvariant;
  readonly appId: string;
  readonly message: string;
}

/**
 * Invariants 1 to 3 for one app, as a list of what is wrong (empty when all hold), so that a soak can
 * count them over hundreds of apps; `newCertificates`, when given, is how many the scenario added.
 */
export async function renewalViolations(
  parts: RenewalParts,
  before: CredentialBaseline,
  expected: { readonly newCertificates?: number } = {},
): Promise<RenewalViolation[]> {
  const { appId } = before;
  const violations: RenewalViolation[] = [];
  const fail = (invariant: RenewalInvariant, message: string) => violations.push({ invariant, appId, message });
  const registration = parts.graph.application(appId);
  const stored = await parts.store.getApp(appId);
  if (!registration || !stored) {
    fail('agreement', `app ${appId} is ${registration ? 'not stored' : 'not in Entra'}`);
    return violations;
  }
  const state = stored.state;
  const vaultName = stored.config.keyVault.certificateName;
  const versions = stored.config.keyVault.enabled ? parts.keyVault.versions(vaultName) : [];
  if (!stored.config.keyVault.enabled && parts.keyVault.versions(vaultName).length > 0)
    fail('one-certificate-per-renewal', 'a Key Vault version for a no-Key-Vault app');
  const now = Date.now();

  // 1. One new certificate per renewal id.
  const beforeIds = new Set(before.credentials.map((c) => c.keyId));
  const added = registration.keyCredentials.filter((c) => !beforeIds.has(c.keyId));
  if (expected.newCertificates !== undefined && added.length !== expected.newCertificates)
    fail('one-certificate-per-renewal', `${added.length} new certificates in Entra, expected ${expected.newCertificates}`);
  const renewalIds = new Set([...state.deployAttempts, ...versions.map((v) => v.tags.renewalId).filter((id) => id !== undefined)]);
  const keyIdOwners = new Map([...renewalIds].map((id) => [keyIdForRenewal(id), id]));
  for (const credential of added) {
    if (!isManaged(credential)) fail('one-certificate-per-renewal', `credential ${credential.keyId} is not marked as the rotator's`);
    if (stored.config.graphMode === 'owner' && !keyIdOwners.has(credential.keyId))
      fail('one-certificate-per-renewal', `credential ${credential.keyId} belongs to no renewal id`);
  }
  if (stored.config.keyVault.enabled) {
    // Whatever assigned the keyId (owner mode derives it, self mode's addKey lets Graph pick it), each
    // new certificate is the tagged version of one renewal of this app, and no renewal has two.
    const owners = added.flatMap((credential) => {
      const thumbprint = thumbprintOf(credential);
      const tagged = versions.filter((v) => v.thumbprint === thumbprint && v.tags.renewalId !== undefined);
      if (tagged.length !== 1)
        fail('one-certificate-per-renewal', `credential ${credential.keyId} is ${tagged.length} renewals' Key Vault versions, not one`);
      return tagged.slice(0, 1).map((v) => v.tags.renewalId!);
    });
    if (new Set(owners).size !== owners.length) fail('one-certificate-per-renewal', 'two new certificates for one renewal id');
  }
  const perRenewal = new Map<string, number>();
  for (const v of versions) perRenewal.set(v.tags.renewalId ?? '', (perRenewal.get(v.tags.renewalId ?? '') ?? 0) + 1);
  for (const [renewalId, count] of perRenewal)
    if (count !== 1) fail('one-certificate-per-renewal', `${count} Key Vault versions tagged ${renewalId}`);

  // 2. No credential lost.
  const nowIds = new Set(registration.keyCredentials.map((c) => c.keyId));
  for (const c of before.credentials) {
    const mayGo = c.managed && c.endDateTime.getTime() <= now;
    if (!mayGo && !nowIds.has(c.keyId)) fail('no-lost-credential', `credential ${c.keyId} that existed before is gone`);
  }

  // 3. Entra, Key Vault and the state agree on the current certificate.
  const managed = registration.keyCredentials
    .map((c, index) => ({ c, index }))
    .filter(({ c }) => isManaged(c))
    .sort((a, b) => a.c.addedAt.getTime() - b.c.addedAt.getTime() || a.index - b.index);
  const newest = managed.at(-1)?.c;
  if (!newest) {
    fail('agreement', 'no managed certificate in Entra');
    return violations;
  }
  const newestThumbprint = thumbprintOf(newest);
  if (state.currentThumbprint !== newestThumbprint)
    fail('agreement', `state names ${state.currentThumbprint}, Entra's newest managed certificate is ${newestThumbprint}`);
  if (state.keyId !== newest.keyId) fail('agreement', `state's keyId ${state.keyId} is not Entra's newest ${newest.keyId}`);
  if (state.lease !== undefined) fail('agreement', 'a lease left behind');
  if (stored.config.keyVault.enabled) {
    if (versions.at(-1)?.thumbprint !== state.currentThumbprint)
      fail('agreement', `Key Vault's latest version is ${versions.at(-1)?.thumbprint}, state names ${state.currentThumbprint}`);
    if (state.keyVaultVersion !== versions.at(-1)?.version)
      fail('agreement', `state's Key Vault version ${state.keyVaultVersion} is not the latest ${versions.at(-1)?.version}`);
  }
  return violations;
}

export async function assertRenewalInvariants(
  world: RenewalWorld,
  before: CredentialBaseline,
  expected: InvariantExpectations,
): Promise<void> {
  // 1 to 3.
  const violations = await renewalViolations(world, before, expected);
  expect(violations.map((v) => `${v.invariant}: ${v.message}`)).toEqual([]);

  const stored = (await world.store.getApp(before.appId))!;
  if (!stored.config.keyVault.enabled) {
    // 1, without Key Vault: the email is the key's only copy.
    const registration = world.graph.application(before.appId)!;
    const now = Date.now();
    const emailed = emailedPfxs(world);
    // Which certificate a PFX holds shows only once it opens; one with a password that does not open it is never right.
    for (const pfx of emailed)
      if (pfx.password !== undefined) expect(pfx.opened, `the PFX of "${pfx.subject}" opens with its password`).toBe(true);
    for (const credential of registration.keyCredentials.filter(isManaged)) {
      const thumbprint = thumbprintOf(credential);
      const copies = emailed.filter((p) => p.thumbprint === thumbprint);
      // A certificate in use whose key never went out locks the app's owners out of it (an expired one
      // is past use, and may predate the rotator's emails).
      if (credential.endDateTime.getTime() > now) {
        expect(copies.length, `the key of certificate ${thumbprint} on the app registration was emailed`).toBeGreaterThan(0);
      }
      for (const copy of copies) {
        expect(copy.password, `the PFX of ${thumbprint} has its password email`).toBeDefined();
        expect(copy.opened, `the PFX of ${thumbprint} opens with its companion password`).toBe(true);
        expect(copy.keyMatches, `the PFX of ${thumbprint} holds that certificate's key`).toBe(true);
      }
    }
  }

  // 4. No private key material outside its allowed places.
  await assertNoPrivateKeyMaterial(world, { extraPrivateKeys: expected.extraPrivateKeys, attachmentsAllowed: expected.attachmentsAllowed });
}

const thumbprintOf = (c: Pick<GraphKeyCredential, 'key'>) => thumbprintsOf(c.key).sha1;

export interface EmailedPfx {
  readonly subject: string;
  /** The password from the companion email, when one followed. */
  readonly password: string | undefined;
  readonly opened: boolean;
  /** SHA-1 of the certificate inside, when the PFX opened. */
  readonly thumbprint: string | undefined;
  readonly privateKey: KeyObject | undefined;
  /** The key inside is the certificate's (same public key). */
  readonly keyMatches: boolean;
}

const PASSWORD_SUBJECT_SUFFIX = ' (PFX password)';

/**
 * Every PFX the email emulator accepted, opened with the password from its companion email: the
 * next email to the same recipients whose subject is the PFX email's plus " (PFX password)", before
 * any later PFX email of that subject (each pair is sent back to back, PFX first).
 */
export function emailedPfxs(world: RenewalWorld): EmailedPfx[] {
  const sent = world.email.messages().map((m) => m.message);
  const to = (m: (typeof sent)[number]) => m.recipients.to.map((r) => r.address).join(',');
  const result: EmailedPfx[] = [];
  sent.forEach((message, index) => {
    for (const attachment of message.attachments ?? []) {
      if (attachment.contentType !== 'application/x-pkcs12') continue;
      const subject = message.content.subject;
      let password: string | undefined;
      for (const later of sent.slice(index + 1)) {
        if (to(later) !== to(message)) continue;
        if (later.content.subject === subject && later.attachments?.some((a) => a.contentType === 'application/x-pkcs12')) break;
        if (later.content.subject === `${subject}${PASSWORD_SUBJECT_SUFFIX}`) {
          password = /:\n\n(.+)\n/.exec(later.content.plainText ?? '')?.[1];
          break;
        }
      }
      const opened = password === undefined ? undefined : openPfx(Buffer.from(attachment.contentInBase64, 'base64'), password);
      const keyMatches =
        opened !== undefined &&
        createPublicKey(opened.privateKey)
          .export({ type: 'spki', format: 'der' })
          .equals(new X509Certificate(opened.der).publicKey.export({ type: 'spki', format: 'der' }));
      result.push({
        subject,
        password,
        opened: opened !== undefined,
        thumbprint: opened ? thumbprintsOf(opened.der).sha1 : undefined,
        privateKey: opened?.privateKey,
        keyMatches,
      });
    }
  });
  return result;
}

/** Opened PFXs by content and password: the key derivation is slow, and every check reads every email again. */
const openedPfxs = new Map<string, { der: Buffer; privateKey: KeyObject } | undefined>();

/** PKCS#12 read with node-forge (Node's crypto has none), which checks the MAC with the password. */
function openPfx(pfx: Buffer, password: string): { der: Buffer; privateKey: KeyObject } | undefined {
  const key = `${password}:${pfx.toString('base64')}`;
  if (!openedPfxs.has(key)) openedPfxs.set(key, readPfx(pfx, password));
  return openedPfxs.get(key);
}

function readPfx(pfx: Buffer, password: string): { der: Buffer; privateKey: KeyObject } | undefined {
  try {
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(pfx.toString('binary'))), true, password);
    const cert = (p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? []).find((b) => b.cert)?.cert;
    const key = [
      ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? []),
      ...(p12.getBags({ bagType: forge.pki.oids.keyBag! })[forge.pki.oids.keyBag!] ?? []),
    ].find((b) => b.key)?.key;
    if (!cert || !key) return undefined;
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
    return { der, privateKey: createPrivateKey(forge.pki.privateKeyToPem(key)) };
  } catch {
    return undefined;
  }
}

/** What would betray a private key: PEM armour, and slices of its PKCS#8/PKCS#1 DER and of any PFX, in base64. */
function needlesFor(world: RenewalWorld, extra: readonly KeyObject[]): string[] {
  // Keys that went out by email (no-Key-Vault apps) must not turn up anywhere else either.
  const keys: KeyObject[] = [...extra, ...emailedPfxs(world).flatMap((p) => (p.privateKey ? [p.privateKey] : []))];
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
