import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { createRandom } from '../../../src/training/random.js';
import { stratifiedFolds } from '../../../src/training/stratifiedFolds.js';
import {
  decodeOutOfDomain,
  encodeOutOfDomain,
  fitOutOfDomain,
  fromFloat16Bits,
  scoreOutOfDomain,
  thresholdAt,
  toFloat16Bits,
  type OutOfDomainData,
} from '../../../src/transfer/outOfDomain.js';
import { datasetsDir, imagesDir, modelsDir } from '../../helpers/shared.js';

/** Non-negative clusters around a few directions, like ReLU-pooled embeddings. */
function clusters(perClass: number, centres: number[][], spread: number, seed: number): OutOfDomainData & { rows: Float32Array[] } {
  const random = createRandom(seed);
  const d = centres[0]!.length;
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  centres.forEach((centre, c) => {
    for (let i = 0; i < perClass; i++) {
      rows.push(Float32Array.from(centre, (v) => Math.max(0, v + spread * random.normal())));
      labels.push(c);
    }
  });
  const embeddings = new Float32Array(rows.length * d);
  rows.forEach((r, i) => embeddings.set(r, i * d));
  const labelArray = Int32Array.from(labels);
  return { rows, embeddings, dims: [rows.length, d], labels: labelArray, folds: stratifiedFolds(labelArray, centres.length, 5, createRandom(seed + 1)) };
}

function direction(d: number, hot: number[], scale = 3): number[] {
  return Array.from({ length: d }, (_, j) => (hot.includes(j) ? scale : 0.2));
}

describe('float16 codec', () => {
  it('encodes known values exactly and rounds to nearest even', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(0.5)).toBe(0x3800);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(0)).toBe(0);
    // 1 + 2^-11 lies exactly between 1 and the next half (1 + 2^-10): ties go to the even mantissa.
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
  });

  it('round-trips values in [0, 1] within half-precision resolution', () => {
    const random = createRandom(3);
    for (let i = 0; i < 2000; i++) {
      const v = random.next();
      const back = fromFloat16Bits(toFloat16Bits(v));
      expect(Math.abs(back - v)).toBeLessThanOrEqual(Math.max(2 ** -25, v * 2 ** -11));
    }
  });
});

describe('thresholdAt', () => {
  it('leaves at most the rate above the threshold', () => {
    const scores = Array.from({ length: 200 }, (_, i) => i / 200);
    const t = thresholdAt(scores, 0.05);
    expect(scores.filter((s) => s > t).length).toBe(10);
    expect(thresholdAt([0.3, 0.1, 0.2], 0.05)).toBe(0.3);
  });
});

