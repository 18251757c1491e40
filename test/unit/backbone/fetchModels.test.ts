import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { artifactsFor, DownloadError, downloadVerified, LABELS, type Artifact, type FetchLike } from '../../../scripts/fetch-models.js';

const body = new TextEncoder().encode('pretend model bytes\n'.repeat(5000));
const sha = createHash('sha256').update(body).digest('hex');
const artifact: Artifact = { file: 'model.onnx', url: 'https://example.invalid/model.onnx', sha256: sha, what: 'test model' };

/** A fetch that never leaves the process: serves `bytes` in small chunks, counting calls. */
function localFetch(bytes: Uint8Array, status = 200): FetchLike & { calls: number } {
  const fn = (async () => {
    fn.calls++;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
        controller.close();
      },
    });
    return new Response(status === 200 ? stream : null, { status, statusText: status === 200 ? 'OK' : 'Not Found' });
  }) as unknown as FetchLike & { calls: number };
  fn.calls = 0;
  return fn;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fetch-models-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('downloadVerified', () => {
  it('writes a verified file under its real name and leaves no temporary file', async () => {
    const fetchImpl = localFetch(body);
    expect(await downloadVerified(artifact, dir, { fetchImpl })).toBe('downloaded');
    expect(Buffer.compare(await readFile(path.join(dir, 'model.onnx')), Buffer.from(body))).toBe(0);
    expect(await readdir(dir)).toEqual(['model.onnx']);
  });

  it('keeps a present file whose sha256 matches, without fetching', async () => {
    await writeFile(path.join(dir, 'model.onnx'), body);
    const fetchImpl = localFetch(body);
    expect(await downloadVerified(artifact, dir, { fetchImpl })).toBe('present');
    expect(fetchImpl.calls).toBe(0);
  });

  it('refuses a download with the wrong sha256 and saves nothing', async () => {
    const tampered = body.slice();
    tampered[10] = 0;
    const error = await downloadVerified(artifact, dir, { fetchImpl: localFetch(tampered) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toContain(`expected ${sha}`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('replaces a present file with the wrong content', async () => {
    await writeFile(path.join(dir, 'model.onnx'), 'stale');
    expect(await downloadVerified(artifact, dir, { fetchImpl: localFetch(body) })).toBe('downloaded');
    expect((await readFile(path.join(dir, 'model.onnx'))).length).toBe(body.length);
  });

  it('explains an offline machine and an HTTP error', async () => {
    const offline: FetchLike = async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND example.invalid'), { code: 'ENOTFOUND' }) });
    };
    const error = await downloadVerified(artifact, dir, { fetchImpl: offline }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/ENOTFOUND.*offline/);
    expect((error as Error).message).toContain('HEADSTART_MODELS');
    await expect(downloadVerified(artifact, dir, { fetchImpl: localFetch(body, 404) })).rejects.toThrow(/HTTP 404/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('artifactsFor', () => {
  it('maps backbone names to pinned downloads plus the labels', () => {
    const artifacts = artifactsFor(['mobilenetv2-12']);
    expect(artifacts.map((a) => a.file)).toEqual(['mobilenetv2-12.onnx', LABELS.file]);
    expect(artifacts[0]!.sha256).toBe('c0c3f76d93fa3fd6580652a45618618a220fced18babf65774ed169de0432ad5');
    expect(() => artifactsFor(['mobilenetv2-12-fp32-embed'])).toThrow(/cannot be downloaded/);
    expect(() => artifactsFor(['nope'])).toThrow(/unknown backbone/);
  });
});
