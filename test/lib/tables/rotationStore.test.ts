import { randomUUID } from 'node:crypto';
import { RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { countStages, type RotationApp, type RotationRecord } from '../../../src/lib/domain/rotation.js';
import { RotationStore } from '../../../src/lib/tables/rotationStore.js';
import { createTestTableClient } from '../../support/tables.js';

/**
 * The rotation rows' reads that serve the list and the scheduler (Azurite): counting reads each app
 * row's stage column only, and rows written before that column existed are still counted; the
 * reconciliation gets the open apps' ids from their markers, without reading their rows.
 */

const at = '2026-03-01T00:00:00.000Z';
const appRow = (stage: RotationApp['stage']): RotationApp => ({ appId: randomUUID(), displayName: 'App', stage, updatedAt: at });

async function rotationWith(apps: readonly RotationApp[]) {
  const table = createTestTableClient('rotations');
  const store = new RotationStore(table);
  const id = randomUUID();
  const record: RotationRecord = {
    id,
    status: 'running',
    selector: { all: true },
    reason: 'test',
    requestedBy: { oid: randomUUID(), name: 'Ada' },
    createdAt: at,
    requestHash: 'h',
  };
  await store.createRotation(record);
  await store.addRotationApps(id, apps);
  return { table, store, id };
}

describe('RotationStore', () => {
  it('counts the apps by stage from the stage column, which follows each settled row', async () => {
    const apps = [appRow('queued'), appRow('queued'), appRow('deployed'), appRow('skipped')];
    const { table, store, id } = await rotationWith(apps);
    expect(await store.countRotationApps(id)).toEqual({ queued: 2, deployed: 1, verified: 0, failed: 0, skipped: 1 });

    const found = (await store.getRotationApp(id, apps[0]!.appId))!;
    await store.updateRotationApp(id, { ...found.app, stage: 'verified' }, found.etag, 'queued');
    const deployed = (await store.getRotationApp(id, apps[2]!.appId))!;
    await store.updateRotationApp(id, { ...deployed.app, stage: 'failed', detail: 'refused' }, deployed.etag, 'deployed');

    const counts = await store.countRotationApps(id);
    expect(counts).toEqual({ queued: 1, deployed: 0, verified: 1, failed: 1, skipped: 1 });
    expect(counts).toEqual(countStages(await store.listRotationApps(id)));
    // Counted from the column, not by falling back to the JSON: each row carries its current stage.
    const stageColumn = async (appId: string) => (await table.getEntity<{ stage?: string }>(`rotation_${id}`, `app_${appId}`)).stage;
    expect(await Promise.all(apps.map((app) => stageColumn(app.appId)))).toEqual(['verified', 'queued', 'failed', 'skipped']);
  });

  it('counts rows written before the stage column from their JSON', async () => {
    const apps = [appRow('queued'), appRow('verified')];
    const { table, store, id } = await rotationWith(apps);
    // As the previous version wrote it: the JSON only.
    const old = appRow('failed');
    await table.createEntity({ partitionKey: `rotation_${id}`, rowKey: `app_${old.appId}`, app: JSON.stringify(old) });
    expect(await store.countRotationApps(id)).toEqual({ queued: 1, deployed: 0, verified: 1, failed: 1, skipped: 0 });
  });

  it('counts from the JSON when a stage column holds no known stage (Azure Tables answers a missing one as null)', async () => {
    const apps = [appRow('queued'), appRow('verified')];
    const { table, store, id } = await rotationWith(apps);
    // Azurite cannot store or answer a null property, so an empty string stands in for it here.
    await table.updateEntity({ partitionKey: `rotation_${id}`, rowKey: `app_${apps[1]!.appId}`, stage: '' }, 'Merge');
    expect(await store.countRotationApps(id)).toEqual({ queued: 1, deployed: 0, verified: 1, failed: 0, skipped: 0 });
  });

  it('adds the apps another start did not, each with its open marker in the same write, even when storage fails half-way', async () => {
    const [a, b, c] = [appRow('queued'), appRow('queued'), appRow('queued')];
    const { table, store, id } = await rotationWith([a, b]);
    // The whole batch meets a's and b's rows (409); after that, storage fails whatever write carries
    // c's open marker, as a process dying right before it would.
    table.pipeline.addPolicy({
      name: 'failOpenMarkerOfC',
      sendRequest: async (request, next) => {
        const body = typeof request.body === 'string' ? request.body : '';
        if (body.includes(`open_${c.appId}`) && !body.includes(`app_${a.appId}`))
          throw new RestError('storage went away', { statusCode: 503 });
        return next(request);
      },
    });
    await expect(store.addRotationApps(id, [a, b, c])).rejects.toThrow();
    const rows = async (rowKey: string) =>
      await table.getEntity(`rotation_${id}`, rowKey).then(
        () => true,
        () => false,
      );
    // c is in the rotation with its marker, or not at all: never an open app the reconciliation cannot find.
    expect(await rows(`app_${c.appId}`)).toBe(await rows(`open_${c.appId}`));
    expect((await store.listOpenAppIds(id, 10)).sort()).toEqual([a.appId, b.appId].sort());
  });

  it('lists the ids of the unsettled apps only, at most the limit', async () => {
    const open = [appRow('queued'), appRow('deployed'), appRow('queued')];
    const { store, id } = await rotationWith([...open, appRow('verified'), appRow('skipped')]);
    expect((await store.listOpenAppIds(id, 10)).sort()).toEqual(open.map((a) => a.appId).sort());
    const two = await store.listOpenAppIds(id, 2);
    expect(two).toHaveLength(2);
    for (const appId of two) expect(open.map((a) => a.appId)).toContain(appId);
  });
});
