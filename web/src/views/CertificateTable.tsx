import { useState } from 'preact/hooks';
import { ApiProblem, type Api, type Certificate } from '../api';
import { shortDate } from '../format';

/** Saves a file the API answered; the blob URL goes at once, the download keeps its own copy. */
async function saveResponse(response: Response, fallbackName: string): Promise<void> {
  const named = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1];
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = named ?? fallbackName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/**
 * Every certificate on the app registration with its public certificate to download (any role); an
 * Admin also downloads managed ones' private keys and removes any, confirmed by typing its thumbprint.
 * The API refuses to remove the last valid one (409 naming force=true): its words are shown, and force
 * is offered only behind a second, explicit confirmation.
 */
export function CertificateTable({
  appId,
  certificates,
  api,
  admin,
  busy,
  act,
  onKeyDownload,
}: {
  appId: string;
  certificates: readonly Certificate[];
  api: Api;
  admin: boolean;
  busy: boolean;
  act: (what: () => Promise<void>) => Promise<void>;
  onKeyDownload: (certificate: Certificate, format: 'pfx' | 'pem') => void;
}) {
  const [removing, setRemoving] = useState<Certificate>();
  const [typed, setTyped] = useState('');
  const [refusal, setRefusal] = useState<string>();
  const [forceConfirmed, setForceConfirmed] = useState(false);
  const [downloadError, setDownloadError] = useState<string>();

  // A download changes nothing, so it does not reload the page's data as an action does.
  const download = async (certificate: Certificate, encoding: 'der' | 'pem') => {
    setDownloadError(undefined);
    try {
      const response = await api.call('GET', `/apps/${appId}/certificates/${certificate.thumbprint}?format=cer&encoding=${encoding}`);
      await saveResponse(response, `${certificate.thumbprint}.${encoding === 'der' ? 'cer' : 'pem'}`);
    } catch (e) {
      setDownloadError(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e));
    }
  };

  const startRemoving = (certificate: Certificate) => {
    setRemoving(certificate);
    setTyped('');
    setRefusal(undefined);
    setForceConfirmed(false);
  };

  const remove = (certificate: Certificate, force: boolean) =>
    act(async () => {
      try {
        await api.call('DELETE', `/apps/${appId}/certificates/${certificate.keyId}${force ? '?force=true' : ''}`);
        setRemoving(undefined);
      } catch (error) {
        // The last valid certificate: say why, and let the Admin choose force with open eyes.
        if (!force && error instanceof ApiProblem && error.status === 409 && error.detail.includes('force=true')) {
          setRefusal(error.detail);
          return;
        }
        throw error;
      }
    });

  return (
    <>
      {downloadError && (
        <p class="message message-error" role="alert">
          {downloadError}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">Display name</th>
            <th scope="col">Thumbprint</th>
            <th scope="col">Valid from</th>
            <th scope="col">Valid until</th>
            <th scope="col">Status</th>
            <th scope="col">Managed</th>
            <th scope="col">Certificate</th>
            {admin && <th scope="col">Private key</th>}
            {admin && <th scope="col">Remove</th>}
          </tr>
        </thead>
        <tbody>
          {certificates.map((c) => (
            <tr key={c.keyId}>
              <td>{c.displayName}</td>
              <td>
                <code>{c.thumbprint}</code>
              </td>
              <td>{shortDate(c.validFrom)}</td>
              <td>{shortDate(c.validUntil)}</td>
              <td>{c.status}</td>
              <td>{c.managed ? 'yes' : 'no'}</td>
              <td>
                <button type="button" disabled={busy} aria-label={`Download ${c.thumbprint}.cer`} onClick={() => void download(c, 'der')}>
                  .cer
                </button>{' '}
                <button
                  type="button"
                  disabled={busy}
                  aria-label={`Download ${c.thumbprint} as PEM`}
                  onClick={() => void download(c, 'pem')}
                >
                  PEM
                </button>
              </td>
              {admin && (
                <td>
                  {c.managed && (
                    <>
                      <button type="button" disabled={busy} onClick={() => onKeyDownload(c, 'pfx')}>
                        PFX
                      </button>{' '}
                      <button type="button" disabled={busy} onClick={() => onKeyDownload(c, 'pem')}>
                        PEM
                      </button>
                    </>
                  )}
                </td>
              )}
              {admin && (
                <td>
                  <button
                    type="button"
                    class="danger"
                    disabled={busy}
                    aria-label={`Remove ${c.thumbprint}`}
                    onClick={() => startRemoving(c)}
                  >
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>

      {admin && removing && (
        <form
          class="danger-zone"
          aria-labelledby="remove-title"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed.trim().toUpperCase() === removing.thumbprint.toUpperCase()) void remove(removing, false);
          }}
        >
          <h4 id="remove-title">Remove certificate {removing.thumbprint}</h4>
          <p>It is taken off the app registration: anything still signing in with it stops working. Key Vault keeps its versions.</p>
          <label>
            Type its thumbprint, <code>{removing.thumbprint}</code>, to confirm{' '}
            <input value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" spellcheck={false} />
          </label>{' '}
          <button
            type="submit"
            class="danger"
            disabled={busy || typed.trim().toUpperCase() !== removing.thumbprint.toUpperCase() || refusal !== undefined}
          >
            Remove certificate
          </button>{' '}
          <button type="button" onClick={() => setRemoving(undefined)}>
            Cancel
          </button>
          {refusal && (
            <div class="message message-error" role="alert">
              <p>{refusal}</p>
              <label>
                <input type="checkbox" checked={forceConfirmed} onChange={(e) => setForceConfirmed(e.currentTarget.checked)} /> I understand
                that the app will have no valid certificate to sign in with
              </label>{' '}
              <button type="button" class="danger" disabled={busy || !forceConfirmed} onClick={() => void remove(removing, true)}>
                Remove the last valid certificate anyway
              </button>
            </div>
          )}
        </form>
      )}
    </>
  );
}
