import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiProblem, type Api, type AppView, type Rotation, type RotationSelector } from '../api';
import { describedBy, Field, fieldErrorsOf, type FieldErrors } from './Field';

type Kind = 'appIds' | 'issuedBefore' | 'keySizeBelow' | 'thumbprints' | 'all';

const KINDS: readonly [Kind, string][] = [
  ['appIds', 'Chosen apps'],
  ['issuedBefore', 'Certificates issued before a date'],
  ['keySizeBelow', 'Keys smaller than'],
  ['thumbprints', 'Certificates with these thumbprints'],
  ['all', 'Every managed app'],
];

/** The fields the API may name in a 400 (docs/http-api.md, Bulk rotation); deeper paths show at these. */
const FIELDS = ['reason', 'selector.all', 'selector.appIds', 'selector.issuedBefore', 'selector.keySizeBelow', 'selector.thumbprints'];

/** What typing confirms a rotation of every managed app. */
const CONFIRM_ALL = 'rotate';

/** The selector in plain words: the API selects the apps itself, the page says what it asked for. */
export function selectorText(selector: RotationSelector, names: ReadonlyMap<string, string> = new Map()): string {
  if (selector.all) return 'every managed app';
  const parts: string[] = [];
  if (selector.appIds) {
    const shown = selector.appIds.map((id) => names.get(id) ?? id);
    parts.push(
      shown.length === 0 ? 'no app yet: choose some' : `${shown.length} chosen app${shown.length === 1 ? '' : 's'} (${shown.join(', ')})`,
    );
  }
  if (selector.issuedBefore) parts.push(`apps whose certificate was issued before ${selector.issuedBefore.slice(0, 10)}`);
  if (selector.keySizeBelow !== undefined) parts.push(`apps whose key is smaller than ${selector.keySizeBelow} bits`);
  if (selector.thumbprints) parts.push(`apps whose current certificate is one of ${selector.thumbprints.length} thumbprints`);
  return parts.join(' and ');
}

/** A field's text as the API should judge it: a number when it reads as one, else the text itself. */
const asNumber = (text: string): number | string => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);

/**
 * The Admin's dialog to start a bulk rotation (POST /api/rotations). One Idempotency-Key per opened
 * dialog: a double click, or starting again after an answer that never arrived, is the same
 * rotation to the API, never a second one. The API's field errors show beside their fields.
 */
