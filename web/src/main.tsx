import { render } from 'preact';
import { Auth, type SignInSettings } from './auth';
import { App } from './App';

/** The dashboard (README, Dashboard): its sign-in settings from the server, MSAL, then the views. */
async function start(root: HTMLElement): Promise<void> {
  const response = await fetch('/api/ui/config.json', { cache: 'no-cache' });
  if (!response.ok) {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string };
    throw new Error(problem.detail ?? `config.json answered ${response.status}`);
  }
  const settings = (await response.json()) as SignInSettings;
  const auth = await Auth.start(settings, new URL('/api/ui/', location.origin).toString());
  if (!auth.account) {
    render(
      <main class="sign-in">
        <h1>Entra Cert Rotator</h1>
        {auth.sessionEnded && (
          <p class="message" role="status">
            Your sign-in has ended and could not be renewed. Sign in again to continue.
          </p>
        )}
        <p>Sign in with your organisation's account to see the managed apps and their certificates.</p>
        <button type="button" class="primary" onClick={() => void auth.signIn()}>
          Sign in
        </button>
      </main>,
      root,
    );
    return;
  }
  render(<App auth={auth} />, root);
}

const root = document.getElementById('app')!;
// The page's "Loading…" text is static HTML that render() would keep beside the app.
root.replaceChildren();
start(root).catch((error: unknown) => {
  render(
    <main>
      <h1>Entra Cert Rotator</h1>
      <p class="message message-error">The dashboard could not start: {error instanceof Error ? error.message : String(error)}</p>
    </main>,
    root,
  );
});