describe('fitOutOfDomain / scoreOutOfDomain', () => {
  const d = 32;
  const centres = [direction(d, [0, 1, 2]), direction(d, [3, 4, 5]), direction(d, [6, 7, 8])];
  const train = clusters(40, centres, 0.4, 1);
  const heldOut = clusters(100, centres, 0.4, 2);
  const far = clusters(20, [direction(d, [20, 21, 22])], 0.4, 3);

  for (const method of ['knn', 'centroid'] as const) {
    it(`${method}: calibrates on out-of-fold scores and flags a new direction`, async () => {
      const model = await fitOutOfDomain(train, { method, falseAlarmRate: 0.05 });
      expect(model.calibration.rows).toBe(120);
      expect(model.calibration.folds).toBe(5);
      expect(model.calibration.oofFalseAlarmRate).toBeLessThanOrEqual(0.05);
      expect(model.calibration.quantiles.map((q) => q.q)).toEqual([0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1]);
      expect(model.referenceRows).toBe(method === 'knn' ? 120 : 3);
      const inDomain = scoreOutOfDomain(model, heldOut.rows);
      expect(inDomain.filter((s) => s.outOfDomain).length / inDomain.length).toBeLessThan(0.15);
      const outside = scoreOutOfDomain(model, far.rows);
      expect(outside.every((s) => s.outOfDomain)).toBe(true);
      expect(Math.min(...outside.map((s) => s.score))).toBeGreaterThan(Math.max(...inDomain.map((s) => s.score)));
    });
  }

  it('scores each training row without its own fold (an exact copy in the same fold does not hide it)', async () => {
    const random = createRandom(9);
    const base = Array.from({ length: 20 }, () => Float32Array.from({ length: 8 }, () => random.next()));
    const rows = [...base, ...base];
    const embeddings = new Float32Array(rows.length * 8);
    rows.forEach((r, i) => embeddings.set(r, i * 8));
    const labels = new Int32Array(rows.length);
    const sameFold = Int32Array.from(rows, (_, i) => (i % 20) % 4);
    const crossFold = Int32Array.from(rows, (_, i) => ((i % 20) + (i >= 20 ? 1 : 0)) % 4);
    const leakFree = await fitOutOfDomain({ embeddings, dims: [40, 8], labels, folds: sameFold }, { k: 1 });
    const leaky = await fitOutOfDomain({ embeddings, dims: [40, 8], labels, folds: crossFold }, { k: 1 });
    expect(leakFree.calibration.quantiles[0]!.score).toBeGreaterThan(1e-3);
    // With the copy in another fold, every row finds itself (up to float16 rounding of the reference).
    expect(leaky.calibration.quantiles.at(-1)!.score).toBeLessThan(1e-3);
  });

  it('caps the k-NN reference with a stratified subsample', async () => {
    const big = clusters(60, centres, 0.4, 4); // 180 rows
    const model = await fitOutOfDomain(big, { maxReferenceRows: 90 });
    expect(model.referenceRows).toBe(90);
    expect(model.calibration.rows).toBe(180);
    const again = await fitOutOfDomain(big, { maxReferenceRows: 90 });
    expect(again.threshold).toBe(model.threshold);
  });

  it('calibrates on a stratified sample of the training rows when there are more than the cap', async () => {
    const big = clusters(100, centres, 0.4, 5); // 300 rows
    const all = await fitOutOfDomain(big);
    const capped = await fitOutOfDomain(big, { maxCalibrationRows: 150 });
    expect(all.calibration.rows).toBe(300);
    expect(capped.calibration.rows).toBe(150);
    expect(capped.referenceRows).toBe(300);
    expect(capped.calibration.oofFalseAlarmRate).toBeLessThanOrEqual(0.05);
    // The 95% quantile of half the scores is close to that of all of them.
    expect(Math.abs(capped.threshold - all.threshold)).toBeLessThan(0.1 * all.threshold);
    await expect(fitOutOfDomain(big, { maxCalibrationRows: 0 })).rejects.toThrow(/maxCalibrationRows/);
  });

  it('round-trips through model.json + ood.bin and scores identically', async () => {
    const model = await fitOutOfDomain(train);
    const { manifest, bytes } = encodeOutOfDomain(model);
    expect(manifest.reference).toMatchObject({ file: 'ood.bin', encoding: 'float16le', rows: 120, dims: d, bytes: 120 * d * 2 });
    expect(bytes.length).toBe(120 * d * 2);
    const json = JSON.parse(JSON.stringify(manifest));
    const decoded = decodeOutOfDomain(json, bytes);
    expect(scoreOutOfDomain(decoded, heldOut.rows)).toEqual(scoreOutOfDomain(model, heldOut.rows));
    const tampered = bytes.slice();
    tampered[5] = (tampered[5] as number) ^ 1;
    expect(() => decodeOutOfDomain(json, tampered)).toThrow(/sha256/);
    expect(() => decodeOutOfDomain(json, bytes.subarray(2))).toThrow(/bytes/);
  });

  it('refuses bad input with errors that name it', async () => {
    await expect(fitOutOfDomain(train, { falseAlarmRate: 0 })).rejects.toThrow(/falseAlarmRate/);
    await expect(fitOutOfDomain(train, { k: 0 })).rejects.toThrow(/k \(a positive integer\)/);
    await expect(fitOutOfDomain({ ...train, folds: new Int32Array(120) })).rejects.toThrow(/at least 2 folds/);
    await expect(fitOutOfDomain({ ...train, dims: [121, d] })).rejects.toThrow(/dims/);
    const model = await fitOutOfDomain(train);
    expect(() => scoreOutOfDomain(model, [new Float32Array(3)])).toThrow(/expects 32/);
    const [nan] = scoreOutOfDomain(model, [new Float32Array(d).fill(NaN)]);
    expect(nan?.outOfDomain).toBe(true);
  });
});

describe('real embeddings: chest X-ray model (default backbone)', () => {
  let backbone: Backbone;
  const embed = async (files: string[]): Promise<Float32Array[]> => {
    const out = await backbone.embedImages(await Promise.all(files.map((f) => readFile(f))));
    return out.map((e, i) => {
      if (!(e instanceof Float32Array)) throw new Error(`${files[i]}: ${e.message}`);
      return e;
    });
  };
  const pick = async (split: string, label: string, from: number, count: number): Promise<string[]> => {
    const dir = path.join(datasetsDir(), 'chest_xray', split, label);
    return (await readdir(dir)).sort().slice(from, from + count).map((f) => path.join(dir, f));
  };

  beforeAll(async () => {
    backbone = await Backbone.load(undefined, { modelsDir: modelsDir() });
  });
  afterAll(async () => {
    await backbone?.release();
  });

  it('flags a cat photo and few held-out X-rays (100 training images, 5% nominal false alarms)', async () => {
    const trainFiles = [...(await pick('train', 'normal', 0, 50)), ...(await pick('train', 'pneumonia', 0, 50))];
    const train = await embed(trainFiles);
    const labels = Int32Array.from(trainFiles, (_, i) => (i < 50 ? 0 : 1));
    const embeddings = new Float32Array(train.length * 1280);
    train.forEach((e, i) => embeddings.set(e, i * 1280));
    const model = await fitOutOfDomain({ embeddings, dims: [train.length, 1280], labels, folds: stratifiedFolds(labels, 2, 5, createRandom(0)) });

    const testFiles = [...(await pick('test', 'normal', 0, 60)), ...(await pick('test', 'pneumonia', 0, 60))];
    const heldOut = scoreOutOfDomain(model, await embed(testFiles));
    const falseAlarms = heldOut.filter((s) => s.outOfDomain).length / heldOut.length;
    // Measured 2.5% on the full 400-image test split; 12% leaves room for sampling, not for a broken calibration.
    expect(falseAlarms).toBeLessThanOrEqual(0.12);

    const photos = ['chelsea.png', 'dog.jpg', 'coffee.png'].map((f) => path.join(imagesDir(), f));
    const [cat, dog, coffee] = scoreOutOfDomain(model, await embed(photos));
    expect(cat?.outOfDomain).toBe(true);
    expect(dog?.outOfDomain).toBe(true);
    expect(coffee?.outOfDomain).toBe(true);
    // Not a near miss: the cat is far past the threshold (measured about 3x).
    expect(cat!.score).toBeGreaterThan(2 * model.threshold);
  });
});
