import { describe, expect, it } from 'vitest';
import { TrainingDataError } from '../../../src/errors.js';
import { createRandom } from '../../../src/training/random.js';
import { learningCurve, type LearningCurveInput } from '../../../src/transfer/learningCurve.js';

/**
 * Three classes, `perClass` images each. The "embeddings" separate the classes cleanly; the
 * "pixels" are noise with a weak class signal: transfer should win by a wide margin at small k.
 */
function synthetic(perClass: number[], seed = 1): LearningCurveInput {
  const random = createRandom(seed);
  const labels = Int32Array.from(perClass.flatMap((count, c) => new Array<number>(count).fill(c)));
  const n = labels.length;
  const embeddingDim = 16;
  const pixelDim = 48;
  const embeddings = new Float32Array(n * embeddingDim);
  const pixels = new Float32Array(n * pixelDim);
  labels.forEach((c, i) => {
    for (let a = 0; a < embeddingDim; a++) embeddings[i * embeddingDim + a] = (a === c ? 4 : 0) + 0.3 * random.normal();
    for (let a = 0; a < pixelDim; a++) pixels[i * pixelDim + a] = 0.5 + 0.2 * random.normal() + (a === c ? 0.05 : 0);
  });
  return { embeddings, embeddingDim, pixels, pixelDim, labels, classNames: ['a', 'b', 'c'] };
}

describe('learningCurve', () => {
  it('measures every k below the smallest class pool plus "all", for each seed, on a fixed held-out split', async () => {
    // Class sizes 30, 20, 12: held out 9, 6, 4 (30%); pools 21, 14, 8. k = 10 and 20 do not fit.
    const curve = await learningCurve(synthetic([30, 20, 12]), { seeds: 3 });
    expect(curve.points.map((p) => p.k)).toEqual([1, 2, 5, 'all']);
    expect(curve.skipped).toEqual([10, 20]);
    expect(curve.heldOut).toBe(9 + 6 + 4);
    expect(curve.points.map((p) => p.trainImages)).toEqual([3, 6, 15, 21 + 14 + 8]);
    expect(curve.points.at(-1)?.perClass).toBe(8);
    for (const p of curve.points) {
      expect(p.seeds).toBe(3);
      expect(p.embedding.values).toHaveLength(3);
      expect(p.baseline.values).toHaveLength(3);
    }
    expect(curve.metric).toBe('balancedAccuracy');
  });

  it('shows the informative features winning at small k and learning with more images', async () => {
    const curve = await learningCurve(synthetic([40, 40, 40]), { seeds: 3, ks: [1, 5] });
    const [k1, k5, all] = curve.points;
    expect(k1?.embedding.mean).toBeGreaterThan(0.9);
    expect(k1?.baseline.mean).toBeLessThan(0.7);
    expect(all?.baseline.mean).toBeGreaterThan(k1?.baseline.mean as number);
    expect(k5?.embedding.std).toBeGreaterThanOrEqual(0);
  });

  it('keeps within a cap on training images summed over the fits, dropping "all" and then the largest k', async () => {
    // Pools 21, 14, 8 (as above): per seed k = 1, 2, 5 train on 3, 6, 15 images; "all" on 43.
    const input = synthetic([30, 20, 12]);
    const capped = await learningCurve(input, { seeds: 2, maxTrainingExamples: 2 * (3 + 6 + 15) });
    expect(capped.points.map((p) => p.k)).toEqual([1, 2, 5]);
    expect(capped.skipped).toEqual([10, 20]);
    const tight = await learningCurve(input, { seeds: 2, maxTrainingExamples: 2 * (3 + 6 + 15) - 1 });
    expect(tight.points.map((p) => p.k)).toEqual([1, 2]);
    expect(tight.skipped).toEqual([5, 10, 20]);
    // Never empty: the smallest k stays even when it alone is over the cap.
    expect((await learningCurve(input, { seeds: 1, maxTrainingExamples: 1 })).points.map((p) => p.k)).toEqual([1]);
  });

  it('is deterministic for a seed, and different seeds draw different samples', async () => {
    const input = synthetic([15, 15, 15], 4);
    const a = await learningCurve(input, { seeds: 2, ks: [2], seed: 7 });
    const b = await learningCurve(input, { seeds: 2, ks: [2], seed: 7 });
    expect(b).toEqual(a);
    const c = await learningCurve(input, { seeds: 2, ks: [2], seed: 8 });
    expect(c.points[0]?.baseline.values).not.toEqual(a.points[0]?.baseline.values);
  });

  it('refuses data without a held-out and a training image per class, and bad options', async () => {
    await expect(learningCurve(synthetic([5, 5, 1]))).rejects.toThrow(TrainingDataError);
    const input = synthetic([6, 6, 6]);
    await expect(learningCurve({ ...input, labels: input.labels.subarray(1) })).rejects.toThrow(/rows/);
    await expect(learningCurve(input, { heldOutFraction: 1 })).rejects.toThrow(RangeError);
    await expect(learningCurve(input, { ks: [0] })).rejects.toThrow(RangeError);
  });
});
