/**
 * LogME on real embeddings against the paper's Algorithm 1 in numpy (bench/logme_reference.py: a
 * full SVD, all D eigenvalues, the residual computed directly). The reference values below were
 * produced by
 *
 *   npx tsx bench/transfer.ts --logme-reference
 *
 * which embeds the same images in the same order (labels and files sorted by code unit, the first
 * 20 files of each class for the N < D case) with the same backbone and runs both implementations.
 * The test recomputes the features here, so CI needs the shared models and datasets but no Python.
 * The fp32 backbone gives the same embeddings on AVX-512/AVX2/SSE4.1 within about 3e-6, far inside
 * the tolerance.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { logme } from '../../../src/transfer/logme.js';
import { fitStandardizer, pixelFeatures, PIXEL_FEATURES, standardize } from '../../../src/transfer/pixelFeatures.js';
import { datasetsDir, modelsDir } from '../../helpers/shared.js';

/** numpy reference (bench/logme_reference.py), see the command above. */
const REFERENCE = {
  hymenopteraTrain: -0.101448565284, // N = 244, D = 1280 (N <= D: F F^T route, full rank)
  chestTrain: -0.036359557214, // N = 200, D = 1280
  hymenoptera20PerClass: -0.464551141116, // N = 40, D = 1280 (one class's maximum at beta -> infinity)
  chestTrainPixels: -0.969570012433, // N = 200, D = 3072, standardised pixels: rank N - 1
};
const TOLERANCE = 1e-4;

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function readSplit(dataset: string, split: string, perClass?: number): Promise<{ bytes: Uint8Array[]; labels: Int32Array; classes: number }> {
  const root = path.join(datasetsDir(), dataset, split);
  const bytes: Uint8Array[] = [];
  const labels: number[] = [];
  const classNames = (await readdir(root)).filter((l) => !l.startsWith('.')).sort(byCodeUnit);
  for (const [c, label] of classNames.entries()) {
    const files = (await readdir(path.join(root, label))).filter((f) => !f.startsWith('.')).sort(byCodeUnit);
    for (const file of perClass === undefined ? files : files.slice(0, perClass)) {
      bytes.push(new Uint8Array(await readFile(path.join(root, label, file))));
      labels.push(c);
    }
  }
  return { bytes, labels: Int32Array.from(labels), classes: classNames.length };
}

function stack(rows: ReadonlyArray<Float32Array | Error>, width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    if (!(r instanceof Float32Array)) throw r;
    out.set(r, i * width);
  });
  return out;
}

function expectRelative(actual: number, expected: number): void {
  expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThan(TOLERANCE);
}

describe('LogME on real embeddings matches the numpy reference', () => {
  let backbone: Backbone;
  beforeAll(async () => {
    backbone = await Backbone.load('mobilenetv2-12-fp32-embed', { modelsDir: modelsDir() });
  });
  afterAll(async () => backbone?.release());

  async function embed(dataset: string): Promise<{ features: Float32Array; labels: Int32Array; classes: number }> {
    const split = await readSplit(dataset, 'train');
    return { features: stack(await backbone.embedImages(split.bytes), backbone.embeddingSize), labels: split.labels, classes: split.classes };
  }

  it('hymenoptera train (244 photos, near ImageNet), and its first 20 images per class (N < D)', async () => {
    const { features, labels, classes } = await embed('hymenoptera');
    const d = backbone.embeddingSize;
    const all = logme(features, [labels.length, d], labels, classes);
    expect(all.n).toBe(244);
    expectRelative(all.score, REFERENCE.hymenopteraTrain);

    // Rows are in class-then-file order, so the first 20 of each class are the bench's subset.
    const rows = [0, 1].flatMap((c) => [...labels.keys()].filter((i) => labels[i] === c).slice(0, 20));
    const subset = new Float32Array(rows.length * d);
    rows.forEach((row, i) => subset.set(features.subarray(row * d, (row + 1) * d), i * d));
    const small = logme(subset, [rows.length, d], Int32Array.from(rows, (r) => labels[r] as number), classes);
    expect(small).toMatchObject({ n: 40, gram: 'samples', rank: 40 });
    expectRelative(small.score, REFERENCE.hymenoptera20PerClass);
  });

  it('chest_xray train (200 X-rays, far from ImageNet)', async () => {
    const { features, labels, classes } = await embed('chest_xray');
    const result = logme(features, [labels.length, backbone.embeddingSize], labels, classes);
    expect(result.n).toBe(200);
    expectRelative(result.score, REFERENCE.chestTrain);
  });

  it('rank-deficient N < D: standardised 32x32 pixels of chest_xray train', async () => {
    const split = await readSplit('chest_xray', 'train');
    const raw = stack(await pixelFeatures(split.bytes), PIXEL_FEATURES);
    const z = standardize(raw, PIXEL_FEATURES, fitStandardizer(raw, PIXEL_FEATURES));
    const result = logme(z, [split.labels.length, PIXEL_FEATURES], split.labels, split.classes);
    expect(result.rank).toBe(199);
    expectRelative(result.score, REFERENCE.chestTrainPixels);
    // The point of counting every eigenvalue: good features outscore raw pixels.
    expect(REFERENCE.chestTrain).toBeGreaterThan(result.score);
  });
});
