import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findAppRoot } from '../../../tools/local-host/hostSettings.js';

describe('findAppRoot', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'ecr-app-root-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds the project root from the host’s source and from its compiled copy in dist-tools/', () => {
    const project = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
    expect(findAppRoot(join(project, 'tools', 'local-host'))).toBe(project);
    // Compiled: dist-tools/tools/local-host/ sits three levels down, and dist-tools/ has no host.json.
    expect(findAppRoot(join(project, 'dist-tools', 'tools', 'local-host'))).toBe(project);
  });

  it('takes the nearest host.json, and says what to set when there is none', () => {
    mkdirSync(join(scratch, 'app', 'deep', 'er'), { recursive: true });
    writeFileSync(join(scratch, 'app', 'host.json'), '{}');
    expect(findAppRoot(join(scratch, 'app', 'deep', 'er'))).toBe(join(scratch, 'app'));
    expect(() => findAppRoot('/')).toThrow(/FUNCTIONS_APP_ROOT/);
  });
});
