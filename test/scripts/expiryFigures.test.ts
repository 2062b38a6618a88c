import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AT_RISK_HORIZON_DAYS, expiryBannerLines, readExpiryFigures } from '../../scripts/sandbox/expiryFigures.js';
import { ApiHarness } from '../support/apiHarness.js';

const DAY = 86_400_000;
let api: ApiHarness;

beforeAll(async () => {
  api = await ApiHarness.start();
});
afterAll(() => api?.close());

/** An app through PUT /api/apps, then its certificate's expiry recorded `daysLeft` days from `now`. */
async function appExpiring(name: string, daysLeft: number | undefined, now: Date, config: Record<string, unknown> = {}): Promise<string> {
  const appId = randomUUID();
  api.directory.add(appId, name);
  const created = await api.call({ method: 'PUT', path: `/api/apps/${appId}`, body: config, token: await api.token('CertRotator.Admin') });
  expect(created.status, created.text).toBe(201);
  if (daysLeft !== undefined) {
    const app = (await api.store.getApp(appId))!;
    await api.store.updateApp(app, { state: { ...app.state, notAfter: new Date(now.getTime() + daysLeft * DAY).toISOString() } });
  }
  return appId;
}

describe("the sandbox banner's expiry figures", () => {
  it('lists, through GET /api/apps?expiringWithinDays, the enabled apps below half their window, nearest first, as the scheduler reckons them', async () => {
    const now = new Date();
    const ids = {
      // 30-day window (the default): 14 days left is below half, 16 is not.
      below: await appExpiring('Below half', 14, now),
      above: await appExpiring('Above half', 16, now),
      expired: await appExpiring('Expired', -1, now),
      // A 365-day window: 150 days left is below half, and inside the horizon the filter asks for.
      longWindow: await appExpiring('Long window', 150, now, { renewBeforeDays: 365, lifetimeDays: 730 }),
      disabled: await appExpiring('Disabled', 1, now, { enabled: false }),
      noCertificate: await appExpiring('No certificate', undefined, now),
    };
    const paths: string[] = [];
    const token = await api.token('CertRotator.Reader');
    const atRisk = await readExpiryFigures(async (pathAndQuery) => {
      paths.push(pathAndQuery);
      const answer = await api.call({ method: 'GET', path: `/api${pathAndQuery}&pageSize=2`, token });
      expect(answer.status, answer.text).toBe(200);
      return answer.json;
    }, now);

    expect(atRisk.map((a) => a.appId)).toEqual([ids.expired, ids.longWindow, ids.below]);
    expect(atRisk[2]).toEqual({
      appId: ids.below,
      displayName: 'Below half',
      daysLeft: 14,
      renewBeforeDays: 30,
      windowRemainingFraction: 0.466,
    });
    expect(atRisk[1]).toMatchObject({ daysLeft: 150, renewBeforeDays: 365, windowRemainingFraction: 0.41 });
    // Paged through the API's filter at the widest half window.
    expect(paths.length).toBeGreaterThan(1);
    expect(paths.every((p) => p.startsWith(`/apps?expiringWithinDays=${AT_RISK_HORIZON_DAYS}`))).toBe(true);

    const lines = expiryBannerLines(atRisk);
    expect(lines[0]).toBe(
      '  Expiry     3 managed certificates are closer to expiry than half the renewal window (the expiry-at-risk alert):',
    );
    expect(lines[3]).toBe(`             ${ids.below}  Below half: 14 of its 30-day window left (windowRemainingFraction 0.466)`);
    expect(expiryBannerLines([])).toEqual(['  Expiry     no managed certificate is closer to expiry than half its renewal window']);
  });
});
