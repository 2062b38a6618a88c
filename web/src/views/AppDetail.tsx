import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, type Api, type AppView, type Certificate, type Generated, type HistoryEntry } from '../api';
import type { Auth } from '../auth';
import { dateTime, shortDate } from '../format';
import { CertificateTable } from './CertificateTable';
import { ConfigForm } from './ConfigForm';
import { KeyDialog, type KeyMaterial } from './KeyDialog';

interface Loaded {
  app: AppView | undefined;
  certificates: readonly Certificate[];
  history: readonly HistoryEntry[];
  /** The history's next page, if it has one. */
  historyMore?: string;
}

const HISTORY_PAGE = 25;

/** One app: its certificates, history and config, and the actions the signed-in role may take. */
export function AppDetail({ appId, api, auth, onChanged }: { appId: string; api: Api; auth: Auth; onChanged: () => void }) {
  const [loaded, setLoaded] = useState<Loaded>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [material, setMaterial] = useState<KeyMaterial>();
  const [busy, setBusy] = useState(false);
  const [confirmText, setConfirmText] = useState('');

  const load = async () => {
    try {
      const [app, certificates, history] = await Promise.all([
        api.json<AppView>('GET', `/apps/${appId}`),
        api.json<{ items: Certificate[] }>('GET', `/apps/${appId}/certificates`),
        api.json<{ items: HistoryEntry[]; continuationToken?: string }>('GET', `/apps/${appId}/history?pageSize=${HISTORY_PAGE}`),
      ]);
      setLoaded({ app, certificates: certificates.items, history: history.items, historyMore: history.continuationToken });
    } catch (e) {
      setError(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e));
    }
  };
  useEffect(() => {
    void load();
  }, [appId]);

  const moreHistory = async (token: string) => {
    try {
      const page = await api.json<{ items: HistoryEntry[]; continuationToken?: string }>(
        'GET',
        `/apps/${appId}/history?pageSize=${HISTORY_PAGE}&continuationToken=${encodeURIComponent(token)}`,
      );
      setLoaded((l) => l && { ...l, history: [...l.history, ...page.items], historyMore: page.continuationToken });
    } catch (e) {
      setNotice(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e));
    }
  };

  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setNotice(undefined);
    try {
      await what();
      await load();
      onChanged();
    } catch (e) {
      setNotice(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e));
    } finally {
      setBusy(false);
    }
  };

  const generate = (include?: 'pfx' | 'pem') =>
    act(async () => {
      const generated = await api.json<Generated>('POST', `/apps/${appId}/certificates${include ? `?include=${include}` : ''}`);
      // Where the key lives and what else to know (scheduled renewal off): said with the key, or beside the notice.
      const notices = [...(generated.privateKey ? [generated.privateKey.notice] : []), ...(generated.notices ?? []).map((n) => n.detail)];
      setNotice([`Deployed certificate ${generated.thumbprint}; verification follows.`, ...notices].join(' '));
      if (generated.pfx) {
        setMaterial({
          fileName: generated.pfx.fileName ?? `${generated.thumbprint}.pfx`,
          mediaType: 'application/x-pkcs12',
          base64: generated.pfx.base64,
          password: generated.pfx.password,
          notices,
        });
      } else if (generated.pem) {
        setMaterial({ fileName: generated.pem.fileName, mediaType: 'application/x-pem-file', text: generated.pem.bundle, notices });
      }
    });

  const downloadKey = (certificate: Certificate, format: 'pfx' | 'pem') =>
    act(async () => {
      const response = await api.call('GET', `/apps/${appId}/certificates/${certificate.thumbprint}?format=${format}`);
      if (format === 'pfx') {
        const { pfx } = (await response.json()) as { pfx: { fileName: string; base64: string; password: string } };
        setMaterial({ fileName: pfx.fileName, mediaType: 'application/x-pkcs12', base64: pfx.base64, password: pfx.password });
      } else {
        setMaterial({ fileName: `${certificate.thumbprint}.pem`, mediaType: 'application/x-pem-file', text: await response.text() });
      }
    });

  const stopManaging = () =>
    act(async () => {
      await api.call('DELETE', `/apps/${appId}`);
      location.hash = '#/';
    });

  if (error) return <p class="message message-error">{error}</p>;
  if (!loaded) return <p class="status">Loading…</p>;
  const { app, certificates, history, historyMore } = loaded;
  if (!app) return <p>Not managed.</p>;
  // An app without a display name is confirmed by its id: an empty text must not confirm.
  const confirmWord = app.displayName.trim() === '' ? app.appId : app.displayName;

  return (
    <section aria-labelledby="app-title">
      <p>
        <a href="#/">← All apps</a>
      </p>
      <h2 id="app-title">{app.displayName}</h2>
      <p class="meta">
        App id <code>{app.appId}</code> · managed by the rotator · current certificate valid until {shortDate(app.state.notAfter)}
      </p>
      {notice && (
        <p class="message" role="status">
          {notice}
        </p>
      )}
      {auth.can('CertRotator.Operator') && (
        <div class="actions">
          <button type="button" class="primary" disabled={busy} onClick={() => void generate()}>
            Generate a new certificate now
          </button>
          {auth.can('CertRotator.Admin') && (
            <>
              <button type="button" disabled={busy} onClick={() => void generate('pfx')}>
                Generate and download PFX
              </button>
              <button type="button" disabled={busy} onClick={() => void generate('pem')}>
                Generate and download PEM
              </button>
            </>
          )}
        </div>
      )}

      <h3>Certificates on the app registration</h3>
      <CertificateTable
        appId={appId}
        certificates={certificates}
        api={api}
        admin={auth.can('CertRotator.Admin')}
        busy={busy}
        act={act}
        onKeyDownload={(c, format) => void downloadKey(c, format)}
      />

      <ConfigForm app={app} api={api} editable={auth.can('CertRotator.Admin')} onSaved={() => onChanged()} />

      <h3>History</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            <th scope="col">Trigger</th>
            <th scope="col">Outcome</th>
            <th scope="col">By</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {history.map((h, i) => (
            <tr key={`${h.at}-${i}`}>
              <td>{dateTime(h.at)}</td>
              <td>{h.action}</td>
              <td>{h.trigger}</td>
              <td>{h.outcome}</td>
              <td>{h.actor?.name ?? '—'}</td>
              <td>{h.error ?? (h.changes ? `changed ${h.changes.join(', ')}` : (h.thumbprint ?? ''))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {historyMore !== undefined && (
        <p>
          <button type="button" onClick={() => void moreHistory(historyMore)}>
            More history
          </button>
        </p>
      )}

      {auth.can('CertRotator.Admin') && (
        <form
          class="danger-zone"
          onSubmit={(e) => {
            e.preventDefault();
            if (confirmText === confirmWord) void stopManaging();
          }}
        >
          <h3>Stop managing this app</h3>
          <p>Its certificates stay on the app registration and in Key Vault; scheduled renewal stops.</p>
          <label>
            Type the app's {confirmWord === app.appId ? 'id' : 'name'}, <strong>{confirmWord}</strong>, to confirm{' '}
            <input value={confirmText} onInput={(e) => setConfirmText(e.currentTarget.value)} autocomplete="off" />
          </label>{' '}
          <button type="submit" class="danger" disabled={busy || confirmText !== confirmWord}>
            Stop managing
          </button>
        </form>
      )}

      {material && <KeyDialog material={material} onClose={() => setMaterial(undefined)} />}
    </section>
  );
}
