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

/**
 * A harness whose first DELETE of the app, once armed, lets a PATCH of `lifetimeDays` commit between
 * the DELETE's read and its write: the change a DELETE must not erase unseen.
 */
async function deleteRacingPatchHarness() {
  let armed = false;
  const commits: string[] = [];
  const harness: ApiHarness = await ApiHarness.start({
    hooks: {
      beforeCommit: async ({ appId, kind }) => {
        commits.push(kind);
        if (kind !== 'delete' || !armed) return;
        armed = false;
        await harness.service.patchApp(appId, { lifetimeDays: 400 }, { caller: { oid: randomUUID(), name: 'racer' } });
      },
    },
  });
  const appId = randomUUID();
  harness.directory.add(appId, 'Contended App');
  await harness.service.putApp(appId, { lifetimeDays: 365 }, { caller: { oid: randomUUID(), name: 'seed' } });
  const etag = (await harness.store.getApp(appId))!.etag;
  armed = true;
  commits.length = 0;
  return { harness, appId, etag, commits };
}

describe('DELETE racing a change', () => {
  it('with If-Match, a change committed after the DELETE read its version makes it 412, and the app stays', async () => {
    const { harness, appId, etag, commits } = await deleteRacingPatchHarness();
    api = harness;
    const admin = await harness.token('CertRotator.Admin');
    const response = await harness.call({ method: 'DELETE', path: `/api/apps/${appId}`, token: admin, headers: { 'if-match': etag } });
    expect(response.status).toBe(412);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(commits).toEqual(['delete', 'update']);
    const stored = await harness.store.getApp(appId);
    expect(stored?.config.lifetimeDays).toBe(400);
    expect((await harness.store.listApps()).items.map((a) => a.config.appId)).toEqual([appId]);
    const actions = (await harness.store.listHistory(appId)).items.map((h) => h.action);
    expect(actions).toContain('config.updated');
    expect(actions).not.toContain('config.deleted');
  });

  it('without If-Match, the DELETE reads the changed app again and then deletes it', async () => {
    const { harness, appId, commits } = await deleteRacingPatchHarness();
    api = harness;
    const admin = await harness.token('CertRotator.Admin');
    const response = await harness.call({ method: 'DELETE', path: `/api/apps/${appId}`, token: admin });
    expect(response.status).toBe(204);
    // The first attempt's write was refused (the row changed under it); the second read saw the change.
    expect(commits).toEqual(['delete', 'update', 'delete', 'remove-tombstone']);
    expect(await harness.store.getApp(appId)).toBeUndefined();
    // Nothing is left of the app row, not even its tombstone.
    await expect(harness.table.getEntity('apps', `app_${appId}`)).rejects.toMatchObject({ statusCode: 404 });
    const history = (await harness.store.listHistory(appId)).items.map((h) => h.action);
    expect(history.filter((a) => a === 'config.deleted')).toHaveLength(1);
    expect(history).toContain('config.updated');
  });
});

describe('two DELETEs with the same If-Match', () => {
  it.each([
    ['after the first has finished', false],
    ['while the first has left its tombstone', true],
  ])('the one that loses, %s, hears 404: the app is gone, not changed', async (_when, firstStopsBetweenSteps) => {
    let armed = false;
    let inner = false;
    let first: Promise<void> | undefined;
    const harness: ApiHarness = await ApiHarness.start({
      hooks: {
        beforeCommit: async ({ appId, kind }) => {
          if (kind === 'remove-tombstone' && inner && firstStopsBetweenSteps) throw new Error('the first DELETE stopped here');
          if (kind !== 'delete' || !armed) return;
          armed = false;
          inner = true;
          // The first DELETE runs whole between the second's read and its write.
          first = harness.service.deleteApp(appId, { caller: { oid: randomUUID(), name: 'first' }, ifMatch: etag });
          await first;
          inner = false;
        },
      },
    });
    api = harness;
    const appId = randomUUID();
    harness.directory.add(appId, 'Twice Deleted App');
    await harness.service.putApp(appId, { lifetimeDays: 365 }, { caller: { oid: randomUUID(), name: 'seed' } });
    const etag = (await harness.store.getApp(appId))!.etag;
    armed = true;
    const admin = await harness.token('CertRotator.Admin');
    const second = await harness.call({ method: 'DELETE', path: `/api/apps/${appId}`, token: admin, headers: { 'if-match': etag } });
    await expect(first).resolves.toBeUndefined();
    expect(second.status).toBe(404);
    expect(await harness.store.getApp(appId)).toBeUndefined();
    const history = (await harness.store.listHistory(appId)).items.map((h) => h.action);
    expect(history.filter((a) => a === 'config.deleted')).toHaveLength(1);
  });
});

