import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT, UsageError } from './cliIo.js';
import { enc, handOverPassword, list, print, text, wholeNumber, writeSecretFile, type Command } from './command.js';
import { daysLeft, table } from './table.js';

/** The commands on one app: its config (`apps`), its certificates (`certs`) and its `history`. */

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

const history: Command = {
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
};

export const APP_COMMANDS: readonly Command[] = [...apps, ...certs, history];
