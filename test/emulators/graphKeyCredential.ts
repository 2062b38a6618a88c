import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import type { CredentialLifetimePolicy, GraphApplication, GraphKeyCredential } from './graph.js';
import { badRequest, GraphFailure } from './graphFailure.js';
import type { AppManagementPolicies } from './graphPolicies.js';

/**
 * keyCredentials as Graph checks and shows them, for the Graph emulator (graph.ts keeps the routes):
 * - keyCredential: https://learn.microsoft.com/graph/api/resources/keycredential (`key` is returned
 *   only when a single application is read with `$select=keyCredentials`, null otherwise).
 * - the limits a write meets: the app-management policy refusal (CredentialInvalidLifetimeAsPerAppPolicy
 *   with an InvalidKeyEndDate detail) and Directory_ResourceSizeExceeded, as reported from the real
 *   service in microsoftgraph/microsoft-graph-docs#21469 and OfficeDev/microsoft-365-agents-toolkit#10998.
 */

const KEY_CREDENTIAL_FIELDS = ['customKeyIdentifier', 'displayName', 'endDateTime', 'key', 'keyId', 'startDateTime', 'type', 'usage'];

export const graphDate = (date: Date) => date.toISOString().replace(/\.\d+Z$/, 'Z');

/** Base64 of the SHA-1 thumbprint bytes, as Graph fills customKeyIdentifier for certificates. */
export function thumbprintId(der: Buffer): string {
  return createHash('sha1').update(der).digest('base64');
}

/** Validates one keyCredential as Graph does for a write; `existing` is the credential it keeps, if any. */
export function parseKeyCredential(input: unknown, index: number, existing: GraphKeyCredential | undefined): GraphKeyCredential {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw badRequest(`Invalid value for keyCredentials[${index}].`);
  const c = input as Record<string, unknown>;
  const unknown = Object.keys(c).filter((k) => !KEY_CREDENTIAL_FIELDS.includes(k) && !k.startsWith('@odata.'));
  if (unknown.length > 0) throw badRequest(`Property '${unknown[0]}' does not exist on type 'microsoft.graph.keyCredential'.`);
  // Graph never returns `key` from an ordinary read, and a write that omits it is refused: the
  // caller must resend every credential's key, which is why an adapter has to read with $select.
  if (typeof c.key !== 'string' || c.key === '')
    throw badRequest("Invalid value specified for property 'key' of resource 'KeyCredential'.");
  if (c.type !== 'AsymmetricX509Cert') throw badRequest("Invalid value specified for property 'type' of resource 'KeyCredential'.");
  if (c.usage !== 'Verify') throw badRequest("Invalid value specified for property 'usage' of resource 'KeyCredential'.");
  let der = Buffer.from(c.key, 'base64');
  // Some tools upload base64 of a PEM file; Graph accepts that too.
  const asText = der.toString('latin1');
  if (asText.includes('-----BEGIN CERTIFICATE-----')) der = Buffer.from(asText.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    throw badRequest('Key credential key is not a valid X.509 certificate.');
  }
  const date = (value: unknown, fallback: Date, name: string) => {
    if (value === undefined || value === null) return fallback;
    const parsed = typeof value === 'string' ? new Date(value) : new Date(NaN);
    if (Number.isNaN(parsed.getTime())) throw badRequest(`Invalid value specified for property '${name}' of resource 'KeyCredential'.`);
    return parsed;
  };
  const startDateTime = date(c.startDateTime, x509.validFromDate, 'startDateTime');
  const endDateTime = date(c.endDateTime, x509.validToDate, 'endDateTime');
  if (startDateTime.getTime() < x509.validFromDate.getTime())
    throw badRequest('Key credential start date is invalid: it is before the certificate becomes valid.');
  if (endDateTime.getTime() > x509.validToDate.getTime())
    throw badRequest('Key credential end date is invalid: it is after the certificate expires.');
  if (endDateTime.getTime() <= startDateTime.getTime())
    throw badRequest('Key credential end date is invalid: it is not after the start date.');
  let keyId = existing?.keyId ?? randomUUID();
  if (c.keyId !== undefined && c.keyId !== null) {
    if (typeof c.keyId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(c.keyId)) {
      throw badRequest("Invalid value specified for property 'keyId' of resource 'KeyCredential'.");
    }
    keyId = c.keyId.toLowerCase();
  }
  if (c.displayName !== undefined && c.displayName !== null && typeof c.displayName !== 'string') {
    throw badRequest("Invalid value specified for property 'displayName' of resource 'KeyCredential'.");
  }
  return {
    keyId,
    type: 'AsymmetricX509Cert',
    usage: 'Verify',
    key: der,
    displayName: typeof c.displayName === 'string' ? c.displayName : `CN=${x509.subject.replace(/^CN=/, '')}`,
    startDateTime,
    endDateTime,
    customKeyIdentifier: thumbprintId(der),
    addedAt: existing && existing.key.equals(der) ? existing.addedAt : new Date(),
  };
}

