import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiProblem, type Api, type AppView, type Rotation, type RotationApp, type RotationStage } from '../api';
import type { Auth } from '../auth';
import { dateTime } from '../format';
import { selectorText, StartRotation } from './StartRotation';

/** How often an open rotation is read again while its page is shown. */
const POLL_MS = 2000;

const STAGES: readonly RotationStage[] = ['queued', 'deployed', 'verified', 'failed', 'skipped'];

const problemText = (e: unknown) => (e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e));

/** Bulk rotations (docs/http-api.md, Bulk rotation): the list, one followed live, and an Admin's start. */
export function Rotations({
  rotationId,
  api,
  auth,
  apps,
}: {
  rotationId: string | undefined;
  api: Api;
  auth: Auth;
  apps: readonly AppView[] | undefined;
}) {
  return rotationId === undefined ? (
    <RotationList api={api} auth={auth} apps={apps} />
  ) : (
    <RotationDetail id={rotationId} api={api} apps={apps} />
  );
}

function RotationList({ api, auth, apps }: { api: Api; auth: Auth; apps: readonly AppView[] | undefined }) {
  const [rotations, setRotations] = useState<Rotation[]>();
  const [error, setError] = useState<string>();
  const [starting, setStarting] = useState(false);
  useEffect(() => {
    api.json<{ items: Rotation[] }>('GET', '/rotations').then(
      (list) => setRotations(list.items),
      (e: unknown) => setError(problemText(e)),
    );
  }, [api]);

  return (
    <section aria-labelledby="rotations-title">
      <h2 id="rotations-title">Bulk rotations</h2>
      {auth.can('CertRotator.Admin') && (
        <div class="actions">
          <button type="button" class="primary" onClick={() => setStarting(true)}>
            Start a rotation
          </button>
        </div>
      )}
      {error && <p class="message message-error">{error}</p>}
      {!rotations ? (
        !error && <p class="status">Loading…</p>
      ) : rotations.length === 0 ? (
        <p>No rotation yet.</p>
      ) : (
        <table class="rotations">
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col">Started</th>
              <th scope="col">By</th>
              <th scope="col">Status</th>
              <th scope="col">Apps</th>
              <th scope="col">Verified</th>
              <th scope="col">Failed</th>
              <th scope="col">Skipped</th>
              <th scope="col">Open</th>
            </tr>
          </thead>
          <tbody>
            {rotations.map((r) => (
              <tr key={r.id}>
                <td>
                  <a href={`#/rotations/${r.id}`}>{r.reason}</a>
                </td>
                <td>{dateTime(r.createdAt)}</td>
                <td>{r.requestedBy.name}</td>
                <td>{r.status}</td>
                <td>{r.total}</td>
                <td>{r.counts.verified}</td>
                <td>{r.counts.failed}</td>
                <td>{r.counts.skipped}</td>
                <td>{r.counts.queued + r.counts.deployed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {starting && (
        <StartRotation
          api={api}
          apps={apps}
          onClose={() => setStarting(false)}
          onStarted={(rotation) => {
            setStarting(false);
            location.hash = `#/rotations/${rotation.id}`;
          }}
        />
      )}
    </section>
  );
}

/** One rotation, read again every POLL_MS until it completes or the page closes. */
function RotationDetail({ id, api, apps }: { id: string; api: Api; apps: readonly AppView[] | undefined }) {
  const [rotation, setRotation] = useState<Rotation>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const latest = await api.json<Rotation>('GET', `/rotations/${id}`);
        if (closed) return;
        setRotation(latest);
        setError(undefined);
        if (latest.status === 'completed') return;
      } catch (e) {
        if (closed) return;
        setError(problemText(e));
        // A refusal (404, 403) stays one; anything else may pass, so keep following.
        if (e instanceof ApiProblem && e.status >= 400 && e.status < 500) return;
      }
      timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      closed = true;
      clearTimeout(timer);
    };
  }, [api, id]);

  const names = useMemo(() => new Map((apps ?? []).map((app) => [app.appId, app.displayName])), [apps]);
  const settled = rotation ? rotation.counts.verified + rotation.counts.failed + rotation.counts.skipped : 0;
  return (
    <section aria-labelledby="rotation-title">
      <p>
        <a href="#/rotations">← All rotations</a>
      </p>
      <h2 id="rotation-title">Rotation: {rotation?.reason ?? id}</h2>
      {error && <p class="message message-error">{error}</p>}
      {rotation && (
        <>
          <p class="meta">
            {selectorText(rotation.selector, names)} · asked by {rotation.requestedBy.name} at {dateTime(rotation.createdAt)}
          </p>
          <p class={`message${rotation.status === 'completed' ? ' message-ok' : ''}`} role="status">
            {rotation.status === 'completed'
              ? `Completed at ${dateTime(rotation.completedAt)}: ${rotation.counts.verified} verified, ${rotation.counts.failed} failed, ${rotation.counts.skipped} skipped.`
              : `${rotation.status === 'starting' ? 'Starting' : 'Running'}: ${settled} of ${rotation.total} apps settled.`}
          </p>
          <table class="stage-counts">
            <caption class="visually-hidden">Apps per stage</caption>
            <thead>
              <tr>
                {STAGES.map((stage) => (
                  <th key={stage} scope="col">
                    {stage}
                  </th>
                ))}
                <th scope="col">total</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                {STAGES.map((stage) => (
                  <td key={stage} data-stage={stage}>
                    {rotation.counts[stage]}
                  </td>
                ))}
                <td>{rotation.total}</td>
              </tr>
            </tbody>
          </table>
          <AppTable title="Still open" apps={rotation.openApps} column="Stage" cell={(app) => app.stage} />
          <AppTable title="Failed" apps={rotation.failedApps} column="Error" cell={(app) => app.detail ?? ''} />
          <AppTable title="Skipped" apps={rotation.skippedApps} column="Why" cell={(app) => app.detail ?? ''} />
        </>
      )}
    </section>
  );
}

function AppTable({
  title,
  apps,
  column,
  cell,
}: {
  title: string;
  apps: readonly RotationApp[];
  column: string;
  cell: (app: RotationApp) => string;
}) {
  if (apps.length === 0) return null;
  return (
    <>
      <h3>{title}</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">App</th>
            <th scope="col">{column}</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {apps.map((app) => (
            <tr key={app.appId}>
              <td>
                <a href={`#/apps/${app.appId}`}>{app.displayName}</a>
              </td>
              <td>{cell(app)}</td>
              <td>{dateTime(app.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
