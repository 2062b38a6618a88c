import { describe, expect, it } from 'vitest';
import type { RenewalStateInput } from '../../../../src/lib/domain/appConfig.js';
import type { RenewalMessage } from '../../../../src/lib/domain/ports.js';
import { deliveryAlreadyAnswered } from '../../../../src/lib/renewal/decide/deliveryAlreadyAnswered.js';
import { FIXTURE_APP_ID, storedAppFixture } from '../../../support/storedAppFixture.js';

const DAY = 24 * 3600_000;
const NOW = new Date('2026-11-22T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();

/** A certificate issued 100 days ago for 365: the ordinary rules make it due in 235 days. */
const certified = { currentThumbprint: 'AA'.repeat(20), keyId: 'key-1', notBefore: at(-100 * DAY), notAfter: at(265 * DAY) };
const dueSoon = { ...certified, notAfter: at(10 * DAY) };
const deployed = (id: string, deployedAt: string) => ({ id, trigger: 'manual', stage: 'deployed', deployedAt }) as const;

describe('deliveryAlreadyAnswered', () => {
  it.each<[string, { config?: Record<string, unknown>; state: RenewalStateInput }, Partial<RenewalMessage>, string | undefined]>([
    [
      'a late redelivery after a newer renewal deployed: superseded',
      { state: { ...certified, renewal: deployed('newer', at(-DAY)), deployAttempts: ['mine', 'newer'] } },
      { renewalId: 'mine', trigger: 'manual' },
      'superseded by a newer renewal',
    ],
    [
      'the recorded renewal is older than this one: go on',
      { state: { ...certified, renewal: deployed('older', at(-DAY)), deployAttempts: ['older', 'mine'] } },
      { renewalId: 'mine', trigger: 'manual' },
      undefined,
    ],
    [
      'this renewal recorded its deployment: a repeat finishes it, due or not',
      { state: { ...certified, renewal: deployed('mine', at(-60_000)), deployAttempts: ['mine'] } },
      { renewalId: 'mine', trigger: 'scheduled' },
      undefined,
    ],
    ['scheduled, and still due', { state: dueSoon }, { trigger: 'scheduled' }, undefined],
    [
      'scheduled, no longer due (a manual renewal answered it)',
      { state: certified },
      { trigger: 'scheduled' },
      'no longer due (renewal is due at',
    ],
    [
      'scheduled, the app was disabled since',
      { config: { enabled: false }, state: dueSoon },
      { trigger: 'scheduled' },
      'no longer due (certificate management is off',
    ],
    [
      'drift, the app was disabled since',
      { config: { enabled: false }, state: certified },
      { trigger: 'drift' },
      'certificate management is off',
    ],
    [
      'bootstrap, the app was disabled since',
      { config: { enabled: false, bootstrap: true }, state: {} },
      { trigger: 'bootstrap' },
      'certificate management is off',
    ],
    ['manual on a disabled app: the admin asked', { config: { enabled: false }, state: certified }, { trigger: 'manual' }, undefined],
    ['bootstrap, no certificate yet', { config: { bootstrap: true }, state: {} }, { trigger: 'bootstrap' }, undefined],
    [
      'bootstrap, a manual generation made the first certificate',
      { config: { bootstrap: true }, state: certified },
      { trigger: 'bootstrap' },
      'the app has its first certificate already',
    ],
    [
      'drift seen before a renewal deployed: that renewal replaced it',
      { state: { ...certified, renewal: deployed('other', at(-60_000)) } },
      { trigger: 'drift', requestedAt: at(-DAY) },
      'replaced the drifted certificate',
    ],
    [
      'drift seen after the last renewal deployed: go on',
      { state: { ...certified, renewal: deployed('other', at(-DAY)) } },
      { trigger: 'drift', requestedAt: at(-60_000) },
      undefined,
    ],
    [
      'a rotation asked for before another renewal deployed: that renewal answers it',
      { state: { ...certified, renewal: deployed('scheduled-one', at(-60_000)) } },
      { trigger: 'rotation', rotationId: 'r', requestedAt: at(-DAY) },
      'answers it',
    ],
    [
      'a rotation asked for after the last renewal deployed: go on',
      { state: { ...certified, renewal: deployed('older', at(-DAY)) } },
      { trigger: 'rotation', rotationId: 'r', requestedAt: at(-60_000) },
      undefined,
    ],
    [
      'a rotation whose answering renewal failed since: go on (the rotation still needs its certificate)',
      { state: { ...certified, renewal: { ...deployed('scheduled-one', at(-60_000)), stage: 'failed' } } },
      { trigger: 'rotation', rotationId: 'r', requestedAt: at(-DAY) },
      undefined,
    ],
    [
      "a rotation's own renewal, deployed and redelivered: finish what it began",
      { state: { ...certified, renewal: deployed('mine', at(-60_000)) } },
      { trigger: 'rotation', rotationId: 'r', requestedAt: at(-DAY) },
      undefined,
    ],
    [
      'a rotation on an app whose management is off: the admin asked for it, go on',
      { config: { enabled: false }, state: { ...certified } },
      { trigger: 'rotation', rotationId: 'r', requestedAt: at(-DAY) },
      undefined,
    ],
  ])('%s', (_name, app, message, answered) => {
    const full: RenewalMessage = { appId: FIXTURE_APP_ID, renewalId: 'mine', stage: 'deploy', trigger: 'manual', ...message };
    const result = deliveryAlreadyAnswered(storedAppFixture(app), full, NOW);
    if (answered === undefined) expect(result).toBeUndefined();
    else expect(result).toContain(answered);
  });
});
