import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setDefaultCACertificates, getCACertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ClientCertificateCredential } from '@azure/identity';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, readSandboxJson, SANDBOX_PORT_NAMES, type SandboxJson } from '../support/sandboxProcess.js';

/**
 * The sandbox as a user meets it: `npm run sandbox -- --reset` in a child process (its own process
 * group, as a terminal runs it), then HTTP only against the API, openssl on the downloads, and the
 * real MSAL and Azure Identity clients against the emulated authority. The sandbox runs on free
 * ports with its own data folder, so a developer's sandbox is left alone. Waits poll for what a
 * user would look for (a file, a field); the only bounds are generous give-up deadlines.
 *
 * Stopping is checked twice. First SIGINT goes to the sandbox's own pid alone: npm, sh and tsx
 * never see it, so only the sandbox's own shutdown can stop the host and Azurite (a signal to the
 * whole group would stop them by itself and prove nothing). Then, after a restart without
 * --reset that must find the state the run before it left (the restart test makes that state
 * itself, so it runs alone too), SIGINT goes to the whole group, as a terminal's Ctrl-C does.
 */

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

interface AppJson {
  state: { currentThumbprint?: string; keyId?: string; verifiedAt?: string; renewal?: { stage: string; trigger: string } };
}

let dir: string;
let env: NodeJS.ProcessEnv;
/** `npm run sandbox` of the run under test: the leader of its own process group. */
let sandbox: ChildProcess;
let output = '';
let info: SandboxJson;
/** Every pid either run recorded, and every group leader, for the last-resort kill in afterAll. */
const recordedPids = new Set<number>();
const groups = new Set<number>();

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { whileRunning?: boolean; timeoutMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 100_000);
  for (;;) {
    if ((options.whileRunning ?? true) && (sandbox.exitCode !== null || sandbox.signalCode !== null))
      throw new Error(`The sandbox exited while waiting for ${what}:\n${output}`);
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}; sandbox output:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function api(method: string, path: string, role: keyof SandboxJson['tokens'], body?: unknown): Promise<Response> {
  return fetch(`${info.apiBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${info.tokens[role]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function openssl(args: string[], env: Record<string, string> = {}): string {
  return execFileSync('openssl', args, { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** `npm run sandbox [-- --reset]` as a user starts it; resolves once sandbox.json names this run's pids. */
async function startSandbox(args: string[]): Promise<void> {
  const previous = readSandboxJson(dir)?.pids.sandbox;
  output = '';
  sandbox = spawn('npm', ['run', 'sandbox', ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: projectRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.add(sandbox.pid!);
  sandbox.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  sandbox.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  // A restart rewrites the file of the last run: wait for the one with this run's pid, and for the
  // banner, which the sandbox prints after writing the file (through npm's pipe, a little later).
  info = await waitFor('sandbox.json and the banner', () => {
    const json = readSandboxJson(dir);
    return json && json.pids.sandbox !== previous && output.includes('Ctrl-C stops it.') ? json : undefined;
  });
  for (const pid of Object.values(info.pids)) recordedPids.add(pid);
}

/** Waits until the sandbox, its host and Azurite, and everything else in its process group are gone. */
async function expectEverythingStopped(): Promise<void> {
  const group = sandbox.pid!;
  const left = () => [
    ...Object.entries(info.pids)
      .filter(([, pid]) => alive(pid))
      .map(([name, pid]) => `${name} (pid ${pid})`),
    ...(alive(-group) ? [`a process in group ${group}`] : []),
  ];
  await waitFor('every sandbox process to end', () => (left().length === 0 ? true : undefined), {
    whileRunning: false,
    timeoutMs: 30_000,
  }).catch((error: Error) => {
    throw new Error(`Still running: ${left().join(', ')}. ${error.message}`);
  });
  expect(left()).toEqual([]);
  expect(output).toContain('Sandbox stopped.');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecr-sandbox-e2e-'));
  const ports = await freePorts(SANDBOX_PORT_NAMES.length);
  // A clean environment, as in a user's shell: nothing of vitest's, nothing of the test CA.
  const shell = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(VITEST|NODE_OPTIONS$|NODE_EXTRA_CA_CERTS$|TEST$)/.test(name)),
  );
  env = {
    ...shell,
    ...Object.fromEntries(SANDBOX_PORT_NAMES.map((name, i) => [name, String(ports[i])])),
    SANDBOX_DIR: dir,
    // Due at once and a timer every 5 s, so the scheduled renewal comes within the test's minute.
    SANDBOX_DEMO_DUE_IN_SECONDS: '0',
    SANDBOX_RENEWAL_SCHEDULE: '*/5 * * * * *',
  };
  await startSandbox(['--reset']);
  // What a user does for their own clients of the emulators: trust the sandbox's CA, as
  // NODE_EXTRA_CA_CERTS would. In place of the test run's CA, which has the same name.
  setDefaultCACertificates([...getCACertificates('bundled'), readFileSync(info.caCertificate, 'utf8')]);
}, 120_000);

// Whatever failed, nothing the test started outlives it on the machine running it.
afterAll(() => {
  for (const target of [...[...groups].map((g) => -g), ...recordedPids]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run sandbox', () => {
  it('prints the banner with a curl line that works as pasted', () => {
    expect(output).toContain(`API        ${info.apiBaseUrl}`);
    const curl = /^\s+(curl .+)$/m.exec(output)![1]!;
    expect(curl).toContain(info.apiBaseUrl);
    const answer = execFileSync('sh', ['-c', curl], { cwd: projectRoot, encoding: 'utf8' });
    expect((JSON.parse(answer) as { items: { appId: string }[] }).items.map((a) => a.appId)).toEqual([info.apps.managed.appId]);
    // The safety net's figure, read through the API: the demo app has just entered its renewal window.
    expect(output).toContain('  Expiry     no managed certificate is closer to expiry than half its renewal window\n');
    expect(output).toContain(`curl -s "${info.apiBaseUrl}/apps?expiringWithinDays=183"`);
  });

  it('runs the quick start: config, certificate, downloads, sign-in, scheduled renewal, delete, stop', async () => {
    const appId = info.apps.unmanaged.appId;
    const before = (await (await api('GET', `/apps/${info.apps.managed.appId}`, 'Reader')).json()) as AppJson;
    expect(before.state.currentThumbprint).toBe(info.apps.managed.currentThumbprint);

    // 1. Manage the second app.
    const put = await api('PUT', `/apps/${appId}`, 'Admin', {
      lifetimeDays: 90,
      notifications: { enabled: true, recipients: ['reporting-team@contoso.example'] },
    });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await put.json()).toMatchObject({ appId, displayName: info.apps.unmanaged.displayName });

    // 2. Its first certificate, with the one-time PEM bundle: an Admin's (an Operator gets 403).
    expect((await api('POST', `/apps/${appId}/certificates?include=pem`, 'Operator')).status).toBe(403);
    const post = await api('POST', `/apps/${appId}/certificates?include=pem`, 'Admin');
    expect(post.status, await post.clone().text()).toBe(201);
    expect(post.headers.get('cache-control')).toBe('no-store');
    const generated = (await post.json()) as { thumbprint: string; thumbprintSha256: string; keyId: string; pem: { bundle: string } };
    const pem = generated.pem.bundle;
    expect(pem).toContain('-----BEGIN PRIVATE KEY-----');

    // 3. The downloads, checked by openssl.
    const cer = await api('GET', `/apps/${appId}/certificates/${generated.thumbprint}?format=cer`, 'Reader');
    expect(cer.status).toBe(200);
    const cerFile = join(dir, 'reporting.cer');
    writeFileSync(cerFile, Buffer.from(await cer.arrayBuffer()));
    const x509 = openssl(['x509', '-inform', 'DER', '-in', cerFile, '-noout', '-subject', '-fingerprint', '-sha1']);
    expect(x509).toMatch(/subject=CN\s*=\s*Contoso Reporting Worker/);
    expect(x509.replace(/:/g, '')).toContain(`Fingerprint=${generated.thumbprint}`);

    const pfx = await api('GET', `/apps/${appId}/certificates/${generated.thumbprint}?format=pfx`, 'Admin');
    expect(pfx.status).toBe(200);
    const { pfx: material } = (await pfx.json()) as { pfx: { base64: string; password: string } };
    const password = material.password;
    expect(password.length).toBeGreaterThanOrEqual(22);
    const pfxFile = join(dir, 'reporting.pfx');
    writeFileSync(pfxFile, Buffer.from(material.base64, 'base64'));
    const pfxPass = { PFX_PASS: password };
    const pfxCert = openssl(['pkcs12', '-in', pfxFile, '-passin', 'env:PFX_PASS', '-nokeys', '-clcerts'], pfxPass);
    const pfxKey = openssl(['pkcs12', '-in', pfxFile, '-passin', 'env:PFX_PASS', '-nocerts', '-nodes'], pfxPass);
    const keyFile = join(dir, 'reporting.key');
    writeFileSync(keyFile, pfxKey, { mode: 0o600 });
    const certFromPfx = join(dir, 'from-pfx.pem');
    writeFileSync(certFromPfx, pfxCert);
    expect(openssl(['x509', '-in', certFromPfx, '-noout', '-fingerprint', '-sha1']).replace(/:/g, '')).toContain(generated.thumbprint);
    // The key in the PFX is the certificate's key.
    expect(openssl(['pkey', '-in', keyFile, '-pubout'])).toBe(openssl(['x509', '-inform', 'DER', '-in', cerFile, '-noout', '-pubkey']));

    // 4. Entra knows the certificate: MSAL and Azure Identity sign in as the app with it.
    const msal = new ConfidentialClientApplication({
      auth: {
        clientId: appId,
        authority: `${info.emulators.authority}/${info.tenantId}`,
        knownAuthorities: [new URL(info.emulators.authority).host],
        clientCertificate: { thumbprintSha256: generated.thumbprintSha256, privateKey: pem },
      },
    });
    const msalToken = await msal.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
    expect(decodeJwt(msalToken!.accessToken)).toMatchObject({ appid: appId, tid: info.tenantId });
    const credential = new ClientCertificateCredential(
      info.tenantId,
      appId,
      { certificate: pem },
      { authorityHost: info.emulators.authority, disableInstanceDiscovery: true },
    );
    expect(decodeJwt((await credential.getToken(GRAPH_SCOPE)).token)).toMatchObject({ appid: appId });

    // 5. The scheduler renews the demo app by itself: new current certificate, verified, emailed, announced.
    const managedId = info.apps.managed.appId;
    const renewed = await waitFor('the scheduled renewal of the demo app', async () => {
      const app = (await (await api('GET', `/apps/${managedId}`, 'Reader')).json()) as AppJson;
      const s = app.state;
      return s.currentThumbprint !== before.state.currentThumbprint && s.renewal?.stage === 'completed' && s.verifiedAt ? s : undefined;
    });
    expect(renewed.renewal?.trigger).toBe('scheduled');
    const email = await waitFor('the renewal email', () =>
      readdirSync(info.outbox)
        .map((f) => readFileSync(join(info.outbox, f), 'utf8'))
        .find((eml) => eml.includes('Contoso Payments API') && eml.includes('platform-team@contoso.example')),
    );
    expect(email).toMatch(/^Subject: .*renewed/im);
    const decodedBodies = [...email.matchAll(/\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/g)].map((m) =>
      Buffer.from(m[1]!.replace(/\s/g, ''), 'base64').toString('utf8'),
    );
    expect(decodedBodies.join('\n')).toContain(renewed.currentThumbprint);
    const events = readFileSync(info.events, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; source: string; data: { thumbprint: string } });
    const renewedEvent = events.find((e) => e.type === 'EntraCertRotator.CertificateRenewed');
    expect(renewedEvent?.source).toBe(`/entra-cert-rotator/apps/${managedId}`);
    expect(renewedEvent?.data.thumbprint).toBe(renewed.currentThumbprint);
    expect(readFileSync(info.events, 'utf8')).not.toMatch(/PRIVATE KEY/);

    // 6. An admin deletes the demo app's old certificate, which the renewal left valid.
    const removed = await api('DELETE', `/apps/${managedId}/certificates/${before.state.keyId}`, 'Admin');
    expect(removed.status, await removed.clone().text()).toBe(200);
    const list = (await (await api('GET', `/apps/${managedId}/certificates`, 'Reader')).json()) as {
      items: { keyId: string; thumbprint: string }[];
    };
    expect(list.items.map((c) => c.thumbprint)).toEqual([renewed.currentThumbprint]);

    // 7. Stop: SIGINT to the sandbox's pid alone, so its own shutdown must stop the host and Azurite.
    process.kill(info.pids.sandbox, 'SIGINT');
    await expectEverythingStopped();
    expect(existsSync(join(dir, 'state', 'graph.json'))).toBe(true);
  }, 120_000);

  it("keeps its state across a restart without --reset, and a terminal's Ctrl-C stops it", async () => {
    // Its own state, whichever tests ran before: a running sandbox (the one beforeAll started, or,
    // after the quick start stopped that one, the same data folder started again), the second demo
    // app managed, and a certificate deployed on it now.
    if (sandbox.exitCode !== null || sandbox.signalCode !== null) await startSandbox([]);
    const appId = info.apps.unmanaged.appId;
    const put = await api('PUT', `/apps/${appId}`, 'Admin', { lifetimeDays: 90 });
    expect([200, 201], await put.clone().text()).toContain(put.status);
    const post = await api('POST', `/apps/${appId}/certificates`, 'Operator');
    expect(post.status, await post.clone().text()).toBe(201);
    const { thumbprint } = (await post.json()) as { thumbprint: string };
    process.kill(info.pids.sandbox, 'SIGINT');
    await expectEverythingStopped();

    await startSandbox([]);
    expect(output).toContain('state kept from the last run');

    const app = await api('GET', `/apps/${appId}`, 'Reader');
    expect(app.status, await app.clone().text()).toBe(200);
    expect(((await app.json()) as AppJson).state.currentThumbprint).toBe(thumbprint);
    const certificates = await api('GET', `/apps/${appId}/certificates`, 'Reader');
    expect(certificates.status).toBe(200);
    const items = ((await certificates.json()) as { items: { thumbprint: string; status: string }[] }).items;
    expect(items).toContainEqual(expect.objectContaining({ thumbprint, status: 'current' }));

    // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    process.kill(-sandbox.pid!, 'SIGINT');
    await expectEverythingStopped();
  }, 120_000);
});
