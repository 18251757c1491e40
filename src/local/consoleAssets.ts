/**
 * The web console's built files (scripts/build-console.ts -> dist/console/), served by the local
 * server: `/` is the page, `/console/<file>` its script and style sheet. Only files directly in the
 * folder are served, by exact name, so no request path can reach anything else on disk.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { json, type HttpResponse } from '../api/router.js';
import { packageRoot } from '../util/packageRoot.js';

/**
 * What the page may do: its own script and styles (inline styles too: the report, shown in a
 * sandboxed srcdoc frame, inherits this policy and carries its own <style>), data:/blob: images
 * (thumbnails, webcam frames), the webcam stream, and requests to this server or an https API
 * (a deployed one, opened with ?api=https://...).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self' https:",
  "frame-src 'self' about:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export function defaultConsoleDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['HEADSTART_CONSOLE_DIR'] ? path.resolve(env['HEADSTART_CONSOLE_DIR']) : path.join(packageRoot(import.meta.url), 'dist', 'console');
}

interface Asset {
  body: Uint8Array;
  type: string;
  etag: string;
}

export class ConsoleAssets {
  private loaded: Promise<Map<string, Asset> | undefined> | undefined;

  constructor(readonly dir: string) {}

  /** The answer for a GET of `pathname`, or undefined when the path is not the console's. */
  async answer(pathname: string, ifNoneMatch: string | undefined): Promise<HttpResponse | undefined> {
    let name: string;
    if (pathname === '/' || pathname === '/index.html') name = 'index.html';
    else if (pathname.startsWith('/console/')) name = pathname.slice('/console/'.length);
    else return undefined;
    const assets = await this.load();
    if (assets === undefined) {
      return json(404, { error: `the console is not built (no ${path.join(this.dir, 'index.html')}): run npm run build:console`, code: 'console_not_built' });
    }
    const asset = assets.get(name);
    if (asset === undefined) return json(404, { error: `the console has no file ${JSON.stringify(name)}`, code: 'route_not_found' });
    const headers: Record<string, string> = {
      'content-type': asset.type,
      etag: asset.etag,
      // Fixed names, so every load revalidates (a 304 when unchanged) instead of running an old build.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (name === 'index.html') headers['content-security-policy'] = CONSOLE_CSP;
    if (ifNoneMatch === asset.etag) return { status: 304, headers, body: '' };
    return { status: 200, headers, body: asset.body };
  }

  /** Reads the folder once: the build is immutable while the server runs. A missing folder is retried. */
  private load(): Promise<Map<string, Asset> | undefined> {
    this.loaded ??= (async () => {
      let names: string[];
      try {
        names = await readdir(this.dir);
      } catch {
        return undefined;
      }
      if (!names.includes('index.html')) return undefined;
      const assets = new Map<string, Asset>();
      for (const name of names) {
        const type = TYPES[path.extname(name)];
        if (type === undefined) continue;
        const body = new Uint8Array(await readFile(path.join(this.dir, name)));
        assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` });
      }
      return assets;
    })();
    void this.loaded.then((assets) => {
      if (assets === undefined) this.loaded = undefined;
    });
    return this.loaded;
  }
}
