import { describe, expect, it } from 'vitest';
import { BadRequestError, TrainingDataError } from '../../../src/errors.js';
import { ForwardSession, LossSession, normalizeEmbeddings } from '../../../src/training/graphSessions.js';
import { headShape } from '../../../src/training/headLayout.js';
import { minimizeLbfgs } from '../../../src/training/lbfgs.js';
import { classificationMetrics } from '../../../src/training/metrics.js';
import { predictHead } from '../../../src/training/predictHead.js';
import { createRandom } from '../../../src/training/random.js';
import { balancedTargets } from '../../../src/training/rows.js';
import { trainHead } from '../../../src/training/trainHead.js';
import type { TrainingData } from '../../../src/training/types.js';

/**
 * Gaussian classes in `dim` dimensions: class c is centred on `separation` along axis c, plus a
 * constant offset on the last axis so L2 normalisation keeps the classes apart (embeddings are
 * non-negative and far from the origin too).
 */
function gaussianClasses(counts: number[], dim: number, separation: number, seed: number): TrainingData {
  const random = createRandom(seed);
  const n = counts.reduce((a, b) => a + b, 0);
  const embeddings = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  let row = 0;
  counts.forEach((count, c) => {
    for (let i = 0; i < count; i++, row++) {
      labels[row] = c;
      for (let j = 0; j < dim; j++) embeddings[row * dim + j] = random.normal() + (j === c ? separation : 0) + (j === dim - 1 ? 4 : 0);
    }
  });
  return { embeddings, dims: [n, dim], labels, classNames: counts.map((_, c) => `class${c}`) };
}

function argmaxRows(probabilities: ArrayLike<number>, k: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < probabilities.length / k; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probabilities[r * k + c] as number) > (probabilities[r * k + best] as number)) best = c;
    out.push(best);
  }
  return out;
}

describe('trainHead', () => {
  const data = gaussianClasses([20, 20, 20], 12, 2.5, 1);

  it('returns a linear head with out-of-fold validation and a training curve', async () => {
    const head = await trainHead(data, { seed: 3 });
    expect(head.kind).toBe('linear');
    expect(head.params.layers).toHaveLength(1);
    expect(head.params.layers[0]).toMatchObject({ inputs: 12, outputs: 3 });
    expect(head.classNames).toEqual(['class0', 'class1', 'class2']);
    expect(head.settings.lambdas).toContain(head.lambda);
    expect(head.lambdaScores).toHaveLength(head.settings.lambdas.length);
    expect(head.settings.folds).toBe(5);

    // Every row has a held-out probability row summing to 1, and the metrics are those rows' argmax.
    expect(head.oofProbabilities).toHaveLength(60 * 3);
    for (let r = 0; r < 60; r++) {
      const sum = head.oofProbabilities.subarray(r * 3, r * 3 + 3).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 5);
    }
    expect(Array.from(head.oofPredictions)).toEqual(argmaxRows(head.oofProbabilities, 3));
    const recomputed = classificationMetrics(data.labels, head.oofPredictions, head.classNames);
    expect(head.metrics.accuracy).toBe(recomputed.accuracy);
    expect(head.metrics.confusion).toEqual(recomputed.confusion);
    expect(head.metrics.n).toBe(60);
    expect(head.metrics.accuracy).toBeGreaterThan(0.8);

    // The final fit starts from zero weights, where the loss is log K (each row's term computed in
    // float32, summed in float64), and never goes up.
    expect(head.trainingCurve[0]).toBeCloseTo(Math.log(3), 6);
    for (let i = 1; i < head.trainingCurve.length; i++) expect(head.trainingCurve[i]).toBeLessThanOrEqual(head.trainingCurve[i - 1] as number);
    expect(head.finalFit.reason === 'gradient' || head.finalFit.reason === 'function').toBe(true);
    expect(head.timings.totalMs).toBeGreaterThan(0);
  });

  it('is bit-identical for the same seed and uses other folds for another seed', async () => {
    const options = { seed: 11, lambdas: [1e-2, 1e-3] };
    const a = await trainHead(data, options);
    const b = await trainHead(data, options);
    expect(Buffer.from(a.params.layers[0]!.weights.buffer).equals(Buffer.from(b.params.layers[0]!.weights.buffer))).toBe(true);
    expect(Buffer.from(a.params.layers[0]!.bias.buffer).equals(Buffer.from(b.params.layers[0]!.bias.buffer))).toBe(true);
    expect(Buffer.from(a.oofProbabilities.buffer).equals(Buffer.from(b.oofProbabilities.buffer))).toBe(true);
    expect(a.trainingCurve).toEqual(b.trainingCurve);
    const c = await trainHead(data, { ...options, seed: 12 });
    expect(Array.from(c.folds)).not.toEqual(Array.from(a.folds));
  });

  it('trains a deterministic one-hidden-layer head', async () => {
    const options = { hidden: 6, seed: 2, lambdas: [1e-3], maxIterations: 60 };
    const a = await trainHead(data, options);
    const b = await trainHead(data, options);
    expect(a.kind).toBe('mlp');
    expect(a.params.layers.map((l) => [l.inputs, l.outputs])).toEqual([
      [12, 6],
      [6, 3],
    ]);
    expect(Buffer.from(a.params.layers[0]!.weights.buffer).equals(Buffer.from(b.params.layers[0]!.weights.buffer))).toBe(true);
    expect(a.metrics.accuracy).toBeGreaterThan(0.8);
    // The trainer's own forward pass agrees with its out-of-fold report on the training rows' shape.
    const probabilities = await predictHead(a, data.embeddings, 60);
    expect(probabilities).toHaveLength(180);
  });

  it('caps the folds at the smallest class count', async () => {
    const small = gaussianClasses([3, 8], 6, 3, 4);
    const head = await trainHead(small, { lambdas: [1e-2] });
    expect(head.settings.foldsRequested).toBe(5);
    expect(head.settings.folds).toBe(3);
    expect(head.metrics.folds).toBe(3);
  });

  it('weights classes so a rare class is not drowned by a common one', async () => {
    // 90 vs 10 overlapping examples; judged on a fresh balanced sample of the same distribution.
    const train = gaussianClasses([90, 10], 8, 1.2, 5);
    const test = gaussianClasses([400, 400], 8, 1.2, 6);
    const lambda = 1e-2;
    const head = await trainHead(train, { lambdas: [lambda] });
    const balancedRecall = classificationMetrics(test.labels, argmaxRows(await predictHead(head, test.embeddings, 800), 2), test.classNames).perClass['class1']!.recall;

    // The same model fitted without class weights (every row weighs 1/n).
    const shape = headShape(8, 2);
    const loss = await LossSession.create(shape, 'cpu');
    const forward = await ForwardSession.create(shape, 'cpu');
    const x = await normalizeEmbeddings(train.embeddings, 100, 8, 'cpu');
    const unweighted = new Float64Array(200);
    train.labels.forEach((c, i) => (unweighted[i * 2 + c] = 1 / 100));
    loss.bind(x, unweighted, 100);
    const fit = await minimizeLbfgs(loss.objective(lambda), new Float64Array(18), { gradientTolerance: 1e-6 });
    const predicted = (await forward.predict(await normalizeEmbeddings(test.embeddings, 800, 8, 'cpu'), 800, fit.x)).predicted;
    const unweightedRecall = classificationMetrics(test.labels, predicted, test.classNames).perClass['class1']!.recall;
    await loss.release();
    await forward.release();

    expect(balancedRecall).toBeGreaterThan(0.6);
    expect(balancedRecall - unweightedRecall).toBeGreaterThan(0.25);
  });
});

