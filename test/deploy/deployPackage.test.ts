import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFunctionsCore, registeredFunctions } from '../../tools/local-host/functionsCore.js';
import { sandboxEnvironment, startSandboxProcess, type SandboxProcess } from '../support/sandboxProcess.js';

/**
 * The package azd ships (scripts/package-function.sh) is complete: built into a folder outside the
 * repository, so that nothing in it can resolve the repository's node_modules, then run by the
 * sandbox (SANDBOX_APP) with the package's own dist/, host.json and production node_modules. Every
 * function src/index.ts registers must register from it, and one invocation of each trigger kind
 * must succeed against Azurite and the emulators: an authenticated API call, and the scheduler's
 * tick whose renewal request the queue worker carries to a renewed, announced certificate. A
 * dependency or a file the package lacks fails one of them.
 */

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface LockEntry {
  readonly dev?: boolean;
}

interface AppJson {
  state: { currentThumbprint?: string; verifiedAt?: string; renewal?: { stage: string; trigger: string } };
}

let work: string;
let pkg: string;
let sandbox: SandboxProcess | undefined;

function filesUnder(dir: string, skip: (path: string) => boolean = () => false): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .filter((path) => !skip(path));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (sandbox!.child.exitCode !== null) throw new Error(`The sandbox exited while waiting for ${what}:\n${sandbox!.output()}`);
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}; sandbox output:\n${sandbox!.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function api(method: string, path: string, role: 'Reader' | 'Admin', body?: unknown): Promise<Response> {
  return fetch(`${sandbox!.info.apiBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${sandbox!.info.tokens[role]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ecr-deploy-package-'));
  pkg = join(work, 'package');
  const env = await sandboxEnvironment(join(work, 'sandbox'), {
    SANDBOX_APP: pkg,
    // Due at once and a timer every 5 s: the scheduled renewal comes within seconds of the start.
    SANDBOX_DEMO_DUE_IN_SECONDS: '0',
    SANDBOX_RENEWAL_SCHEDULE: '*/5 * * * * *',
    // An app setting the sandbox passes through: the confirm stage's wait (default 30 s) shortened.
    CONFIRM_DELAY_SECONDS: '1',
  });
  // The lock file carries no tarball URLs (omit-lockfile-registry-resolved), so npm ci asks the
  // registry about every package unless told to use the cache the project's own install filled.
  await promisify(execFile)(join(projectRoot, 'scripts', 'package-function.sh'), [pkg], {
    env: { ...env, npm_config_prefer_offline: 'true' },
    cwd: projectRoot,
  });
  sandbox = await startSandboxProcess(join(work, 'sandbox'), env);
}, 240_000);

afterAll(() => {
  sandbox?.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the deploy package (scripts/package-function.sh)', () => {
  it('sits where no node_modules above it can lend it a module', () => {
    // Node resolves a bare specifier through every node_modules above the importing file.
    for (let dir = dirname(pkg); dirname(dir) !== dir; dir = dirname(dir)) expect(existsSync(join(dir, 'node_modules')), dir).toBe(false);
    expect(existsSync('/node_modules')).toBe(false);
    expect(process.env.NODE_PATH ?? '').toBe('');
  });

  it('holds the compiled app, host.json and production dependencies only', () => {
    expect(readdirSync(pkg).sort()).toEqual(['dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json']);
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.devDependencies).toBeUndefined();
    expect(manifest.scripts).toBeUndefined();
    // What the Functions host reads: an ES module app whose main is the compiled entry point.
    expect(manifest).toMatchObject({ type: 'module', main: 'dist/index.js' });
    expect(existsSync(join(pkg, 'dist', 'index.js'))).toBe(true);
    const { dependencies } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies).toEqual(dependencies);
    for (const name of Object.keys(dependencies)) expect(existsSync(join(pkg, 'node_modules', name)), name).toBe(true);

    const app = filesUnder(pkg, (path) => path.startsWith('node_modules/'));
    expect(app.filter((path) => /\.[cm]?ts$|(^|\/)test\/|\.test\.|\.spec\./.test(path))).toEqual([]);
    expect(app.filter((path) => !/^dist\/.+\.js(\.map)?$/.test(path) && !path.startsWith('dist/web/')).sort()).toEqual([
      'host.json',
      'package-lock.json',
      'package.json',
    ]);
    // The dashboard's bundle (vite build): its entry page and hashed assets (scripts, styles, the
    // icon), no source and no source map.
    const web = app.filter((path) => path.startsWith('dist/web/'));
    expect(web).toContain('dist/web/index.html');
    expect(
      web.filter((path) => path !== 'dist/web/index.html' && !/^dist\/web\/assets\/[\w-]+-[\w-]{8}\.(js|css|svg)$/.test(path)),
    ).toEqual([]);
    // Every source module compiled, so a lazily imported handler is there when first called.
    const sources = filesUnder(join(projectRoot, 'src')).filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'));
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((path) => !app.includes(`dist/${path.replace(/\.ts$/, '.js')}`))).toEqual([]);

    // What only devDependencies need is absent. A devDependency may still be there when production
    // needs it too (the lock file says which, e.g. @azure/msal-node under @azure/identity).
    const lock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.dev === true)
      .map(([path]) => path);
    expect(devOnly).toContain('node_modules/vitest');
    expect(devOnly.filter((path) => existsSync(join(pkg, path)))).toEqual([]);
    const { devDependencies } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const name of Object.keys(devDependencies)) {
      if (existsSync(join(pkg, 'node_modules', name))) expect(lock.packages[`node_modules/${name}`]?.dev, name).toBeUndefined();
    }
    expect(existsSync(join(pkg, 'node_modules', 'typescript'))).toBe(false);
  });

  it('is what the host runs: every function src/index.ts registers registers from the package', async () => {
    expect(sandbox!.output()).toContain(`App        ${join(pkg, 'dist', 'index.js')} (SANDBOX_APP)`);
    // The expected list from the sources themselves, registered through the host's own stand-in.
    installFunctionsCore({ log: () => {} });
    await import('../../src/index.js');
    const expected = registeredFunctions().map((fn) => `${fn.name} ${fn.trigger.type}`);
    expect(expected.length).toBeGreaterThan(0);

    // The host's listing: `  name: [METHODS] url`, `  name: timer schedule`, `  name: queueTrigger queue`.
    const listed = [...sandbox!.output().matchAll(/^host \| {3}(\w+): (\[|timer |\w+ )/gm)].map(
      ([, name, kind]) => `${name} ${kind === '[' ? 'httpTrigger' : kind === 'timer ' ? 'timerTrigger' : kind!.trim()}`,
    );
    expect(listed.sort()).toEqual(expected.sort());
  });

  it('answers an authenticated API call', async () => {
    const { appId, displayName } = sandbox!.info.apps.unmanaged;
    const put = await api('PUT', `/apps/${appId}`, 'Admin', {
      lifetimeDays: 90,
      notifications: { enabled: true, recipients: ['reporting-team@contoso.example'] },
    });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await put.json()).toMatchObject({ appId, displayName });
    const list = await api('GET', '/apps', 'Reader');
    expect(list.status).toBe(200);
    expect(((await list.json()) as { items: { appId: string }[] }).items.map((a) => a.appId)).toContain(appId);
  });

  it('serves the dashboard from the package: its entry page, whose assets are there too', async () => {
    const page = await fetch(`${sandbox!.info.apiBaseUrl}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const assets = [...(await page.text()).matchAll(/(?:src|href)="(\/api\/ui\/assets\/[^"]+)"/g)].map(([, path]) => path!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) expect((await fetch(new URL(asset, sandbox!.info.apiBaseUrl))).status, asset).toBe(200);
  });

  it('runs the scheduler on its timer and the worker on its queue: the due app is renewed, emailed and announced', async () => {
    const { appId, displayName, currentThumbprint } = sandbox!.info.apps.managed;
    const renewed = await waitFor('the scheduled renewal of the demo app', async () => {
      const { state } = (await (await api('GET', `/apps/${appId}`, 'Reader')).json()) as AppJson;
      return state.currentThumbprint !== currentThumbprint && state.renewal?.stage === 'completed' ? state : undefined;
    });
    // `scheduled`: requested by the timer; `completed`: carried through by the queue worker.
    expect(renewed.renewal?.trigger).toBe('scheduled');
    const { outbox, events } = sandbox!.info;
    await waitFor('the renewal email', () =>
      existsSync(outbox)
        ? readdirSync(outbox)
            .map((file) => readFileSync(join(outbox, file), 'utf8'))
            .find((eml) => /^Subject: .*renewed/im.test(eml) && eml.includes(displayName))
        : undefined,
    );
    const event = await waitFor('the CertificateRenewed event', () =>
      existsSync(events)
        ? readFileSync(events, 'utf8')
            .trim()
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as { type: string; data: { thumbprint: string } })
            .find((e) => e.type === 'EntraCertRotator.CertificateRenewed')
        : undefined,
    );
    expect(event.data.thumbprint).toBe(renewed.currentThumbprint);
  }, 150_000);
});
