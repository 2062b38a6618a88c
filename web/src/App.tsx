import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { Api, ApiProblem, type AppView } from './api';
import type { Auth } from './auth';
import { AppDetail } from './views/AppDetail';
import { Inventory } from './views/Inventory';
import { Overview } from './views/Overview';
import { Rotations } from './views/Rotations';
import { Timeline } from './views/Timeline';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

export function App({ auth }: { auth: Auth }) {
  const api = useMemo(() => new Api(() => auth.token()), [auth]);
  const hash = useHash();
  const [apps, setApps] = useState<AppView[]>();
  const [error, setError] = useState<string>();
  const [now, setNow] = useState(() => new Date());
  const reload = useCallback(() => {
    setNow(new Date());
    api.all<AppView>('/apps').then(setApps, (e: unknown) => setError(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e)));
  }, [api]);
  useEffect(reload, [reload]);

  const route = hash.replace(/^#\/?/, '');
  const appMatch = /^apps\/([0-9a-fA-F-]{36})$/.exec(route);
  const role = auth.roles.length > 0 ? auth.roles.map((r) => r.replace('CertRotator.', '')).join(', ') : 'no role';
  const nav = (href: string, label: string, current: boolean) => (
    <a href={href} aria-current={current ? 'page' : undefined}>
      {label}
    </a>
  );

  return (
    <>
      <header>
        <h1>Entra Cert Rotator</h1>
        <nav aria-label="Views">
          {nav('#/', 'Overview', route === '')}
          {nav('#/timeline', 'Timeline', route === 'timeline')}
          {nav('#/inventory', 'Inventory', route === 'inventory')}
          {nav('#/rotations', 'Rotations', route === 'rotations' || route.startsWith('rotations/'))}
        </nav>
        <div class="user">
          <span>
            {auth.account?.name ?? auth.account?.username} ({role})
          </span>{' '}
          <button type="button" onClick={() => void auth.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        {error && <p class="message message-error">{error}</p>}
        {auth.roles.length === 0 ? (
          <p class="message message-error">
            You hold none of the rotator's roles (CertRotator.Reader, Operator or Admin): ask an admin to assign one.
          </p>
        ) : appMatch ? (
          <AppDetail appId={appMatch[1]!} api={api} auth={auth} onChanged={reload} />
        ) : route === 'inventory' ? (
          <Inventory api={api} auth={auth} onChanged={reload} />
        ) : route === 'rotations' || route.startsWith('rotations/') ? (
          <Rotations rotationId={route.split('/')[1]} api={api} auth={auth} apps={apps} />
        ) : !apps ? (
          <p class="status">Loading…</p>
        ) : route === 'timeline' ? (
          <Timeline apps={apps} now={now} />
        ) : (
          <Overview apps={apps} now={now} />
        )}
      </main>
    </>
  );
}
