// The text path on the real tokenizer and a real (random-weight) BERT graph: it must reproduce the
// reference that Python `tokenizers` + onnxruntime computed, batched and one text at a time.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextBackbone } from '../../../src/text/TextBackbone.js';
import { BackboneMissingError } from '../../../src/errors.js';
import { modelsDir } from '../../helpers/shared.js';

interface ReferenceCase {
  text: string;
  ids: number[];
  embedding: number[];
}
const reference = JSON.parse(readFileSync(path.join(modelsDir(), 'text', 'tiny-bert-reference.json'), 'utf8')) as { maxLength: number; cases: ReferenceCase[] };

describe('TextBackbone on tiny-bert-random', () => {
  let backbone: TextBackbone;
  beforeAll(async () => {
    backbone = await TextBackbone.load('tiny-bert-random', { modelsDir: modelsDir(), batchSize: 4 });
  });
  afterAll(async () => backbone?.release());

  it('tokenizes every reference text to the reference ids, truncated to 256 keeping [SEP]', () => {
    for (const c of reference.cases) {
      expect(backbone.tokenize(c.text).ids, c.text.slice(0, 40)).toEqual(c.ids);
    }
    const long = reference.cases.find((c) => c.ids.length === reference.maxLength);
    expect(long).toBeDefined();
    expect(backbone.tokenize(long!.text).truncated).toBe(true);
    expect(long!.ids.at(-1)).toBe(102);
  });

  it('reproduces the reference embeddings within 1e-5, batched (lengths mixed) and one at a time', async () => {
    const texts = reference.cases.map((c) => c.text);
    const batched = await backbone.embedTexts(texts);
    const single: Float32Array[] = [];
    for (const t of texts) single.push(...(await backbone.embedTexts([t])));
    reference.cases.forEach((c, i) => {
      const b = batched[i]!;
      const s = single[i]!;
      expect(b.length).toBe(32);
      let worst = 0;
      let worstSingle = 0;
      for (let k = 0; k < 32; k++) {
        worst = Math.max(worst, Math.abs(b[k]! - c.embedding[k]!));
        worstSingle = Math.max(worstSingle, Math.abs(b[k]! - s[k]!));
      }
      expect(worst, c.text.slice(0, 40)).toBeLessThan(1e-5);
      expect(worstSingle, c.text.slice(0, 40)).toBeLessThan(1e-5);
    });
  });

  it('records a refusal per object for bad text bytes and embeds the rest', async () => {
    const enc = new TextEncoder();
    const out = await backbone.embedTextBytes([enc.encode('where is my card?'), enc.encode('   \n'), Uint8Array.from([0xff, 0xfe, 0x41]), Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0])]);
    expect(out[0]).toBeInstanceOf(Float32Array);
    expect(out.slice(1).map((o) => (o instanceof Float32Array ? 'ok' : o.reason))).toEqual(['empty_text', 'invalid_utf8', 'binary_file']);
  });

  it('id names the backbone and the sha256 of its files; preprocessing is recorded in the spec', () => {
    expect(backbone.id).toMatch(/^tiny-bert-random@[0-9a-f]{16}$/);
    expect(backbone.spec.preprocessing).toMatchObject({ maxTokens: 256, pooling: 'mean', normalize: 'l2' });
  });
});

describe('TextBackbone resolution', () => {
  it('says how to fetch MiniLM when it is not in the models folder', async () => {
    const error = await TextBackbone.load('minilm-l6-v2', { modelsDir: modelsDir() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackboneMissingError);
    expect((error as Error).message).toMatch(/npm run fetch-models -- minilm-l6-v2/);
  });
});

describe('registerTextBackbone', () => {
  it('registers tiny-bert-random under a new name: hashes both files, probes the width, and it loads by name', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { registerTextBackbone } = await import('../../../src/text/registerTextBackbone.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'text-backbones-'));
    try {
      const model = path.join(modelsDir(), 'text', 'tiny-bert-random.onnx');
      const tokenizer = path.join(modelsDir(), 'text', 'all-MiniLM-L6-v2', 'tokenizer.json');
      const registered = await registerTextBackbone(model, { name: 'my-bert', tokenizer }, dir);
      expect(registered.spec.embeddingSize).toBe(32);
      expect(registered.id).toMatch(/^my-bert@[0-9a-f]{16}$/);
      const loaded = await TextBackbone.load('my-bert', { backbonesDir: dir });
      const [a] = await loaded.embedTexts([reference.cases[0]!.text]);
      expect(Math.abs(a![0]! - reference.cases[0]!.embedding[0]!)).toBeLessThan(1e-5);
      await loaded.release();
      await expect(registerTextBackbone(tokenizer, { name: 'not-a-model', tokenizer }, dir)).rejects.toThrow(/not a usable text encoder/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
