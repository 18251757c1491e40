/**
 * The local HTTP server on real images: the same routes as API Gateway, bound to 127.0.0.1, with
 * training through the local job runner and predictions from the real backbone.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localConfig } from '../../../src/config.js';
import { upload } from '../../../src/cli/commands/upload.js';
import { LocalRuntime } from '../../../src/local/LocalRuntime.js';
import { serve, type RunningServer } from '../../../src/local/server.js';
import { datasetsDir, imagesDir } from '../../helpers/shared.js';

let home: string;
let runtime: LocalRuntime;
let server: RunningServer;

async function image(split: string, label: string, index = 0): Promise<Buffer> {
  const dir = path.join(datasetsDir(), 'chest_xray', split, label);
  return readFile(path.join(dir, (await readdir(dir)).sort()[index] as string));
}

async function call(method: string, route: string, body?: Uint8Array | string, contentType?: string): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const response = await fetch(server.url + route, { method, ...(body !== undefined ? { body } : {}), headers: contentType ? { 'content-type': contentType } : {} });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // HTML routes
  }
  return { status: response.status, json, text };
}

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'hs-server-'));
  // Consuming, as `headstart serve` opens it: the upload below is extracted by this runtime.
  runtime = await LocalRuntime.open({ ...localConfig({}), home }, { consume: true });
  // chest_xray: far from ImageNet, a good case for the out-of-domain flag.
  const folder = await mkdtemp(path.join(tmpdir(), 'hs-server-data-'));
  const { cp, mkdir } = await import('node:fs/promises');
  for (const label of ['normal', 'pneumonia']) {
    const from = path.join(datasetsDir(), 'chest_xray', 'train', label);
    await mkdir(path.join(folder, label), { recursive: true });
    for (const file of (await readdir(from)).sort().slice(0, 30)) await cp(path.join(from, file), path.join(folder, label, file));
  }
  await upload(runtime, folder, 'xray');
  await rm(folder, { recursive: true, force: true });
  server = await serve(runtime.apiContext(), { port: 0 });
});

afterAll(async () => {
  await server?.close();
  await runtime?.close();
  await rm(home, { recursive: true, force: true });
});

describe('local HTTP server', () => {
  it('binds to 127.0.0.1 by default', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('trains through POST /datasets/{name}/train (202) and GET /jobs/{id}', async () => {
    const submitted = await call('POST', '/datasets/xray/train');
    expect(submitted.status).toBe(202);
    const id = submitted.json['jobId'] as string;
    await runtime.jobs.wait(id);
    const job = await call('GET', `/jobs/${id}`);
    expect(job.json).toMatchObject({ status: 'succeeded', version: expect.stringMatching(/^v/) });
    const dataset = await call('GET', '/datasets/xray');
    expect(dataset.json).toMatchObject({ labels: { normal: 30, pneumonia: 30 }, model: { version: job.json['version'] } });
    const models = await call('GET', '/datasets/xray/models');
    expect(models.json).toMatchObject({ current: job.json['version'] });
  });

  it('predicts raw image bytes and base64 JSON alike', async () => {
    const bytes = await image('test', 'pneumonia', 3);
    const raw = await call('POST', '/datasets/xray/predict', bytes, 'image/jpeg');
    expect(raw.status).toBe(200);
    expect(raw.json).toMatchObject({ label: expect.any(String), probability: expect.any(Number), model: expect.stringMatching(/^v/), outOfDomain: false });
    const viaJson = await call('POST', '/datasets/xray/predict', JSON.stringify({ image: bytes.toString('base64') }), 'application/json');
    expect(viaJson.json['label']).toBe(raw.json['label']);
    expect(viaJson.json['probability']).toBeCloseTo(raw.json['probability'] as number, 6);
  });

  it('flags a photo of a cat sent to the chest X-ray model as out of domain', async () => {
    const cat = await readFile(path.join(imagesDir(), 'chelsea.png'));
    const r = await call('POST', '/datasets/xray/predict', cat, 'image/png');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ outOfDomain: true });
  });

  it('serves the stored transfer assessment and learning curve', async () => {
    const r = await call('GET', '/datasets/xray/assessment');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ verdict: expect.any(String), baselineAccuracy: expect.any(Number), backbones: [expect.objectContaining({ logme: expect.any(Number) })] });
    expect((r.json['learningCurve'] as { points: unknown[] }).points.length).toBeGreaterThan(1);
  });

  it('serves the self-contained report', async () => {
    const r = await call('GET', '/datasets/xray/report');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<svg');
  });

  it('answers an oversized body with 413 before reading it all', async () => {
    const r = await call('POST', '/datasets/xray/predict', new Uint8Array(11 * 1024 * 1024), 'image/jpeg');
    expect(r.status).toBe(413);
    expect(r.json['code']).toBe('payload_too_large');
  });

  it('answers an image it cannot decode with a 4xx naming the reason', async () => {
    const r = await call('POST', '/datasets/xray/predict', 'GIF89a but not really', 'image/gif');
    expect(r.status).toBe(400);
    expect(String(r.json['error'])).toMatch(/corrupt|not an image|could not/i);
  });
});
