import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory holding emulator-ca.pem, emulator-cert.pem, emulator-key.pem. */
    emulatorTlsDir: string;
  }
}

/**
 * Vitest globalSetup: creates the emulators' TLS material once per run and trusts its CA in every
 * test worker through NODE_EXTRA_CA_CERTS, which Node reads only at process start; the workers are
 * forked after this runs and inherit the variable.
 */
export default function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'ecr-tls-'));
  const tls = loadOrCreateEmulatorTls(dir);
  process.env.NODE_EXTRA_CA_CERTS = tls.caPath;
  project.provide('emulatorTlsDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
