import { useState } from 'preact/hooks';
import { ApiProblem, type Api, type AppView } from '../api';
import { describedBy, Field, fieldErrorsOf } from './Field';

interface FormValues {
  enabled: boolean;
  lifetimeDays: string;
  renewBeforeDays: string;
  keySize: string;
  notificationsEnabled: boolean;
  recipients: string;
}

function valuesOf(app: AppView): FormValues {
  return {
    enabled: app.config.enabled,
    lifetimeDays: String(app.config.lifetimeDays),
    renewBeforeDays: String(app.config.renewBeforeDays),
    keySize: String(app.config.keySize),
    notificationsEnabled: app.config.notifications.enabled,
    recipients: app.config.notifications.recipients.join(', '),
  };
}

/** A number field's text as the API should judge it: a number when it reads as one, else the text itself. */
function asNumber(text: string): number | string {
  return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

/**
 * The app's config: read-only but for an Admin, who saves with PATCH and If-Match. A 400's field
 * errors are shown beside their fields; a 412 (someone saved in between) keeps the edits, says so, and
 * offers to take the newer version as the base, so nothing typed is lost.
 */
export function ConfigForm({
  app,
  api,
  editable,
  onSaved,
}: {
  app: AppView;
  api: Api;
  editable: boolean;
  onSaved: (app: AppView) => void;
}) {
  const [values, setValues] = useState(() => valuesOf(app));
  const [etag, setEtag] = useState(app.etag);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ kind: 'error' | 'ok' | 'conflict'; text: string }>();
  const set = (patch: Partial<FormValues>) => setValues((v) => ({ ...v, ...patch }));

  const save = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    setMessage(undefined);
    const body = {
      enabled: values.enabled,
      lifetimeDays: asNumber(values.lifetimeDays),
      renewBeforeDays: asNumber(values.renewBeforeDays),
      keySize: asNumber(values.keySize),
      notifications: {
        enabled: values.notificationsEnabled,
        recipients: values.recipients
          .split(',')
          .map((r) => r.trim())
          .filter((r) => r !== ''),
      },
    };
    try {
      const response = await api.call('PATCH', `/apps/${app.appId}`, { body, ifMatch: etag });
      const saved = (await response.json()) as AppView;
      setEtag(saved.etag);
      setValues(valuesOf(saved));
      setMessage({ kind: 'ok', text: 'Saved.' });
      onSaved(saved);
    } catch (error) {
      if (!(error instanceof ApiProblem)) throw error;
      if (error.status === 412) {
        setMessage({
          kind: 'conflict',
          text: 'Someone changed this app since you opened it, so nothing was saved. Your edits are still here: take the newer version as the base and save again to apply them over it.',
        });
      } else {
        setErrors(fieldErrorsOf(error));
        setMessage({ kind: 'error', text: error.detail || error.title });
      }
    }
  };

  const rebase = async () => {
    const latest = await api.json<AppView>('GET', `/apps/${app.appId}`);
    setEtag(latest.etag);
    setMessage({ kind: 'ok', text: 'Your edits now apply over the newer version; save to apply them.' });
  };

  const field = (name: string, label: string, input: preact.JSX.Element) => (
    <Field name={name} label={label} errors={errors}>
      {input}
    </Field>
  );
  const described = (name: string) => describedBy(errors, name);

  return (
    <form class="config" onSubmit={(e) => void save(e)} aria-labelledby="config-title">
      <h3 id="config-title">Configuration</h3>
      <fieldset disabled={!editable}>
        {field(
          'enabled',
          'Scheduled renewal on',
          <input id="f-enabled" type="checkbox" checked={values.enabled} onChange={(e) => set({ enabled: e.currentTarget.checked })} />,
        )}
        {field(
          'lifetimeDays',
          'Lifetime (days)',
          <input
            id="f-lifetimeDays"
            inputMode="numeric"
            value={values.lifetimeDays}
            onInput={(e) => set({ lifetimeDays: e.currentTarget.value })}
            {...described('lifetimeDays')}
          />,
        )}
        {field(
          'renewBeforeDays',
          'Renew before expiry (days)',
          <input
            id="f-renewBeforeDays"
            inputMode="numeric"
            value={values.renewBeforeDays}
            onInput={(e) => set({ renewBeforeDays: e.currentTarget.value })}
            {...described('renewBeforeDays')}
          />,
        )}
        {field(
          'keySize',
          'RSA key size',
          <input
            id="f-keySize"
            inputMode="numeric"
            value={values.keySize}
            onInput={(e) => set({ keySize: e.currentTarget.value })}
            {...described('keySize')}
          />,
        )}
        {field(
          'notifications.enabled',
          'Email notifications on',
          <input
            id="f-notifications.enabled"
            type="checkbox"
            checked={values.notificationsEnabled}
            onChange={(e) => set({ notificationsEnabled: e.currentTarget.checked })}
          />,
        )}
        {field(
          'notifications.recipients',
          'Recipients (comma-separated)',
          <input
            id="f-notifications.recipients"
            value={values.recipients}
            onInput={(e) => set({ recipients: e.currentTarget.value })}
            {...described('notifications.recipients')}
          />,
        )}
        {editable && (
          <button type="submit" class="primary">
            Save
          </button>
        )}
      </fieldset>
      {message && (
        <p class={`message message-${message.kind}`} role="status">
          {message.text}{' '}
          {message.kind === 'conflict' && (
            <button type="button" onClick={() => void rebase()}>
              Take the newer version as the base
            </button>
          )}
        </p>
      )}
    </form>
  );
}
