/**
 * The local HTTP server: plays API Gateway on one machine. It only turns node:http requests into
 * {@link HttpRequest}s for the shared router; it binds to 127.0.0.1 unless told otherwise.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_MAX_BODY_BYTES, json, route, type ApiContext, type HttpRequest, type HttpResponse } from '../api/router.js';

export interface ServeOptions {
  port?: number;
  host?: string;
}

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

async function readBody(request: IncomingMessage, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    // Stop buffering as soon as the limit is passed: a huge upload must not exhaust memory.
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export async function serve(context: ApiContext, options: ServeOptions = {}): Promise<RunningServer> {
  const limit = context.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const server = createServer((req, res) => {
    const send = (response: HttpResponse): void => {
      res.writeHead(response.status, response.headers);
      res.end(response.body);
    };
    void (async () => {
      let body: Uint8Array;
      try {
        body = await readBody(req, limit);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          res.setHeader('connection', 'close');
          send(json(413, { error: `request body is larger than the limit of ${limit} bytes`, code: 'payload_too_large' }));
          req.destroy();
          return;
        }
        send(json(400, { error: 'could not read the request body', code: 'bad_request' }));
        return;
      }
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      const request: HttpRequest = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0] ?? '/', headers, body };
      send(await route(request, context));
    })();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
