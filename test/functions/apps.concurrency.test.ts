import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiHarness } from '../support/apiHarness.js';

/** Holds every arrival until `parties` have arrived, then lets them all go. */
class Barrier {
  readonly #parties: number;
  #arrived = 0;
  #release!: () => void;
  readonly #open = new Promise<void>((resolve) => (this.#release = resolve));
  constructor(parties: number) {
    this.#parties = parties;
  }
  arrive(): Promise<void> {
    this.#arrived += 1;
    if (this.#arrived === this.#parties) this.#release();
    return this.#open;
  }
}

let api: ApiHarness | undefined;
afterEach(() => api?.close());

/**
 * A harness whose store stops every update between its read and its write until both PATCHes have
 * read the same version: the interleaving that loses a field under last-writer-wins.
 */
async function interleavedHarness() {
  const barrier = new Barrier(2);
  const commits: string[] = [];
  let armed = false;
  const harness = await ApiHarness.start({
    hooks: {
      beforeCommit: async ({ kind }) => {
        if (kind !== 'update' || !armed) return;
        commits.push('update');
        // Only the first attempt of each PATCH waits; a retry goes straight through.
        if (commits.length <= 2) await barrier.arrive();
      },
    },
  });
  const appId = randomUUID();
  harness.directory.add(appId, 'Contended App');
  await harness.service.putApp(appId, { lifetimeDays: 365 }, { caller: { oid: randomUUID(), name: 'seed' } });
  armed = true;
  return { harness, appId, commits };
}

describe('concurrent PATCHes', () => {
  it('never lose a field: the second writer hits the ETag, re-reads and reapplies its change', async () => {
    const { harness, appId, commits } = await interleavedHarness();
    api = harness;
    const admin = await harness.token('CertRotator.Admin');
    const [a, b] = await Promise.all([
      harness.call({ method: 'PATCH', path: `/api/apps/${appId}`, token: admin, body: { lifetimeDays: 500 } }),
      harness.call({ method: 'PATCH', path: `/api/apps/${appId}`, token: admin, body: { notifications: { thresholdDays: 30 } } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    // Two first attempts met at the barrier, one of them was refused by Table Storage and retried.
    expect(commits).toEqual(['update', 'update', 'update']);
    const stored = (await harness.store.getApp(appId))!;
    expect(stored.config.lifetimeDays).toBe(500);
    expect(stored.config.notifications.thresholdDays).toBe(30);
    const history = await harness.store.listHistory(appId);
    expect(
      history.items
        .filter((h) => h.action === 'config.updated')
        .map((h) => h.changes)
        .sort(),
    ).toEqual([['lifetimeDays'], ['notifications.thresholdDays']]);
  });

  it('with If-Match, the second writer gets 412 and its change is not applied', async () => {
    const { harness, appId, commits } = await interleavedHarness();
    api = harness;
    const admin = await harness.token('CertRotator.Admin');
    const etag = (await harness.store.getApp(appId))!.etag;
    const [a, b] = await Promise.all([
      harness.call({
        method: 'PATCH',
        path: `/api/apps/${appId}`,
        token: admin,
        body: { lifetimeDays: 500 },
        headers: { 'if-match': etag },
      }),
      harness.call({ method: 'PATCH', path: `/api/apps/${appId}`, token: admin, body: { keySize: 4096 }, headers: { 'if-match': etag } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
    expect(commits).toEqual(['update', 'update']);
    const stored = (await harness.store.getApp(appId))!;
    const winner = a.status === 200 ? 'lifetime' : 'keySize';
    expect(stored.config.lifetimeDays).toBe(winner === 'lifetime' ? 500 : 365);
    expect(stored.config.keySize).toBe(winner === 'keySize' ? 4096 : 2048);
    expect((await harness.store.listHistory(appId)).items.filter((h) => h.action === 'config.updated')).toHaveLength(1);
  });
});
