import { Agent, request } from 'node:https';
import { describe, expect, inject, it } from 'vitest';
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
