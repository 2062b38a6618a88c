import { useEffect, useState } from 'preact/hooks';
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
type FieldKey = keyof FormValues;

/** Each form value's label and the API's name for it (errors name it by that path, or one under it). */
const FIELDS: Record<FieldKey, { path: string; label: string }> = {
  enabled: { path: 'enabled', label: 'Scheduled renewal on' },
  lifetimeDays: { path: 'lifetimeDays', label: 'Lifetime (days)' },
  renewBeforeDays: { path: 'renewBeforeDays', label: 'Renew before expiry (days)' },
  keySize: { path: 'keySize', label: 'RSA key size' },
  notificationsEnabled: { path: 'notifications.enabled', label: 'Email notifications on' },
  recipients: { path: 'notifications.recipients', label: 'Recipients (comma-separated)' },
};
const KEYS = Object.keys(FIELDS) as FieldKey[];
const PATHS = KEYS.map((k) => FIELDS[k].path);

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

/** The fields whose values differ between two versions of the form. */
function differing(a: FormValues, b: FormValues): FieldKey[] {
  return KEYS.filter((k) => a[k] !== b[k]);
}

/** A number field's text as the API should judge it: a number when it reads as one, else the text itself. */
function asNumber(text: string): number | string {
  return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

/**
 * A JSON merge patch of the changed fields only (PATCH merges, docs/http-api.md), so a field another
 * Admin saved meanwhile and this user left alone is never sent back with its old value.
 */
function patchOf(values: FormValues, changed: readonly FieldKey[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const notifications: Record<string, unknown> = {};
  for (const key of changed) {
    if (key === 'enabled') patch.enabled = values.enabled;
    else if (key === 'notificationsEnabled') notifications.enabled = values.notificationsEnabled;
    else if (key === 'recipients')
      notifications.recipients = values.recipients
        .split(',')
        .map((r) => r.trim())
        .filter((r) => r !== '');
    else patch[key] = asNumber(values[key]);
  }
  if (Object.keys(notifications).length > 0) patch.notifications = notifications;
  return patch;
}

const shown = (value: string | boolean) => (typeof value === 'boolean' ? (value ? 'on' : 'off') : value === '' ? '(none)' : value);

/**
 * The app's config: read-only but for an Admin, who saves with PATCH and If-Match, sending only what
 * they changed. A 400's field errors are shown beside their fields. A 412 (the app's row changed in
 * between) is retried once by itself when no field of the form changed (a renewal's state shares the
 * row); otherwise the form takes the newer version, keeps the user's changes over it and names what
 * someone else changed, to be saved again.
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
  // base: the version the edits started from, with its ETag.
  const [base, setBase] = useState(() => ({ values: valuesOf(app), etag: app.etag }));
  const [values, setValues] = useState(() => valuesOf(app));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ kind: 'error' | 'ok' | 'conflict'; text: string }>();
  const set = (patch: Partial<FormValues>) => setValues((v) => ({ ...v, ...patch }));
  const changed = differing(values, base.values);

  // A newer version from the page (after a Generate, say) replaces an unedited form, ETag and all.
  useEffect(() => {
    if (app.etag === base.etag || changed.length > 0) return;
    const latest = valuesOf(app);
    setBase({ values: latest, etag: app.etag });
    setValues(latest);
  }, [app.etag]);

  const saved = (view: AppView) => {
    const latest = valuesOf(view);
    setBase({ values: latest, etag: view.etag });
    setValues(latest);
    setMessage({ kind: 'ok', text: 'Saved.' });
    onSaved(view);
  };

  const save = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    setMessage(undefined);
    if (changed.length === 0) {
      setMessage({ kind: 'ok', text: 'Nothing changed, nothing to save.' });
      return;
    }
    const patch = patchOf(values, changed);
    const send = async (etag: string) => {
      const response = await api.call('PATCH', `/apps/${app.appId}`, { body: patch, ifMatch: etag });
      return (await response.json()) as AppView;
    };
    try {
      try {
        saved(await send(base.etag));
      } catch (error) {
        if (!(error instanceof ApiProblem) || error.status !== 412) throw error;
        const latest = await api.json<AppView>('GET', `/apps/${app.appId}`);
        const latestValues = valuesOf(latest);
        const theirs = differing(latestValues, base.values);
        if (theirs.length === 0) {
          saved(await send(latest.etag));
          return;
        }
        const mine = Object.fromEntries(changed.map((k) => [k, values[k]])) as Partial<FormValues>;
        setBase({ values: latestValues, etag: latest.etag });
        setValues({ ...latestValues, ...mine });
        const what = theirs.map((k) => `${FIELDS[k].label}: ${shown(base.values[k])} → ${shown(latestValues[k])}`).join('; ');
        setMessage({
          kind: 'conflict',
          text: `Someone else changed this app while you edited it, so nothing was saved. They changed ${what}. The form now shows their version with your changes over it: check it and save again.`,
        });
      }
    } catch (error) {
      if (!(error instanceof ApiProblem)) throw error;
      if (error.status === 412) {
        setMessage({
          kind: 'conflict',
          text: 'The app changed again while saving, so nothing was saved. Reload the page to see the newest version.',
        });
      } else {
        setErrors(fieldErrorsOf(error, PATHS));
        setMessage({ kind: 'error', text: error.detail || error.title });
      }
    }
  };

  const field = (key: FieldKey, input: preact.JSX.Element) => (
    <Field name={FIELDS[key].path} label={FIELDS[key].label} errors={errors}>
      {input}
    </Field>
  );
  const described = (key: FieldKey) => describedBy(errors, FIELDS[key].path);

  return (
    <form class="config" onSubmit={(e) => void save(e)} aria-labelledby="config-title">
      <h3 id="config-title">Configuration</h3>
      <fieldset disabled={!editable}>
        {field(
          'enabled',
          <input id="f-enabled" type="checkbox" checked={values.enabled} onChange={(e) => set({ enabled: e.currentTarget.checked })} />,
        )}
        {field(
          'lifetimeDays',
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
          <input
            id="f-keySize"
            inputMode="numeric"
            value={values.keySize}
            onInput={(e) => set({ keySize: e.currentTarget.value })}
            {...described('keySize')}
          />,
        )}
        {field(
          'notificationsEnabled',
          <input
            id="f-notifications.enabled"
            type="checkbox"
            checked={values.notificationsEnabled}
            onChange={(e) => set({ notificationsEnabled: e.currentTarget.checked })}
          />,
        )}
        {field(
          'recipients',
          <input
            id="f-notifications.recipients"
            value={values.recipients}
            onInput={(e) => set({ recipients: e.currentTarget.value })}
            {...described('recipients')}
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
          {message.text}
        </p>
      )}
    </form>
  );
}
