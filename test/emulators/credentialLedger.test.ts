import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CredentialLedger } from './credentialLedger.js';
import type { GraphKeyCredential } from './graph.js';

const DAY = 24 * 3600 * 1000;
const credential = (displayName: string, endsInDays: number): GraphKeyCredential => ({
  keyId: randomUUID(),
  type: 'AsymmetricX509Cert',
  usage: 'Verify',
  key: Buffer.alloc(0),
  displayName,
  startDateTime: new Date(Date.now() - 30 * DAY),
  endDateTime: new Date(Date.now() + endsInDays * DAY),
  customKeyIdentifier: '',
  addedAt: new Date(),
});

describe('CredentialLedger', () => {
  it('counts as lost every removal but an expired credential the rotator made, or one allowed', () => {
    const ledger = new CredentialLedger();
    const app = { appId: randomUUID() };
    const expiredManaged = credential('entra-cert-rotator 2024', -1);
    const expiredForeign = credential('CN=someone else', -1);
    const validManaged = credential('entra-cert-rotator 2025', 10);
    const adminDeleted = credential('CN=deleted by an admin', 10);
    const all = [expiredManaged, expiredForeign, validManaged, adminDeleted];
    for (const c of all) ledger.added(app, c);
    ledger.replaced(app, all, []);
    expect(ledger.changes().filter((c) => c.change === 'removed')).toHaveLength(4);
    const lost = ledger.lost((c) => c.keyId === adminDeleted.keyId).map((c) => c.keyId);
    expect(lost).toEqual([expiredForeign.keyId, validManaged.keyId]);
  });
});
