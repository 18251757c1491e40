/** `headstart serve [--port N] [--host H]`: the HTTP API on this machine, until interrupted. */
import { localConfig } from '../../config.js';
import { LocalRuntime } from '../../local/LocalRuntime.js';
import { serve } from '../../local/server.js';
import { printLine } from '../output.js';

export async function serveCommand(options: { port: number; host: string }): Promise<void> {
  const runtime = await LocalRuntime.open(localConfig(), { consume: true });
  const server = await serve(runtime.apiContext(), { port: options.port, host: options.host });
  printLine(`headstart API on ${server.url} (state in ${runtime.config.home}); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await runtime.close();
}
