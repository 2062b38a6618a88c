import { describe, expect, it } from 'vitest';
import type { PolicyFacts, PolicyOfApp } from '../../../../src/lib/domain/appManagementPolicy.js';
import {
  durationDays,
  NEAR_SIZE_LIMIT_CERTIFICATES,
  NEAR_SIZE_LIMIT_ITEMS,
  preflightAppManagementPolicies,
  refusalText,
} from '../../../../src/lib/renewal/decide/appManagementPolicy.js';

/** The preflight against app management policies (issue 19.5), as a table. */

const CREATED = new Date('2026-06-01T00:00:00Z');
const policy = (keyCredentials: PolicyOfApp['keyCredentials'], extra: Partial<PolicyOfApp> = {}): PolicyOfApp => ({
  id: 'p-1',
  displayName: 'Certificates at most 90 days',
  isEnabled: true,
  keyCredentials,
  ...extra,
});
const cap = (maxLifetime: string, after?: string) => ({
  restrictionType: 'asymmetricKeyLifetime',
  maxLifetime,
  restrictForAppsCreatedAfterDateTime: after ?? null,
});
const trustedCa = { restrictionType: 'trustedCertificateAuthority' };
const facts = (over: Partial<PolicyFacts>): PolicyFacts => ({
  tenant: undefined,
  app: [],
  appCreatedAt: CREATED,
  keyCredentialCount: 2,
  collectionItems: 6,
  ...over,
});

describe('preflightAppManagementPolicies', () => {
  it.each<[string, number, PolicyFacts, string | undefined]>([
    ['no policy', 365, facts({}), undefined],
    ['a tenant cap it is under', 90, facts({ tenant: policy([cap('P90D')]) }), undefined],
    ['a tenant cap it exceeds', 365, facts({ tenant: policy([cap('P90D')]) }), 'lifetime 90'],
    ['a tenant cap in years', 400, facts({ tenant: policy([cap('P1Y')]) }), 'lifetime 365'],
    ['a tenant cap in hours', 100, facts({ tenant: policy([cap('PT2160H')]) }), 'lifetime 90'],
    ['a disabled tenant policy', 365, facts({ tenant: policy([cap('P90D')], { isEnabled: false }) }), undefined],
    ['a disabled restriction', 365, facts({ tenant: policy([{ ...cap('P90D'), state: 'disabled' }]) }), undefined],
    ['a cap for apps created after this one', 365, facts({ tenant: policy([cap('P90D', '2026-09-01T00:00:00Z')]) }), undefined],
    ['a cap for apps created before this one', 365, facts({ tenant: policy([cap('P90D', '2026-01-01T00:00:00Z')]) }), 'lifetime 90'],
    [
      "the app's own policy replaces the tenant's",
      365,
      facts({ tenant: policy([cap('P90D')]), app: [policy([cap('P2Y')], { id: 'own' })] }),
      undefined,
    ],
    ["the app's own cap refuses", 365, facts({ app: [policy([cap('P180D')], { id: 'own' })] }), 'lifetime 180'],
    ['a trusted-CA rule', 30, facts({ tenant: policy([trustedCa]) }), 'trusted-ca'],
    ['a trusted-CA rule before a cap', 365, facts({ tenant: policy([cap('P90D'), trustedCa]) }), 'trusted-ca'],
    ['a disabled trusted-CA rule', 30, facts({ tenant: policy([{ ...trustedCa, state: 'disabled' }]) }), undefined],
    [
      "a trusted-CA rule of the tenant, replaced by the app's own policy",
      30,
      facts({ tenant: policy([trustedCa]), app: [policy([])] }),
      undefined,
    ],
    [
      "a disabled app policy leaves the tenant's in force",
      365,
      facts({ tenant: policy([cap('P90D')]), app: [policy([], { isEnabled: false })] }),
      'lifetime 90',
    ],
    [
      'of two caps, the smaller is named',
      365,
      facts({ app: [policy([cap('P180D')]), policy([cap('P90D')], { id: 'p-2' })] }),
      'lifetime 90',
    ],
    ['a lifetime equal to the cap', 90, facts({ tenant: policy([cap('P90D')]) }), undefined],
    ['a cap of fractional days, below the lifetime', 90, facts({ tenant: policy([cap('PT2159H')]) }), 'lifetime 89'],
    [
      'an app whose creation time is unknown is bound',
      365,
      facts({ appCreatedAt: undefined, tenant: policy([cap('P90D', '2026-09-01T00:00:00Z')]) }),
      'lifetime 90',
    ],
    ['a restriction the rotator does not know', 365, facts({ tenant: policy([{ restrictionType: 'unknownFutureValue' }]) }), undefined],
  ])('%s', (_name, lifetimeDays, given, expected) => {
    const { refusal } = preflightAppManagementPolicies({ lifetimeDays }, given);
    const got = refusal === undefined ? undefined : refusal.kind === 'lifetime' ? `lifetime ${refusal.maxLifetimeDays}` : refusal.kind;
    expect(got).toBe(expected);
  });

  it('names the policy and what to do', () => {
    const { refusal } = preflightAppManagementPolicies({ lifetimeDays: 365 }, facts({ tenant: policy([cap('P90D')]) }));
    expect(refusalText(refusal!, 365)).toBe(
      'the tenant\'s default app management policy "Certificates at most 90 days" (p-1) allows certificates valid at most 90 days, and lifetimeDays is 365: set lifetimeDays to 90 or less, or ask an administrator to exempt the app',
    );
  });

  it('warns near the object size limit, and about a cap it cannot read', () => {
    expect(
      preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ keyCredentialCount: NEAR_SIZE_LIMIT_CERTIFICATES - 1 })).warnings,
    ).toEqual([]);
    expect(
      preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ keyCredentialCount: NEAR_SIZE_LIMIT_CERTIFICATES })).warnings[0],
    ).toMatch(/holds 15 certificates, which weigh on Entra's object size limit \(Directory_ResourceSizeExceeded\)/);
    expect(preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ tenant: policy([cap('P1M2X')]) })).warnings[0]).toMatch(
      /cannot read/,
    );
    expect(preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ collectionItems: NEAR_SIZE_LIMIT_ITEMS - 1 })).warnings).toEqual(
      [],
    );
    expect(preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ collectionItems: NEAR_SIZE_LIMIT_ITEMS })).warnings).toEqual([
      expect.stringMatching(/holds 900 items across its collection properties, near Entra's limit of about 1,000/),
    ]);
  });

  it('warns about an enabled restriction it does not know, naming it, and not about a disabled one', () => {
    const unknown = { restrictionType: 'unknownFutureValue' };
    expect(preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ tenant: policy([unknown]) })).warnings).toEqual([
      expect.stringMatching(/"Certificates at most 90 days" \(p-1\) has a certificate restriction of type unknownFutureValue/),
    ]);
    expect(
      preflightAppManagementPolicies({ lifetimeDays: 30 }, facts({ tenant: policy([{ ...unknown, state: 'disabled' }]) })).warnings,
    ).toEqual([]);
  });

  it.each([
    ['P90D', 90],
    ['P1Y', 365],
    ['P2W', 14],
    ['PT36H', 1.5],
    ['P1Y2M3D', 428],
  ])('reads the duration %s as %d days', (iso, days) => {
    expect(durationDays(iso)).toBe(days);
  });
});
