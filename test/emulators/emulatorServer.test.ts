import { Agent, request } from 'node:https';
import { describe, expect, inject, it } from 'vitest';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { EmulatorServer } from './emulatorServer.js';
import { loadOrCreateEmulatorTls } from './tls.js';

describe('EmulatorServer connections', () => {
  it('keeps idle connections open, so a keep-alive client pays one TLS handshake for many requests', async () => {
    const server = new EmulatorServer('keep-alive', loadOrCreateEmulatorTls(inject('emulatorTlsDir')));
    server.route('POST', '/echo', 'echo', () => ({ status: 200, body: { ok: true } }));
    await server.start();
    const agent = new Agent({ keepAlive: true });
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = request(`${server.url}/echo`, { method: 'POST', agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end('{}');
        });
        // A pause between calls, as between a renewal's requests: Node's agent keeps a socket only
        // as long as the server's Keep-Alive hint allows, less a second.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(server.count('echo')).toBe(3);
      expect(server.connections()).toBe(1);
    } finally {
      agent.destroy();
      await server.close();
    }
  });
});

describe('EmulatorServer faults', () => {
  async function post(url: string): Promise<number> {
    const response = await fetch(url, { method: 'POST', body: '{}' });
    await response.arrayBuffer();
    return response.status;
  }

  it('refuses to inject on a route name it does not have, naming the ones it has', () => {
    const server = new EmulatorServer('faults');
    server.route('POST', '/echo', 'echo', () => ({ status: 200 }));
    expect(() => server.inject('ehco', { status: 503 })).toThrow(/no route 'ehco'.*echo/);
    expect(() => server.inject('echo', { status: 503 })).not.toThrow();
    expect(() => server.inject('*', { status: 503 })).not.toThrow();
  });

  it('counts the faults it served, per handle and per route, then serves normally', async () => {
    const server = new EmulatorServer('faults');
    server.route('POST', '/echo', 'echo', () => ({ status: 200 }));
    server.route('POST', '/other', 'other', () => ({ status: 200 }));
    await server.start();
    try {
      const fault = server.inject('echo', { status: 503, times: 2 });
      expect(fault.served).toBe(0);
      expect(await post(`${server.url}/other`)).toBe(200);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push(await post(`${server.url}/echo`));
      expect(statuses).toEqual([503, 503, 200]);
      expect(fault.served).toBe(2);
      expect(server.faultsServed('echo')).toBe(2);
      expect(server.faultsServed('other')).toBe(0);

      const everywhere = server.inject('*', { status: 500, times: 2 });
      expect([await post(`${server.url}/echo`), await post(`${server.url}/other`), await post(`${server.url}/other`)]).toEqual([
        500, 500, 200,
      ]);
      expect(everywhere.served).toBe(2);
      expect(server.faultsServed('other')).toBe(1);
      expect(server.faultsServed()).toBe(4);
      server.resetCounters();
      expect(server.faultsServed()).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('EmulatorServer chaos', () => {
  const faults = [
    { kind: '429', status: 429, retryAfterSeconds: 1 },
    { kind: '503', status: 503, retryAfterSeconds: 2 },
    { kind: 'stall', delayMs: 30 },
  ];

  async function run(seed: number, requests: number): Promise<{ statuses: number[]; server: EmulatorServer; stalled: number }> {
    const server = new EmulatorServer('chaos');
    server.route('POST', '/echo', 'echo', () => ({ status: 200 }));
    await server.start();
    const rng = xoroshiro128plus(seed);
    server.chaos({ rate: 0.25, random: () => uniformFloat64(rng), faults });
    const statuses: number[] = [];
    let stalled = 0;
    try {
      for (let i = 0; i < requests; i++) {
        const started = performance.now();
        const response = await fetch(`${server.url}/echo`, { method: 'POST', body: '{}' });
        await response.arrayBuffer();
        statuses.push(response.status);
        if (response.status === 200 && performance.now() - started >= 25) stalled += 1;
      }
    } finally {
      await server.close();
    }
    return { statuses, server, stalled };
  }

  it('answers about `rate` of the requests with its faults, counted per kind, and replays from the same seed', async () => {
    const { statuses, server, stalled } = await run(42, 200);
    const served = server.chaosServed();
    // 200 requests at 25 %: 50 expected; the binomial's 3-sigma band is 32..68.
    const total = served['429']! + served['503']! + served.stall!;
    expect(total).toBeGreaterThanOrEqual(32);
    expect(total).toBeLessThanOrEqual(68);
    expect(statuses.filter((s) => s === 429)).toHaveLength(served['429']!);
    expect(statuses.filter((s) => s === 503)).toHaveLength(served['503']!);
    // A stall is a slow normal answer.
    expect(served.stall).toBeGreaterThan(0);
    expect(stalled).toBeGreaterThanOrEqual(served.stall!);
    expect(server.faultsServed('echo')).toBe(total);
    expect(server.requests().filter((r) => r.status === 429)[0]).toBeDefined();

    const again = await run(42, 200);
    expect(again.statuses).toEqual(statuses);
    expect((await run(7, 200)).statuses).not.toEqual(statuses);
  });

  it('lets an injected fault go first, and serves normally once turned off', async () => {
    const server = new EmulatorServer('chaos');
    server.route('POST', '/echo', 'echo', () => ({ status: 200 }));
    await server.start();
    try {
      server.chaos({ rate: 1, random: () => 0, faults: [{ kind: '503', status: 503 }] });
      server.inject('echo', { status: 418, times: 1 });
      const status = async () => (await fetch(`${server.url}/echo`, { method: 'POST', body: '{}' })).status;
      expect([await status(), await status()]).toEqual([418, 503]);
      server.chaos(undefined);
      expect(await status()).toBe(200);
      expect(server.chaosServed()).toEqual({ '503': 1 });
    } finally {
      await server.close();
    }
  });
});
