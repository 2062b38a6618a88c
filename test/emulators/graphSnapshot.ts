import type { GraphApplication, GraphKeyCredential, GraphPasswordCredential } from './graph.js';

/** Every application as JSON (DER keys in base64, dates in ISO 8601): what the sandbox keeps across restarts. */
export interface GraphEmulatorSnapshot {
  readonly applications: readonly (Omit<GraphApplication, 'createdDateTime' | 'keyCredentials' | 'passwordCredentials'> & {
    readonly createdDateTime: string;
    readonly passwordCredentials?: readonly (Omit<GraphPasswordCredential, 'startDateTime' | 'endDateTime'> & {
      readonly startDateTime: string;
      readonly endDateTime: string;
    })[];
    readonly keyCredentials: readonly (Omit<GraphKeyCredential, 'key' | 'startDateTime' | 'endDateTime' | 'addedAt'> & {
      readonly key: string;
      readonly startDateTime: string;
      readonly endDateTime: string;
      readonly addedAt: string;
    })[];
  })[];
}

export function snapshotOf(applications: readonly GraphApplication[]): GraphEmulatorSnapshot {
  return {
    applications: applications.map((a) => ({
      ...a,
      owners: a.owners.map((o) => ({ ...o })),
      createdDateTime: a.createdDateTime.toISOString(),
      passwordCredentials: (a.passwordCredentials ?? []).map((c) => ({
        ...c,
        startDateTime: c.startDateTime.toISOString(),
        endDateTime: c.endDateTime.toISOString(),
      })),
      keyCredentials: a.keyCredentials.map((c) => ({
        ...c,
        key: c.key.toString('base64'),
        startDateTime: c.startDateTime.toISOString(),
        endDateTime: c.endDateTime.toISOString(),
        addedAt: c.addedAt.toISOString(),
      })),
    })),
  };
}

export function applicationsOf(snapshot: GraphEmulatorSnapshot): GraphApplication[] {
  return snapshot.applications.map((a) => ({
    ...a,
    owners: a.owners.map((o) => ({ ...o })),
    createdDateTime: new Date(a.createdDateTime),
    passwordCredentials: (a.passwordCredentials ?? []).map((c) => ({
      ...c,
      startDateTime: new Date(c.startDateTime),
      endDateTime: new Date(c.endDateTime),
    })),
    keyCredentials: a.keyCredentials.map((c) => ({
      ...c,
      key: Buffer.from(c.key, 'base64'),
      startDateTime: new Date(c.startDateTime),
      endDateTime: new Date(c.endDateTime),
      addedAt: new Date(c.addedAt),
    })),
  }));
}
