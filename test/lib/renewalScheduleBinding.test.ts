import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RENEWAL_SCHEDULE, renewalScheduleBinding } from '../../src/lib/renewalScheduleBinding.js';

describe('renewalScheduleBinding', () => {
  const saved = process.env.RENEWAL_SCHEDULE;
  afterEach(() => {
    if (saved === undefined) delete process.env.RENEWAL_SCHEDULE;
    else process.env.RENEWAL_SCHEDULE = saved;
  });

  it('names the app setting when it is set, so the host resolves it', () => {
    process.env.RENEWAL_SCHEDULE = '0 */5 * * * *';
    expect(renewalScheduleBinding(process.env)).toBe('%RENEWAL_SCHEDULE%');
  });

  it('binds the documented default when the setting is absent or empty (it is optional)', () => {
    delete process.env.RENEWAL_SCHEDULE;
    expect(renewalScheduleBinding(process.env)).toBe(DEFAULT_RENEWAL_SCHEDULE);
    process.env.RENEWAL_SCHEDULE = ' ';
    expect(renewalScheduleBinding(process.env)).toBe('0 */15 * * * *');
  });
});
