import type { StoredApp } from '../../domain/storedApp.js';
import type { PolicyState } from './renewalPolicy.js';
import { failedUnverified } from './schedule.js';

/** The slice of an app's recorded state the renewal policies read. */
export function policyStateOf(app: StoredApp): PolicyState {
  const state = app.state;
  if (state.currentThumbprint === undefined || state.notAfter === undefined || state.notBefore === undefined) return {};
  return {
    current: {
      thumbprint: state.currentThumbprint,
      keyId: state.keyId ?? '',
      notBefore: new Date(state.notBefore),
      notAfter: new Date(state.notAfter),
      keySize: state.keySize ?? app.config.keySize,
      keyVaultVersion: state.keyVaultVersion,
      failedUnverified: failedUnverified(state),
    },
  };
}
