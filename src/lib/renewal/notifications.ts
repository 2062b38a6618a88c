import type { AccessState, AppConfig } from '../domain/appConfig.js';
import { guidFromText } from '../domain/identifiers.js';
import type { EmailMessage, RotatorEvent } from '../domain/ports.js';

/**
 * The content of every lifecycle notification (docs/operations.md): the CloudEvent and the email, built from the
 * facts only (never key material; an attachment is added by the caller when the config asks).
 */

export type NotificationKind = 'generated' | 'renewed' | 'failed' | 'near-expiry' | 'removed' | 'access-failed';

export const EVENT_TYPES: Readonly<Record<NotificationKind, string>> = {
  generated: 'EntraCertRotator.CertificateGenerated',
  renewed: 'EntraCertRotator.CertificateRenewed',
  failed: 'EntraCertRotator.CertificateRenewalFailed',
  'near-expiry': 'EntraCertRotator.CertificateNearExpiry',
  removed: 'EntraCertRotator.CertificateRemoved',
  'access-failed': 'EntraCertRotator.AccessGrantFailed',
};

export interface NotificationFacts {
  readonly kind: NotificationKind;
  /** Stable per renewal and kind (and certificate for removals): retries carry the same id. */
  readonly id: string;
  readonly appId: string;
  readonly displayName: string;
  readonly thumbprint?: string;
  readonly keyId?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly keyVaultCertificateId?: string;
  readonly keyVaultVersion?: string;
  readonly trigger?: string;
  readonly error?: string;
  /** The bulk rotation (docs/renewal.md) the renewal was for, and its reason. */
  readonly rotationId?: string;
  readonly reason?: string;
}

export function notificationId(kind: NotificationKind, key: string): string {
  return `${kind}:${key}`;
}

/** The AccessGrantFailed notification of a change of `state.access` (one per change: its time is in the id). */
export function accessFacts(config: Pick<AppConfig, 'appId' | 'displayName'>, access: AccessState): NotificationFacts {
  return {
    kind: 'access-failed',
    id: notificationId('access-failed', `${config.appId}:${access.status}:${access.checkedAt}`),
    appId: config.appId,
    displayName: config.displayName,
    error: `${access.status}: ${access.message ?? ''}`,
  };
}

/** A GUID derived from a notification id: the email service's Operation-Id, stable across retries. */
export function operationIdFor(id: string): string {
  return guidFromText(id);
}

export function buildEvent(facts: NotificationFacts, now: Date): RotatorEvent {
  const data: Record<string, unknown> = { appId: facts.appId, displayName: facts.displayName };
  for (const key of ['thumbprint', 'keyId', 'notBefore', 'notAfter', 'trigger', 'error', 'rotationId', 'reason'] as const) {
    if (facts[key] !== undefined) data[key] = facts[key];
  }
  if (facts.keyVaultCertificateId !== undefined) {
    data.keyVault = { certificateId: facts.keyVaultCertificateId, version: facts.keyVaultVersion };
  }
  return {
    id: facts.id,
    type: EVENT_TYPES[facts.kind],
    source: `/entra-cert-rotator/apps/${facts.appId}`,
    subject: facts.thumbprint === undefined ? undefined : `certificates/${facts.thumbprint}`,
    time: now,
    data,
  };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const SUBJECTS: Readonly<Record<NotificationKind, (name: string) => string>> = {
  generated: (n) => `New certificate generated for ${n}`,
  renewed: (n) => `Certificate renewed for ${n}`,
  failed: (n) => `Certificate renewal FAILED for ${n}`,
  'near-expiry': (n) => `Certificate for ${n} expires soon`,
  removed: (n) => `Certificate removed from ${n}`,
  'access-failed': (n) => `Key Vault access could not be granted for ${n}`,
};

const LEADS: Readonly<Record<NotificationKind, string>> = {
  generated: 'A new certificate was generated and added to the app registration. Older certificates stay valid until they expire.',
  renewed:
    'The certificate was renewed, verified by signing in as the app, and added to the app registration. Older certificates stay valid until they expire.',
  failed:
    'The certificate could not be renewed. The existing certificates are unchanged. The rotator retries on its next run; fix the cause below if it persists.',
  'near-expiry': 'The current certificate expires soon and no newer certificate exists yet.',
  removed: 'A certificate was removed from the app registration.',
  'access-failed':
    'The rotator could not give the services that use this certificate read access to it in Key Vault, so they may not pick up the next one. Renewals carry on, and the grant is retried at every renewal; the error below says what to grant.',
};

export function buildEmail(facts: NotificationFacts, config: Pick<AppConfig, 'notifications'>): EmailMessage {
  const rows: [string, string | undefined][] = [
    ['Application', `${facts.displayName} (${facts.appId})`],
    ['Thumbprint (SHA-1)', facts.thumbprint],
    ['Key id', facts.keyId],
    ['Valid from', facts.notBefore],
    ['Valid until', facts.notAfter],
    ['Key Vault certificate', facts.keyVaultCertificateId],
    ['Trigger', facts.trigger],
    ['Rotation', facts.rotationId],
    ['Reason', facts.reason],
    ['Error', facts.error],
  ];
  const present = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const lead = LEADS[facts.kind];
  return {
    to: config.notifications.recipients,
    subject: `[Entra Cert Rotator] ${SUBJECTS[facts.kind](facts.displayName)}`,
    plainText: `${lead}\n\n${present.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`,
    html:
      `<p>${escapeHtml(lead)}</p><table>` +
      present.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('') +
      '</table>',
    operationId: operationIdFor(facts.id),
  };
}

/**
 * The email that carries a new certificate's key when the app keeps no Key Vault copy. It goes out
 * before the certificate is added to the app registration (the key must land somewhere first), so
 * it says that, rather than the renewed email's "verified".
 */
export function buildKeyDeliveryEmail(facts: NotificationFacts, config: Pick<AppConfig, 'notifications'>): EmailMessage {
  const base = buildEmail(facts, config);
  const lead =
    'A new certificate was created for this app. It is being added to the app registration now and is verified once Entra accepts it; older certificates stay valid until they expire. This app keeps no copy in Key Vault, so this email is the only copy of the private key.';
  return {
    ...base,
    subject: `[Entra Cert Rotator] New certificate and private key for ${facts.displayName}`,
    plainText: base.plainText.replace(LEADS[facts.kind], lead),
    html: base.html.replace(escapeHtml(LEADS[facts.kind]), escapeHtml(lead)),
  };
}
