// `npm run fetch-models -- minilm-l6-v2` against a local HTTP server: the real tokenizer.json is
// served and verified against its published sha256; wrong encoder bytes are refused and not saved;
// a closed port gives the clear offline error. Nothing leaves 127.0.0.1.
import { readFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsFor, DownloadError, downloadVerified } from '../../../scripts/fetch-models.js';
import { findTextCatalogueEntry } from '../../../src/backbone/catalogue.js';
import { modelsDir } from '../../helpers/shared.js';

let server: http.Server;
let base = '';
let dir: string;

beforeAll(async () => {
  const tokenizer = await readFile(path.join(modelsDir(), 'text', 'all-MiniLM-L6-v2', 'tokenizer.json'));
  server = http.createServer((req, res) => {
    if (req.url === '/tokenizer.json') res.end(tokenizer);
    else if (req.url === '/model_quantized.onnx') res.end(Buffer.from('not the published encoder'));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'fetch-text-'));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('fetch-models minilm-l6-v2', () => {
  const local = () => artifactsFor(['minilm-l6-v2']).map((a) => ({ ...a, url: `${base}/${path.basename(a.file)}` }));

  it('is the encoder and the tokenizer pinned to the published hashes, without the ImageNet labels', () => {
    const artifacts = artifactsFor(['minilm-l6-v2']);
    const spec = findTextCatalogueEntry('minilm-l6-v2')!;
    expect(artifacts.map((a) => [a.file, a.sha256])).toEqual([
      ['text/all-MiniLM-L6-v2/model_quantized.onnx', 'afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1'],
      ['text/all-MiniLM-L6-v2/tokenizer.json', 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0'],
    ]);
    expect(spec.model.url).toMatch(/Xenova\/all-MiniLM-L6-v2\/resolve\/main\/onnx\/model_quantized\.onnx$/);
  });

  it('downloads and verifies the tokenizer into its sub-folder; refuses an encoder with the wrong hash and saves nothing', async () => {
    const [model, tokenizer] = local();
    expect(await downloadVerified(tokenizer!, dir)).toBe('downloaded');
    expect(await downloadVerified(tokenizer!, dir)).toBe('present');
    await expect(downloadVerified(model!, dir)).rejects.toThrow(/sha256 .* expected afdb6f1a.*not saved/);
    expect(await readdir(path.join(dir, 'text', 'all-MiniLM-L6-v2'))).toEqual(['tokenizer.json']);
  });

  it('offline: a clear error that says what to do', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const [model] = local();
    const error = await downloadVerified({ ...model!, url: `http://127.0.0.1:${port}/model_quantized.onnx` }, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toMatch(/Is this machine offline\?.*HEADSTART_MODELS/);
  });
});
