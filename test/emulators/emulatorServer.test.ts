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