/** A harness whose deletes, while `stop.on`, stop between their two steps (a crash there). */
async function harnessStoppingDeletes() {
  const stop = { on: false };
  const harness = await ApiHarness.start({
    hooks: {
      beforeCommit: ({ kind }) => {
        if (kind === 'remove-tombstone' && stop.on) throw new Error('the process stopped here');
      },
    },
  });
  api = harness;
  return { harness, stop };
}

describe('a DELETE stopped between its two steps', () => {
  it('leaves a tombstone that reads as no app, and adding the app again replaces it', async () => {
    const { harness, stop } = await harnessStoppingDeletes();
    const admin = await harness.token('CertRotator.Admin');
    const appId = randomUUID();
    harness.directory.add(appId, 'Stopped App');
    expect((await harness.call({ method: 'PUT', path: `/api/apps/${appId}`, token: admin, body: { lifetimeDays: 365 } })).status).toBe(201);

    const other = randomUUID();
    harness.directory.add(other, 'Other App');
    expect((await harness.call({ method: 'PUT', path: `/api/apps/${other}`, token: admin, body: {} })).status).toBe(201);

    stop.on = true;
    expect((await harness.call({ method: 'DELETE', path: `/api/apps/${appId}`, token: admin })).status).toBe(204);
    stop.on = false;
    const row = await harness.table.getEntity<Record<string, unknown>>('apps', `app_${appId}`);
    expect(row).toMatchObject({ appId, deleted: true });
    expect(row.config).toBeUndefined();
    expect((await harness.call({ method: 'GET', path: `/api/apps/${appId}`, token: admin })).status).toBe(404);
    // Page by page, the tombstone is skipped (its page comes out short).
    const listed: string[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await harness.store.listApps({ maxPageSize: 1, continuationToken });
      listed.push(...page.items.map((a) => a.config.appId));
      continuationToken = page.continuationToken;
    } while (continuationToken !== undefined);
    expect(listed).toEqual([other]);
    expect((await harness.call({ method: 'DELETE', path: `/api/apps/${appId}`, token: admin })).status).toBe(404);
    expect((await harness.call({ method: 'PATCH', path: `/api/apps/${appId}`, token: admin, body: { lifetimeDays: 90 } })).status).toBe(
      404,
    );

    const again = await harness.call({ method: 'PUT', path: `/api/apps/${appId}`, token: admin, body: { lifetimeDays: 200 } });
    expect(again.status).toBe(201);
    expect((await harness.store.getApp(appId))?.config.lifetimeDays).toBe(200);
    const rows: string[] = [];
    for await (const entity of harness.table.listEntities()) rows.push(String(entity.rowKey));
    expect(rows.filter((key) => key.startsWith('app_')).sort()).toEqual([`app_${appId}`, `app_${other}`].sort());
    expect(rows.filter((key) => key.startsWith('kvname_'))).toHaveLength(2);
    const history = (await harness.store.listHistory(appId)).items.map((h) => h.action);
    expect(history.filter((a) => a === 'config.created')).toHaveLength(2);
    expect(history.filter((a) => a === 'config.deleted')).toHaveLength(1);
  });
});

describe('a bulk import over a tombstone', () => {
  it('removes the tombstone and imports the app', async () => {
    const { harness, stop } = await harnessStoppingDeletes();
    const appId = randomUUID();
    harness.directory.add(appId, 'Imported App');
    const caller = { oid: randomUUID(), name: 'seed' };
    await harness.service.putApp(appId, { lifetimeDays: 365 }, { caller });
    const { config } = (await harness.store.getApp(appId))!;
    stop.on = true;
    await harness.service.deleteApp(appId, { caller });
    stop.on = false;
    expect(await harness.table.getEntity<Record<string, unknown>>('apps', `app_${appId}`)).toMatchObject({ deleted: true });

    await harness.store.importApps([{ config: { ...config, lifetimeDays: 120 } }]);
    expect((await harness.store.getApp(appId))?.config.lifetimeDays).toBe(120);
  });
});
