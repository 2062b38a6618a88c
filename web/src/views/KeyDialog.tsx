import { useEffect, useRef, useState } from 'preact/hooks';

/** One-time key material: a file to save and, for a PFX, its password. Held by this dialog only. */
export interface KeyMaterial {
  readonly fileName: string;
  readonly mediaType: string;
  /** The file's bytes as base64 (a PFX) or its text (a PEM bundle). */
  readonly base64?: string;
  readonly text?: string;
  readonly password?: string;
  /** What the API said with it: where the key is kept, that scheduled renewal is off. */
  readonly notices?: readonly string[];
}

/**
 * Shows a new private key once: a download button and the PFX password with a copy button. The
 * material lives in this component's state and the closure of the download only; nothing is written
 * to any storage, and closing the dialog drops it (the caller clears its copy on `onClose`).
 */
export function KeyDialog({ material, onClose }: { material: KeyMaterial; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  const download = () => {
    const bytes =
      material.base64 !== undefined
        ? Uint8Array.from(atob(material.base64), (c) => c.charCodeAt(0))
        : new TextEncoder().encode(material.text ?? '');
    const url = URL.createObjectURL(new Blob([bytes], { type: material.mediaType }));
    const link = document.createElement('a');
    link.href = url;
    link.download = material.fileName;
    link.click();
    // The blob URL is revoked at once: the download has its own copy.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  };

  const copy = async () => {
    await navigator.clipboard.writeText(material.password ?? '');
    setCopied(true);
  };

  return (
    <dialog ref={dialog} class="key-dialog" aria-labelledby="key-title" onClose={onClose}>
      <h2 id="key-title">New private key: shown once</h2>
      <p>Save it now. The rotator does not show it again; Key Vault keeps its own copy when it is on.</p>
      {material.notices && material.notices.length > 0 && (
        <ul class="notices" aria-label="Notices">
          {material.notices.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
      <p>
        <button type="button" class="primary" onClick={download}>
          Download {material.fileName}
        </button>
      </p>
      {material.password !== undefined && (
        <p>
          <label>
            PFX password <input type="text" readOnly value={material.password} class="password" autocomplete="off" spellcheck={false} />
          </label>{' '}
          <button type="button" onClick={() => void copy()}>
            {copied ? 'Copied' : 'Copy'}
          </button>
        </p>
      )}
      <form method="dialog">
        <button type="submit">Close</button>
      </form>
    </dialog>
  );
}
