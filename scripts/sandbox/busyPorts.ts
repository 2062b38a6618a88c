import { createServer } from 'node:net';
import { PORT_SETTINGS, type SandboxLayout } from './sandboxLayout.js';

/**
 * The sandbox's ports that another process holds, each with the setting that moves it, checked
 * before anything starts or is written: a busy port then stops the sandbox with one line that says
 * what to change, instead of an EADDRINUSE from deep inside one of its servers, and leaves no state.
 */
export async function busyPorts(ports: SandboxLayout['ports']): Promise<string[]> {
  const busy: string[] = [];
  for (const [key, [setting]] of Object.entries(PORT_SETTINGS)) {
    const port = ports[key as keyof SandboxLayout['ports']];
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (!free) busy.push(`port ${port} is in use (${setting}): stop what holds it, or set ${setting} to a free port`);
  }
  return busy;
}
