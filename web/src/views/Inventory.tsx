import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, type Api } from '../api';
import type { Auth } from '../auth';
import { shortDate } from '../format';

interface InventoryItem {
  readonly appId: string;
  readonly displayName: string;
  readonly managed: boolean;
  readonly certificates: { readonly count: number; readonly earliestExpiry?: string };
  readonly clientSecrets: { readonly count: number; readonly earliestExpiry?: string };
  readonly runsOnClientSecret: boolean;
}

/** Every app registration of the tenant (GET /api/inventory), client-secret apps flagged, with "manage this app". */
export function Inventory({ api, auth, onChanged }: { api: Api; auth: Auth; onChanged: () => void }) {
  const [items, setItems] = useState<InventoryItem[]>();
  const [message, setMessage] = useState<string>();
  const load = () =>
    api
      .all<InventoryItem>('/inventory')
      .then(setItems, (e: unknown) => setMessage(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e)));
  useEffect(() => {
    void load();
  }, []);

  const manage = async (item: InventoryItem) => {
    try {
      // The defaults of docs/configuration.md; notifications off until someone names recipients.
      await api.call('PUT', `/apps/${item.appId}`, { body: { notifications: { enabled: false } } });
      onChanged();
      location.hash = `#/apps/${item.appId}`;
    } catch (e) {
      setMessage(e instanceof ApiProblem ? `${e.title}: ${e.detail}` : String(e));
    }
  };

  return (
    <section aria-labelledby="inventory-title">
      <h2 id="inventory-title">Tenant inventory</h2>
      {message && <p class="message message-error">{message}</p>}
      {!items ? (
        <p class="status">Loading…</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">App registration</th>
              <th scope="col">Certificates</th>
              <th scope="col">Client secrets</th>
              <th scope="col">Managed</th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.appId}>
                <td>
                  {item.managed ? <a href={`#/apps/${item.appId}`}>{item.displayName}</a> : item.displayName}
                  {item.runsOnClientSecret && <span class="tag tag-warn">runs on a client secret</span>}
                </td>
                <td>
                  {item.certificates.count}
                  {item.certificates.earliestExpiry && `, first expires ${shortDate(item.certificates.earliestExpiry)}`}
                </td>
                <td>
                  {item.clientSecrets.count}
                  {item.clientSecrets.earliestExpiry && `, first expires ${shortDate(item.clientSecrets.earliestExpiry)}`}
                </td>
                <td>
                  {item.managed
                    ? 'yes'
                    : auth.can('CertRotator.Admin') && (
                        <button type="button" onClick={() => void manage(item)}>
                          Manage this app
                        </button>
                      )}
                  {!item.managed && !auth.can('CertRotator.Admin') && 'no'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