export function StartRotation({
  api,
  apps,
  onStarted,
  onClose,
}: {
  api: Api;
  apps: readonly AppView[] | undefined;
  onStarted: (rotation: Rotation) => void;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const idempotencyKey = useMemo(() => crypto.randomUUID(), []);
  const [kind, setKind] = useState<Kind>('appIds');
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const [issuedBefore, setIssuedBefore] = useState('');
  const [keySizeBelow, setKeySizeBelow] = useState('3072');
  const [thumbprints, setThumbprints] = useState('');
  const [reason, setReason] = useState('');
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string>();
  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  const names = useMemo(() => new Map((apps ?? []).map((app) => [app.appId, app.displayName])), [apps]);
  const selector = ((): Record<string, unknown> => {
    switch (kind) {
      case 'all':
        return { all: true };
      case 'appIds':
        return { appIds: [...chosen] };
      case 'issuedBefore':
        // A date alone is midnight UTC; an empty field is sent as it is, so the API names it.
        return { issuedBefore: issuedBefore === '' ? '' : `${issuedBefore}T00:00:00Z` };
      case 'keySizeBelow':
        return { keySizeBelow: asNumber(keySizeBelow) };
      case 'thumbprints':
        return { thumbprints: thumbprints.split(/[\s,;]+/).filter((t) => t !== '') };
    }
  })();
  const confirmed = kind !== 'all' || typed.trim() === CONFIRM_ALL;

  const start = async (event: Event) => {
    event.preventDefault();
    if (busy || !confirmed) return;
    setBusy(true);
    setErrors({});
    setMessage(undefined);
    try {
      const rotation = await api.json<Rotation>('POST', '/rotations', {
        body: { selector, reason },
        headers: { 'idempotency-key': idempotencyKey },
      });
      onStarted(rotation);
    } catch (error) {
      if (error instanceof ApiProblem) {
        setErrors(fieldErrorsOf(error, FIELDS));
        setMessage(
          error.status === 403
            ? 'Only an Admin may start a rotation; the API refused it, and nothing started.'
            : error.detail || error.title,
        );
      } else {
        // No answer (the network, a timeout): the rotation may have started. Starting again sends the same key.
        setMessage('No answer from the API. Start again: it is the same request, so at most one rotation starts.');
      }
    } finally {
      setBusy(false);
    }
  };

  const toggle = (appId: string, on: boolean) =>
    setChosen((current) => {
      const next = new Set(current);
      if (on) next.add(appId);
      else next.delete(appId);
      return next;
    });

  return (
    <dialog ref={dialog} class="rotation-dialog" aria-labelledby="start-title" onClose={onClose}>
      <form onSubmit={(e) => void start(e)} noValidate>
        <h2 id="start-title">Start a bulk rotation</h2>
        <p>Each selected app gets one new certificate, made and deployed by the rotator as a scheduled renewal would.</p>
        <Field name="selector" label="Which apps" errors={errors} group>
          {KINDS.map(([value, label]) => (
            <label key={value} class="choice">
              <input type="radio" name="kind" value={value} checked={kind === value} onChange={() => setKind(value)} /> {label}
            </label>
          ))}
        </Field>
        {kind === 'appIds' && (
          <Field name="selector.appIds" label="Apps" errors={errors} group>
            {!apps ? (
              <p class="status">Loading apps…</p>
            ) : (
              <div class="choices">
                {apps.map((app) => (
                  <label key={app.appId} class="choice">
                    <input type="checkbox" checked={chosen.has(app.appId)} onChange={(e) => toggle(app.appId, e.currentTarget.checked)} />{' '}
                    {app.displayName}
                  </label>
                ))}
              </div>
            )}
          </Field>
        )}
        {kind === 'issuedBefore' && (
          <Field name="selector.issuedBefore" label="Issued before (UTC)" errors={errors}>
            <input
              id="f-selector.issuedBefore"
              type="date"
              value={issuedBefore}
              onInput={(e) => setIssuedBefore(e.currentTarget.value)}
              {...describedBy(errors, 'selector.issuedBefore')}
            />
          </Field>
        )}
        {kind === 'keySizeBelow' && (
          <Field name="selector.keySizeBelow" label="Key size below (bits)" errors={errors}>
            <input
              id="f-selector.keySizeBelow"
              inputMode="numeric"
              value={keySizeBelow}
              onInput={(e) => setKeySizeBelow(e.currentTarget.value)}
              {...describedBy(errors, 'selector.keySizeBelow')}
            />
          </Field>
        )}
        {kind === 'thumbprints' && (
          <Field name="selector.thumbprints" label="Thumbprints (SHA-1, one a line)" errors={errors}>
            <textarea
              id="f-selector.thumbprints"
              rows={4}
              value={thumbprints}
              onInput={(e) => setThumbprints(e.currentTarget.value)}
              {...describedBy(errors, 'selector.thumbprints')}
            />
          </Field>
        )}
        <Field name="reason" label="Reason (kept in each app's history)" errors={errors}>
          <input
            id="f-reason"
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
            placeholder="private key may be compromised (INC-123)"
            {...describedBy(errors, 'reason')}
          />
        </Field>
        <p class="confirm" id="start-summary">
          This renews {kind === 'all' ? `every managed app (${apps ? apps.length : 'all'} now)` : selectorText(selector, names)}.
          {kind !== 'appIds' && kind !== 'all' && ' The API selects the apps that match when the rotation starts.'}
        </p>
        {kind === 'all' && (
          <p>
            <label>
              Type <strong>{CONFIRM_ALL}</strong> to confirm{' '}
              <input value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" />
            </label>
          </p>
        )}
        {message && (
          <p class="message message-error" role="alert">
            {message}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !confirmed} aria-describedby="start-summary">
            Start rotation
          </button>
          <button type="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}