/** The collection a PATCH's `keyCredentials` would leave on `app`, each credential matched to the one it keeps by keyId. */
export function parseKeyCredentialPatch(app: GraphApplication, value: unknown): GraphKeyCredential[] {
  if (!Array.isArray(value)) throw badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.");
  const next = value.map((input, i) => {
    const keyId = typeof (input as { keyId?: unknown })?.keyId === 'string' ? (input as { keyId: string }).keyId.toLowerCase() : undefined;
    return parseKeyCredential(input, i, keyId ? app.keyCredentials.find((e) => e.keyId === keyId) : undefined);
  });
  const ids = new Set(next.map((c) => c.keyId));
  if (ids.size !== next.length) throw badRequest('Duplicate keyId values in keyCredentials.');
  return next;
}

export interface CredentialLimits {
  readonly policies: AppManagementPolicies;
  readonly credentialLifetimePolicy: CredentialLifetimePolicy | undefined;
  readonly maxKeyCredentials: number;
}

/** The tenant policy and the object size limit, checked on the collection a write would leave. */
export function checkCredentialLimits(app: GraphApplication, next: GraphKeyCredential[], limits: CredentialLimits): void {
  const { policies } = limits;
  const fresh = next.filter((c) => !app.keyCredentials.some((e) => e.keyId === c.keyId && e.key.equals(c.key))).map((c) => c.key);
  const untrusted = policies.trustedCertificateRefusal(app.id, app.createdDateTime, fresh);
  if (untrusted) throw new GraphFailure(400, untrusted.code, untrusted.message);
  const assigned = policies.maxLifetimeDays(app.id, app.createdDateTime);
  const policy =
    assigned === undefined
      ? limits.credentialLifetimePolicy
      : {
          maxLifetimeDays: Math.min(assigned, limits.credentialLifetimePolicy?.maxLifetimeDays ?? assigned),
          policyId: policies.assignedTo(app.id)[0]?.id ?? policies.tenant.id,
        };
  if (policy) {
    const policyId = policy.policyId ?? '00000000-0000-0000-0000-000000000000';
    // Credentials already on the app are grandfathered; only added ones are evaluated.
    const added = next.filter((c) => !app.keyCredentials.some((e) => e.keyId === c.keyId && e.key.equals(c.key)));
    const tooLong = added.find((c) => c.endDateTime.getTime() - c.startDateTime.getTime() > policy.maxLifetimeDays * 24 * 3600 * 1000);
    if (tooLong) {
      const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${policyId}'.`;
      throw new GraphFailure(400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, [
        { code: 'InvalidKeyEndDate', message, target: 'EndDate' },
      ]);
    }
  }
  if (next.length > limits.maxKeyCredentials) {
    throw new GraphFailure(
      400,
      'Directory_ResourceSizeExceeded',
      'The size of the object has exceeded its limit. Please reduce the number of values and retry your request.',
    );
  }
}

/** A certificate as an admin in the portal would add it, with no check at all (a test's seed). */
export function seededKeyCredential(
  der: Buffer,
  options: { keyId?: string; displayName?: string; startDateTime?: Date; endDateTime?: Date; addedAt?: Date },
): GraphKeyCredential {
  const x509 = new X509Certificate(der);
  return {
    keyId: options.keyId ?? randomUUID(),
    type: 'AsymmetricX509Cert',
    usage: 'Verify',
    key: Buffer.from(der),
    displayName: options.displayName ?? `CN=${x509.subject.replace(/^CN=/, '')}`,
    startDateTime: options.startDateTime ?? x509.validFromDate,
    endDateTime: options.endDateTime ?? x509.validToDate,
    customKeyIdentifier: thumbprintId(der),
    addedAt: options.addedAt ?? new Date(Date.now() - 24 * 3600 * 1000),
  };
}

/** A keyCredential as Graph answers it; `key` only when asked for a single application's keyCredentials. */
export function presentKeyCredential(c: GraphKeyCredential, withKey: boolean): Record<string, unknown> {
  return {
    customKeyIdentifier: c.customKeyIdentifier,
    displayName: c.displayName,
    endDateTime: graphDate(c.endDateTime),
    key: withKey ? c.key.toString('base64') : null,
    keyId: c.keyId,
    startDateTime: graphDate(c.startDateTime),
    type: c.type,
    usage: c.usage,
  };
}
