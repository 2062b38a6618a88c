import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ApiClient } from './apiClient.js';
import { EXIT, UsageError, type CliIo } from './cliIo.js';
import { daysLeft, table } from './table.js';

/**
 * The commands of `entra-cert-rotator` over the HTTP API (docs/http-api.md): each reads its
 * arguments, makes the calls, and prints a table (or the API's JSON with --json). A private key is
 * only ever written to a file of mode 0600, and its password to another such file or stderr;
 * nothing a command prints on stdout carries key material.
 */

export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface CommandContext {
  readonly io: CliIo;
  readonly api: () => ApiClient;
  readonly args: readonly string[];
  readonly values: Values;
  readonly json: boolean;
}

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly options: readonly string[];
  readonly summary: string;
  readonly run: (context: CommandContext) => Promise<number>;
}

const text = (values: Values, name: string): string | undefined => values[name] as string | undefined;
const list = (values: Values, name: string): string[] | undefined => values[name] as string[] | undefined;
const enc = encodeURIComponent;

function print(context: CommandContext, json: unknown, render: () => string): number {
  context.io.stdout(context.json ? `${JSON.stringify(json, null, 2)}\n` : render());
  return EXIT.ok;
}

function wholeNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${option} must be a whole number`);
  return Number(value);
}

/** Writes a secret file: 0600 from its creation, and never over an existing file unless --force. */
function writeSecretFile(context: CommandContext, path: string, content: string | Buffer): string {
  const file = resolve(context.io.cwd, path);
  if (existsSync(file) && !context.values.force) throw new UsageError(`${file} exists: choose another file, or add --force to replace it`);
  writeFileSync(file, content, { mode: 0o600, flag: context.values.force ? 'w' : 'wx' });
  return file;
}

/** A password goes to its own 0600 file when asked, else to stderr: never to stdout beside the key. */
function handOverPassword(context: CommandContext, password: string): void {
  const target = text(context.values, 'password-file');
  if (target) context.io.stderr(`password written to ${writeSecretFile(context, target, `${password}\n`)}\n`);
  else context.io.stderr(`PFX password (shown once): ${password}\n`);
}

interface AppView {
  appId: string;
  displayName: string;
  config: { enabled: boolean };
  state: { notAfter?: string; lastOutcome?: string; verifiedAt?: string; currentThumbprint?: string };
  etag: string;
}

const appRows = (apps: readonly AppView[]) =>
  table(
    ['APP ID', 'NAME', 'ENABLED', 'NOT AFTER', 'DAYS LEFT', 'LAST OUTCOME', 'VERIFIED'],
    apps.map((a) => [
      a.appId,
      a.displayName,
      a.config.enabled,
      a.state.notAfter,
      daysLeft(a.state.notAfter),
      a.state.lastOutcome,
      a.state.verifiedAt ?? 'no',
    ]),
  );

/** `--set a.b=value`: the value as JSON when it parses (numbers, booleans, arrays), else as text. */
function mergePatchOf(assignments: readonly string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const at = assignment.indexOf('=');
    if (at <= 0) throw new UsageError(`--set ${assignment}: write it as path=value, such as lifetimeDays=180`);
    const path = assignment.slice(0, at).split('.');
    const raw = assignment.slice(at + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let node = patch;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = value;
  }
  return patch;
}

const apps: Command[] = [
  {
    name: 'apps list',
    args: [],
    options: ['expiring-within-days'],
    summary: 'managed apps, their certificate and last outcome',
    run: async (c) => {
      const items = await c.api().getAll<AppView>('/apps', {
        pageSize: 100,
        expiringWithinDays: wholeNumber(text(c.values, 'expiring-within-days'), 'expiring-within-days'),
      });
      return print(c, items, () => appRows(items));
    },
  },
  {
    name: 'apps get',
    args: ['appId'],
    options: [],
    summary: 'one app: config and state',
    run: async (c) => {
      const app = await c.api().getJson<AppView>(`/apps/${enc(c.args[0]!)}`);
      return print(c, app, () => `${appRows([app])}\n${JSON.stringify(app.config, null, 2)}\n`);
    },
  },
  {
    name: 'apps set',
    args: ['appId'],
    options: ['file', 'set'],
    summary: 'create or replace a config (--file config.json), or change fields (--set lifetimeDays=180 ...)',
    run: async (c) => {
      const file = text(c.values, 'file');
      const assignments = list(c.values, 'set') ?? [];
      if (!file === (assignments.length === 0))
        throw new UsageError('apps set needs either --file (the whole config) or --set path=value (changes)');
      const path = `/apps/${enc(c.args[0]!)}`;
      let response;
      if (file) {
        const body = JSON.parse(readFileSync(resolve(c.io.cwd, file), 'utf8')) as unknown;
        response = await c.api().request('PUT', path, { body });
      } else {
        // If-Match with the version just read: a change made meanwhile is a 412 (exit 5), not overwritten.
        const current = await c.api().request('GET', path);
        const headers = { 'If-Match': current.headers.get('etag') ?? '*', 'Content-Type': 'application/merge-patch+json' };
        response = await c.api().request('PATCH', path, { body: mergePatchOf(assignments), headers });
      }
      const app = response.json<AppView>();
      return print(c, app, () => `${response.status === 201 ? 'created' : 'updated'} ${app.appId}\n${appRows([app])}`);
    },
  },
  {
    name: 'apps delete',
    args: ['appId'],
    options: ['yes'],
    summary: 'stop managing an app (its certificates stay); needs --yes',
    run: async (c) => {
      if (!c.values.yes) throw new UsageError(`apps delete stops managing ${c.args[0]}: add --yes to confirm`);
      await c.api().request('DELETE', `/apps/${enc(c.args[0]!)}`);
      c.io.stdout(`no longer managed: ${c.args[0]}\n`);
      return EXIT.ok;
    },
  },
];

interface CertificateView {
  keyId: string;
  thumbprint: string;
  status: string;
  validFrom: string;
  validUntil: string;
  managed: boolean;
  displayName: string | null;
}

const certs: Command[] = [
  {
    name: 'certs list',
    args: ['appId'],
    options: [],
    summary: 'the certificates on the app registration',
    run: async (c) => {
      const { items } = await c.api().getJson<{ items: CertificateView[] }>(`/apps/${enc(c.args[0]!)}/certificates`);
      return print(c, items, () =>
        table(
          ['THUMBPRINT', 'STATUS', 'VALID FROM', 'VALID UNTIL', 'MANAGED', 'KEY ID'],
          items.map((i) => [i.thumbprint, i.status, i.validFrom, i.validUntil, i.managed, i.keyId]),
        ),
      );
    },
  },
  {
    name: 'certs generate',
    args: ['appId'],
    options: ['pfx', 'pem', 'password-file', 'legacy', 'force'],
    summary: 'deploy a new certificate now; --pfx FILE or --pem FILE keeps its private key (Admin)',
    run: async (c) => {
      const pfx = text(c.values, 'pfx');
      const pem = text(c.values, 'pem');
      if (pfx && pem) throw new UsageError('choose one of --pfx and --pem');
      const include = pfx ? 'pfx' : pem ? 'pem' : undefined;
      const response = await c.api().request('POST', `/apps/${enc(c.args[0]!)}/certificates`, {
        query: { include, legacy: c.values.legacy ? true : undefined },
      });
      const {
        pfx: material,
        pem: bundle,
        ...summary
      } = response.json<Record<string, unknown> & { pfx?: { base64: string; password: string }; pem?: { bundle: string } }>();
      if (material) {
        c.io.stderr(`private key written to ${writeSecretFile(c, pfx!, Buffer.from(material.base64, 'base64'))} (mode 0600)\n`);
        handOverPassword(c, material.password);
      }
      if (bundle) c.io.stderr(`certificate and private key written to ${writeSecretFile(c, pem!, bundle.bundle)} (mode 0600)\n`);
      return print(c, summary, () =>
        table(
          ['THUMBPRINT', 'NOT AFTER', 'KEY ID', 'VERIFICATION'],
          [[summary.thumbprint, summary.notAfter, summary.keyId, summary.verification]],
        ),
      );
    },
  },
  {
    name: 'certs download',
    args: ['appId', 'certificateId'],
    options: ['format', 'out', 'password-file', 'legacy', 'force'],
    summary: 'the public certificate (cer), or with its key (pem, pfx: Admin) to --out FILE',
    run: async (c) => {
      const format = text(c.values, 'format') ?? 'cer';
      if (!['cer', 'pem', 'pfx'].includes(format)) throw new UsageError('--format must be cer, pem or pfx');
      const out = text(c.values, 'out');
      if (format !== 'cer' && !out) throw new UsageError(`--format ${format} carries the private key: name the file to write with --out`);
      const response = await c.api().request('GET', `/apps/${enc(c.args[0]!)}/certificates/${enc(c.args[1]!)}`, {
        query: { format, legacy: c.values.legacy ? true : undefined },
      });
      if (format === 'pfx') {
        const { pfx } = response.json<{ pfx: { base64: string; password: string } }>();
        c.io.stdout(`written to ${writeSecretFile(c, out!, Buffer.from(pfx.base64, 'base64'))} (mode 0600)\n`);
        handOverPassword(c, pfx.password);
      } else if (out) {
        c.io.stdout(`written to ${writeSecretFile(c, out, response.body)}\n`);
      } else {
        const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'certificate.cer';
        c.io.stdout(`written to ${writeSecretFile(c, name.replace(/[/\\]/g, '_'), response.body)}\n`);
      }
      return EXIT.ok;
    },
  },
  {
    name: 'certs delete',
    args: ['appId', 'certificateId'],
    options: ['force', 'yes'],
    summary: 'remove a certificate from the app registration (the last valid one needs --force); needs --yes',
    run: async (c) => {
      if (!c.values.yes) throw new UsageError(`certs delete removes ${c.args[1]} from the app registration: add --yes to confirm`);
      await c.api().request('DELETE', `/apps/${enc(c.args[0]!)}/certificates/${enc(c.args[1]!)}`, {
        query: { force: c.values.force ? true : undefined },
      });
      c.io.stdout(`removed ${c.args[1]}\n`);
      return EXIT.ok;
    },
  },
];

interface HistoryEntry {
  at: string;
  action: string;
  trigger: string;
  outcome: string;
  actor?: { name: string };
  thumbprint?: string;
  error?: string;
  reason?: string;
}

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
    : '');

const others: Command[] = [
  {
    name: 'history',
    args: ['appId'],
    options: [],
    summary: "an app's renewals and admin actions, newest first",
    run: async (c) => {
      const items = await c.api().getAll<HistoryEntry>(`/apps/${enc(c.args[0]!)}/history`, { pageSize: 100 });
      return print(c, items, () =>
        table(
          ['AT', 'ACTION', 'TRIGGER', 'OUTCOME', 'BY', 'DETAIL'],
          items.map((h) => [h.at, h.action, h.trigger, h.outcome, h.actor?.name, h.error ?? h.reason ?? h.thumbprint]),
        ),
      );
    },
  },
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

export const COMMANDS: readonly Command[] = [...apps, ...certs, ...others];
