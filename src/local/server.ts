/**
 * The local HTTP server: plays API Gateway on one machine. It only turns node:http requests into
 * {@link HttpRequest}s for the shared router; it binds to 127.0.0.1 unless told otherwise. It also
 * serves the web console at `/` (consoleAssets.ts), and answers CORS for one configured origin
 * only (a console served from elsewhere); the console it serves itself is same-origin.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_MAX_BODY_BYTES, json, route, type ApiContext, type HttpRequest, type HttpResponse } from '../api/router.js';
import { DEFAULT_LIMITS } from '../image/validate.js';
import { ConsoleAssets, defaultConsoleDir } from './consoleAssets.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  /** The built console; HEADSTART_CONSOLE_DIR, else dist/console/ of the package. */
  consoleDir?: string;
  /** The one cross-origin caller allowed (e.g. http://localhost:5173); HEADSTART_CORS_ORIGIN when absent. None by default. */
  allowedOrigin?: string;
}

const CORS_METHODS = 'GET, POST, PUT, DELETE';
const CORS_HEADERS = 'authorization, content-type';

/** CORS headers for a request from `origin`, or none when it is not the allowed one. */
function corsHeaders(origin: string | undefined, allowed: string | undefined): Record<string, string> {
  if (origin === undefined || allowed === undefined || origin !== allowed) return {};
  return { 'access-control-allow-origin': origin, vary: 'origin', 'access-control-expose-headers': 'etag' };
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
  const apiLimit = context.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const assets = new ConsoleAssets(options.consoleDir ?? defaultConsoleDir());
  const allowedOrigin = options.allowedOrigin ?? (process.env['HEADSTART_CORS_ORIGIN'] || undefined);
  const server = createServer((req, res) => {
    const cors = corsHeaders(req.headers.origin, allowedOrigin);
    const send = (response: HttpResponse): void => {
      res.writeHead(response.status, { ...response.headers, ...cors });
      res.end(response.body);
    };
    // An image upload (PUT of an object) may be as large as an image may be; other bodies keep the API's limit.
    const limit = req.method === 'PUT' ? Math.max(apiLimit, DEFAULT_LIMITS.maxBytes) : apiLimit;
    void (async () => {
      const [pathname = '/', query = ''] = (req.url ?? '/').split('?');
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
        if (Object.keys(cors).length === 0) {
          send(json(403, { error: `origin ${JSON.stringify(req.headers.origin ?? '(none)')} is not allowed to call this API (set HEADSTART_CORS_ORIGIN)`, code: 'cors_origin_not_allowed' }));
        } else {
          send({ status: 204, headers: { 'access-control-allow-methods': CORS_METHODS, 'access-control-allow-headers': CORS_HEADERS, 'access-control-max-age': '600' }, body: '' });
        }
        req.resume();
        return;
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        const page = await assets.answer(pathname, req.headers['if-none-match']);
        if (page !== undefined) {
          send(req.method === 'HEAD' ? { ...page, body: '' } : page);
          req.resume();
          return;
        }
      }
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
      const request: HttpRequest = { method: req.method ?? 'GET', path: pathname, query, headers, body };
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
