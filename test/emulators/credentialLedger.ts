import type { GraphApplication, GraphKeyCredential } from './graph.js';

/** One change to an application's keyCredentials, as the Graph emulator made it. */
export interface CredentialChange {
  readonly change: 'added' | 'removed';
  readonly appId: string;
  readonly keyId: string;
  readonly displayName: string | null;
  readonly endDateTime: Date;
  readonly at: Date;
}

/**
 * Every certificate credential the Graph emulator added to or removed from an application, in
 * order (addKey, removeKey, PATCH of keyCredentials, seeding): what a soak reads to prove that no
 * credential was lost, however the credential went (the app registration's final state alone cannot
 * show one added and removed again).
 */
export class CredentialLedger {
  readonly #changes: CredentialChange[] = [];

  added(app: Pick<GraphApplication, 'appId'>, credential: GraphKeyCredential): void {
    this.#record('added', app, credential);
  }

  /** keyCredentials replaced wholesale (PATCH, removeKey): what went and what came, by keyId. */
  replaced(app: Pick<GraphApplication, 'appId'>, before: readonly GraphKeyCredential[], after: readonly GraphKeyCredential[]): void {
    const beforeIds = new Set(before.map((c) => c.keyId));
    const afterIds = new Set(after.map((c) => c.keyId));
    for (const c of before) if (!afterIds.has(c.keyId)) this.#record('removed', app, c);
    for (const c of after) if (!beforeIds.has(c.keyId)) this.#record('added', app, c);
  }

  changes(): readonly CredentialChange[] {
    return [...this.#changes];
  }

  /**
   * Removals the rotator may not make (docs/renewal.md): any credential that had not expired when it
   * went, and any the rotator did not create (its display name), unless `allowed` says an admin asked.
   */
  lost(allowed: (change: CredentialChange) => boolean = () => false): CredentialChange[] {
    return this.#changes.filter(
      (c) =>
        c.change === 'removed' &&
        !allowed(c) &&
        !((c.displayName ?? '').startsWith('entra-cert-rotator') && c.endDateTime.getTime() <= c.at.getTime()),
    );
  }

  #record(change: CredentialChange['change'], app: Pick<GraphApplication, 'appId'>, c: GraphKeyCredential): void {
    this.#changes.push({
      change,
      appId: app.appId,
      keyId: c.keyId,
      displayName: c.displayName,
      endDateTime: c.endDateTime,
      at: new Date(),
    });
  }
}
