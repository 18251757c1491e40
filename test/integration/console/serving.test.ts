/**
 * The local server's console half: the built files at / and /console/<file> (CSP, ETag and 304,
 * nothing outside the build folder), a clear 404 when the console is not built, and CORS for the
 * one configured origin only (preflight answered, others refused, same-origin untouched).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import type { ApiContext } from '../../../src/api/router.js';
import { serve, type RunningServer } from '../../../src/local/server.js';
import { tempStore } from '../../helpers/fakes.js';

const ORIGIN = 'http://localhost:5173';
let work: string;
let server: RunningServer;
let bare: RunningServer;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'hs-console-serve-'));
  const built = path.join(work, 'console');
  await mkdir(built);
  await writeFile(path.join(built, 'index.html'), '<!doctype html><title>headstart console</title>');
  await writeFile(path.join(built, 'app.js'), 'console.log(1);');
  await writeFile(path.join(work, 'secret.txt'), 'not for the web');
  const { store, cleanup: clean } = await tempStore();
  cleanup = clean;
  const context = { store, index: new SqliteDatasetIndex(openHomeDatabase(':memory:')), jobs: { submit: async () => Promise.reject(new Error('unused')), get: async () => undefined }, predictor: async () => Promise.reject(new Error('unused')) } as unknown as ApiContext;
  server = await serve(context, { port: 0, consoleDir: built, allowedOrigin: ORIGIN });
  bare = await serve(context, { port: 0, consoleDir: path.join(work, 'not-built') });
});
afterAll(async () => {
  await server?.close();
  await bare?.close();
  await cleanup?.();
  await rm(work, { recursive: true, force: true });
});

describe('the console served by the local server', () => {
  it('serves the page at / with its CSP, and its files under /console/, revalidated by ETag', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    expect(await page.text()).toContain('headstart console');
    const script = await fetch(`${server.url}/console/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const etag = script.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect((await fetch(`${server.url}/console/app.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
  });

  it('serves nothing outside the build folder, and names a missing file', async () => {
    for (const route of ['/console/../secret.txt', '/console/%2e%2e/secret.txt', '/console/nope.js', '/console/']) {
      const res = await fetch(`${server.url}${route}`);
      expect(res.status, route).toBe(404);
      expect(await res.text()).not.toContain('not for the web');
    }
    expect(await (await fetch(`${server.url}/console/nope.js`)).json()).toMatchObject({ code: 'route_not_found', error: expect.stringContaining('nope.js') });
  });

  it('says how to build the console when it is not built, and the API still answers', async () => {
    const res = await fetch(`${bare.url}/`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'console_not_built', error: expect.stringContaining('npm run build:console') });
    expect((await fetch(`${bare.url}/health`)).status).toBe(200);
  });

  it('answers CORS for the configured origin only', async () => {
    const preflight = await fetch(`${server.url}/datasets`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    const allowed = await fetch(`${server.url}/health`, { headers: { origin: ORIGIN } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    const other = await fetch(`${server.url}/datasets`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(await other.json()).toMatchObject({ code: 'cors_origin_not_allowed', error: expect.stringContaining('https://evil.example') });
    expect((await fetch(`${server.url}/health`, { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull();
    // No origin configured: no cross-origin caller at all.
    expect((await fetch(`${bare.url}/health`, { headers: { origin: ORIGIN } })).headers.get('access-control-allow-origin')).toBeNull();
  });
});