describe('balancedTargets', () => {
  it('gives every class the same total weight, 1/K, and all rows together 1', () => {
    const labels = Int32Array.of(0, 0, 0, 1, 2, 2);
    const targets = balancedTargets(labels, Int32Array.of(0, 1, 2, 3, 4, 5), 3);
    const perClass = [0, 1, 2].map((c) => labels.reduce((s, l, i) => s + (targets[i * 3 + c] as number), 0));
    perClass.forEach((w) => expect(w).toBeCloseTo(1 / 3, 15));
    expect(targets[0]).toBeCloseTo(1 / 9, 15);
    expect(targets[3 * 3 + 1]).toBeCloseTo(1 / 3, 15);
  });
});

describe('trainHead refuses data it cannot train', () => {
  const ok = gaussianClasses([3, 3], 4, 2, 0);

  it('fewer than 2 classes', async () => {
    await expect(trainHead({ ...ok, labels: new Int32Array(6), classNames: ['only'] })).rejects.toThrow(TrainingDataError);
    await expect(trainHead({ ...ok, labels: new Int32Array(6), classNames: ['only'] })).rejects.toThrow(/at least 2 classes.*"only"/);
  });

  it('a class with fewer than 2 examples, naming it', async () => {
    const labels = Int32Array.of(0, 0, 0, 0, 0, 1);
    await expect(trainHead({ ...ok, labels, classNames: ['ants', 'bees'] })).rejects.toThrow(/"bees" \(1\)/);
    await expect(trainHead({ ...ok, labels: new Int32Array(6), classNames: ['ants', 'bees'] })).rejects.toThrow(/"bees" \(0\)/);
  });

  it('embeddings that do not match dims, and labels that do not match rows', async () => {
    await expect(trainHead({ ...ok, dims: [6, 5] })).rejects.toThrow(/24 values, but dims \[6, 5\] need 30/);
    await expect(trainHead({ ...ok, labels: Int32Array.of(0, 1, 0, 1, 0) })).rejects.toThrow(/5 labels for 6 embeddings/);
    await expect(trainHead({ ...ok, dims: [0, 4], embeddings: new Float32Array(0) })).rejects.toThrow(TrainingDataError);
  });

  it('class indices outside the class names, and duplicate names', async () => {
    await expect(trainHead({ ...ok, labels: Int32Array.of(0, 1, 0, 1, 0, 2) })).rejects.toThrow(/class index 2/);
    await expect(trainHead({ ...ok, classNames: ['a', 'a'] })).rejects.toThrow(/distinct/);
  });

  it('non-finite embeddings', async () => {
    const embeddings = ok.embeddings.slice();
    embeddings[5] = Number.NaN;
    await expect(trainHead({ ...ok, embeddings })).rejects.toThrow(TrainingDataError);
  });

  it('invalid options', async () => {
    await expect(trainHead(ok, { lambdas: [] })).rejects.toThrow(BadRequestError);
    await expect(trainHead(ok, { lambdas: [0.1, -1] })).rejects.toThrow(/lambdas/);
    await expect(trainHead(ok, { folds: 1 })).rejects.toThrow(/folds/);
    await expect(trainHead(ok, { hidden: 2.5 })).rejects.toThrow(/hidden/);
    await expect(trainHead(ok, { threads: -1 })).rejects.toThrow(/threads/);
    await expect(trainHead(ok, { device: 'tpu' as 'cpu' })).rejects.toThrow(/device/);
  });
});
