import { certificateExpiry, type CertificateExpiry } from '../../src/lib/renewal/decide/certificateExpiry.js';

/**
 * renewBeforeDays is at most 365, so every app closer to expiry than half its renewal window
 * expires within 183 days: the API's filter at this horizon lists them all, with others the
 * per-app window then sorts out.
 */
export const AT_RISK_HORIZON_DAYS = 183;

interface ListedApp {
  readonly appId: string;
  readonly displayName: string;
  readonly config: { readonly enabled: boolean; readonly renewBeforeDays: number };
  readonly state: { readonly notAfter?: string };
}

export type AtRiskApp = { readonly appId: string; readonly displayName: string } & Omit<CertificateExpiry, 'outcome'>;

/**
 * The safety net's figures as the scheduler logs them (decide/certificateExpiry.ts), read through
 * GET /api/apps?expiringWithinDays=N: the enabled apps closer to expiry than half their window,
 * nearest first. `get` answers a path and query under the API's base with the parsed JSON body.
 */
export async function readExpiryFigures(get: (pathAndQuery: string) => Promise<unknown>, now = new Date()): Promise<AtRiskApp[]> {
  const atRisk: AtRiskApp[] = [];
  let continuationToken: string | undefined;
  do {
    const query = new URLSearchParams({ expiringWithinDays: String(AT_RISK_HORIZON_DAYS) });
    if (continuationToken !== undefined) query.set('continuationToken', continuationToken);
    const page = (await get(`/apps?${query.toString()}`)) as { items: ListedApp[]; continuationToken?: string };
    for (const { appId, displayName, config, state } of page.items) {
      const expiry = certificateExpiry({
        enabled: config.enabled,
        notAfter: state.notAfter === undefined ? undefined : new Date(state.notAfter),
        renewBeforeDays: config.renewBeforeDays,
        now,
      });
      if (expiry?.outcome !== 'at-risk') continue;
      const { outcome: _outcome, ...figures } = expiry;
      atRisk.push({ appId, displayName, ...figures });
    }
    continuationToken = page.continuationToken;
  } while (continuationToken !== undefined);
  return atRisk.sort((a, b) => a.windowRemainingFraction - b.windowRemainingFraction);
}

/** The banner's lines for those figures. */
export function expiryBannerLines(atRisk: readonly AtRiskApp[]): string[] {
  if (atRisk.length === 0) return ['  Expiry     no managed certificate is closer to expiry than half its renewal window'];
  return [
    `  Expiry     ${atRisk.length} managed certificate${atRisk.length === 1 ? ' is' : 's are'} closer to expiry than half the renewal window (the expiry-at-risk alert):`,
    ...atRisk.map(
      (a) =>
        `             ${a.appId}  ${a.displayName}: ${a.daysLeft} of its ${a.renewBeforeDays}-day window left (windowRemainingFraction ${a.windowRemainingFraction})`,
    ),
  ];
}
