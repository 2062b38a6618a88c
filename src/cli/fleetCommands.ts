import { randomUUID } from 'node:crypto';
import { EXIT, UsageError } from './cliIo.js';
import { enc, list, print, text, wholeNumber, type Command, type CommandContext } from './command.js';
import { table } from './table.js';

/** The commands across many apps: bulk `rotations` and the tenant's `inventory`. */

interface RotationView {
  id: string;
  status: string;
  reason: string;
  createdAt: string;
  completedAt?: string;
  total: number;
  counts: Record<'queued' | 'deployed' | 'verified' | 'failed' | 'skipped', number>;
  openApps: { appId: string; displayName: string; stage: string }[];
  failedApps: { appId: string; displayName: string; detail?: string }[];
  /** Absent from servers older than the field (GET /api/rotations/{id} gained it later). */
  skippedApps?: { appId: string; displayName: string; detail?: string }[];
}

const rotationRows = (rotations: readonly RotationView[]) =>
  table(
    ['ID', 'STATUS', 'CREATED', 'TOTAL', 'QUEUED', 'DEPLOYED', 'VERIFIED', 'FAILED', 'SKIPPED', 'REASON'],
    rotations.map((r) => [
      r.id,
      r.status,
      r.createdAt,
      r.total,
      r.counts.queued,
      r.counts.deployed,
      r.counts.verified,
      r.counts.failed,
      r.counts.skipped,
      r.reason,
    ]),
  );

const rotationDetail = (r: RotationView) =>
  rotationRows([r]) +
  (r.failedApps.length > 0
    ? `\nfailed:\n${table(
        ['APP ID', 'NAME', 'DETAIL'],
        r.failedApps.map((a) => [a.appId, a.displayName, a.detail]),
      )}`
    : '') +
  (r.openApps.length > 0
    ? `\nopen:\n${table(
        ['APP ID', 'NAME', 'STAGE'],
        r.openApps.map((a) => [a.appId, a.displayName, a.stage]),
      )}`
    : '') +
  ((r.skippedApps ?? []).length > 0
    ? `\nskipped:\n${table(
        ['APP ID', 'NAME', 'WHY'],
        (r.skippedApps ?? []).map((a) => [a.appId, a.displayName, a.detail]),
      )}`
    : '');

export const FLEET_COMMANDS: readonly Command[] = [
  {
    name: 'rotations start',
    args: [],
    options: ['all', 'app-id', 'issued-before', 'thumbprint', 'key-size-below', 'reason', 'idempotency-key', 'wait', 'wait-seconds'],
    summary: 'renew many apps at once (--all, --app-id ..., --issued-before, --thumbprint ..., --key-size-below) --reason TEXT [--wait]',
    run: async (c) => {
      const reason = text(c.values, 'reason');
      if (!reason) throw new UsageError('rotations start needs --reason (kept in every history row and event)');
      const selector = {
        all: c.values.all ? true : undefined,
        appIds: list(c.values, 'app-id'),
        issuedBefore: text(c.values, 'issued-before'),
        thumbprints: list(c.values, 'thumbprint'),
        keySizeBelow: wholeNumber(text(c.values, 'key-size-below'), 'key-size-below'),
      };
      // One key per invocation, reused by its own retries; named so that a failed run can be retried safely.
      const key = text(c.values, 'idempotency-key') ?? randomUUID();
      let view: RotationView;
      try {
        view = (
          await c.api().request('POST', '/rotations', { body: { selector, reason }, headers: { 'Idempotency-Key': key } })
        ).json<RotationView>();
      } catch (error) {
        c.io.stderr(`to retry without starting a second rotation: --idempotency-key ${key}\n`);
        throw error;
      }
      if (c.values.wait) view = await waitForRotation(c, view.id, wholeNumber(text(c.values, 'wait-seconds'), 'wait-seconds') ?? 3600);
      print(c, view, () => rotationDetail(view));
      return c.values.wait && (view.status !== 'completed' || view.counts.failed > 0) ? EXIT.failed : EXIT.ok;
    },
  },
  {
    name: 'rotations list',
    args: [],
    options: [],
    summary: 'bulk rotations, newest first',
    run: async (c) => {
      const { items } = await c.api().getJson<{ items: RotationView[] }>('/rotations');
      return print(c, items, () => rotationRows(items));
    },
  },
  {
    name: 'rotations get',
    args: ['rotationId'],
    options: ['wait', 'wait-seconds'],
    summary: "one rotation's progress; --wait until it completes (exit 1 if any app failed)",
    run: async (c) => {
      const view = c.values.wait
        ? await waitForRotation(c, c.args[0]!, wholeNumber(text(c.values, 'wait-seconds'), 'wait-seconds') ?? 3600)
        : await c.api().getJson<RotationView>(`/rotations/${enc(c.args[0]!)}`);
      print(c, view, () => rotationDetail(view));
      return c.values.wait && (view.status !== 'completed' || view.counts.failed > 0) ? EXIT.failed : EXIT.ok;
    },
  },
  {
    name: 'inventory',
    args: [],
    options: ['credential', 'expiring-within-days', 'managed', 'csv'],
    summary: 'every app registration of the tenant with its credentials summarised (--credential secret, --managed false, --csv)',
    run: async (c) => {
      const query = {
        credential: text(c.values, 'credential'),
        expiringWithinDays: wholeNumber(text(c.values, 'expiring-within-days'), 'expiring-within-days'),
        managed: text(c.values, 'managed'),
      };
      if (c.values.csv) {
        const response = await c.api().request('GET', '/inventory', { query, headers: { Accept: 'text/csv' } });
        c.io.stdout(response.body.toString('utf8'));
        return EXIT.ok;
      }
      const items = await c.api().getAll<Record<string, unknown>>('/inventory', query);
      return print(c, items, () => {
        const columns = [...new Set(items.flatMap((i) => Object.keys(i)))].filter(
          (k) => typeof items.find((i) => i[k] !== undefined)?.[k] !== 'object',
        );
        return table(
          columns.map((k) => k.toUpperCase()),
          items.map((i) => columns.map((k) => i[k])),
        );
      });
    },
  },
];

async function waitForRotation(c: CommandContext, id: string, seconds: number): Promise<RotationView> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const view = await c.api().getJson<RotationView>(`/rotations/${enc(id)}`);
    if (view.status === 'completed' || Date.now() >= deadline) return view;
    c.io.stderr(
      `${view.status}: ${view.counts.verified} verified, ${view.counts.failed} failed, ${view.total - view.counts.verified - view.counts.failed - view.counts.skipped} open\n`,
    );
    await new Promise((done) => setTimeout(done, Math.min(5000, Math.max(0, deadline - Date.now()))));
  }
}
