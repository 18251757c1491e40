import { afterAll, describe, expect, it } from 'vitest';
import { LossSession, ForwardSession, normalizeEmbeddings } from '../../../src/training/graphSessions.js';
import { headShape, initialParams, paramBlocks, type HeadShape } from '../../../src/training/headLayout.js';
import { createRandom } from '../../../src/training/random.js';
import { TrainingDataError } from '../../../src/errors.js';

const sessions: Array<{ release(): Promise<void> }> = [];
afterAll(async () => {
  for (const s of sessions) await s.release();
});

/** A small problem: N rows of unit-norm features, K classes, uneven row weights. */
function problem(shape: HeadShape, n: number, seed: number) {
  const random = createRandom(seed);
  const x = new Float64Array(n * shape.inputDim);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < shape.inputDim; j++) norm += (x[i * shape.inputDim + j] = random.normal()) ** 2;
    for (let j = 0; j < shape.inputDim; j++) x[i * shape.inputDim + j] = (x[i * shape.inputDim + j] as number) / Math.sqrt(norm);
  }
  const labels = Int32Array.from({ length: n }, (_, i) => i % shape.classes);
  // Uneven weights summing to 1, as class balancing produces.
  const raw = Array.from({ length: n }, (_, i) => 1 + (i % 4));
  const total = raw.reduce((a, b) => a + b, 0);
  const targets = new Float64Array(n * shape.classes);
  labels.forEach((c, i) => (targets[i * shape.classes + c] = (raw[i] as number) / total));
  const theta = initialParams(shape, random);
  for (let i = 0; i < theta.length; i++) theta[i] = (theta[i] as number) + 0.5 * random.normal();
  return { x, labels, targets, theta, weights: raw.map((r) => r / total) };
}

/** The same loss written directly, per row, as a reference for the graph's value. */
function referenceLoss(shape: HeadShape, x: Float64Array, labels: Int32Array, weights: number[], theta: Float64Array, lambda: number): number {
  const blocks = new Map(paramBlocks(shape).map((b) => [b.name, theta.subarray(b.offset, b.offset + b.size)]));
  const dense = (input: number[], w: Float64Array, b: Float64Array, outputs: number) =>
    Array.from({ length: outputs }, (_, o) => input.reduce((s, v, i) => s + v * (w[i * outputs + o] as number), b[o] as number));
  let loss = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = Array.from(x.subarray(r * shape.inputDim, (r + 1) * shape.inputDim));
    const logits =
      shape.kind === 'linear'
        ? dense(row, blocks.get('W')!, blocks.get('b')!, shape.classes)
        : dense(dense(row, blocks.get('W1')!, blocks.get('b1')!, shape.hidden).map((v) => Math.max(0, v)), blocks.get('W2')!, blocks.get('b2')!, shape.classes);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
    loss += (weights[r] as number) * (lse - (logits[labels[r] as number] as number));
  }
  for (const block of paramBlocks(shape)) {
    if (block.regularised) loss += (lambda / 2) * blocks.get(block.name)!.reduce((s, v) => s + v * v, 0);
  }
  return loss;
}

describe.each([
  ['linear', headShape(6, 3)],
  ['mlp', headShape(6, 3, 5)],
])('%s loss graph', (_, shape) => {
  const lambda = 0.07;

  it('computes the class-weighted cross-entropy plus the L2 penalty', async () => {
    const { x, labels, targets, theta, weights } = problem(shape, 11, 1);
    const loss = await LossSession.create(shape, 'cpu');
    sessions.push(loss);
    loss.bind(x, targets, labels.length);
    const { f } = await loss.evaluate(theta, lambda);
    expect(f).toBeCloseTo(referenceLoss(shape, x, labels, weights, theta, lambda), 12);
  });

  it('has a gradient that matches central finite differences', async () => {
    const { x, labels, targets, theta } = problem(shape, 11, 2);
    const loss = await LossSession.create(shape, 'cpu');
    sessions.push(loss);
    loss.bind(x, targets, labels.length);
    const { g } = await loss.evaluate(theta, lambda);
    const h = 1e-6;
    let worst = 0;
    for (let i = 0; i < theta.length; i++) {
      const plus = theta.slice();
      const minus = theta.slice();
      plus[i] = (plus[i] as number) + h;
      minus[i] = (minus[i] as number) - h;
      const numeric = ((await loss.evaluate(plus, lambda)).f - (await loss.evaluate(minus, lambda)).f) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - (g[i] as number)) / Math.max(1, Math.abs(numeric)));
    }
    // Central differences in float64 are good to about h^2 + eps/h, i.e. ~1e-10 here.
    expect(worst).toBeLessThan(1e-8);
  });

  it('forward graph gives softmax probabilities consistent with the loss', async () => {
    const { x, labels, theta } = problem(shape, 7, 3);
    const forward = await ForwardSession.create(shape, 'cpu');
    sessions.push(forward);
    const { probabilities, predicted } = await forward.predict(x, labels.length, theta);
    expect(probabilities).toHaveLength(labels.length * shape.classes);
    for (let r = 0; r < labels.length; r++) {
      const row = Array.from(probabilities.subarray(r * shape.classes, (r + 1) * shape.classes));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(predicted[r]).toBe(row.indexOf(Math.max(...row)));
      // -log p[y] of one row with weight 1 is that row's loss term (lambda 0).
      const oneRow = new Float64Array(shape.classes);
      oneRow[labels[r] as number] = 1;
      const reference = referenceLoss(shape, x.subarray(r * shape.inputDim, (r + 1) * shape.inputDim), Int32Array.of(labels[r] as number), [1], theta, 0);
      expect(-Math.log(row[labels[r] as number] as number)).toBeCloseTo(reference, 10);
    }
  });
});

describe('normalizeEmbeddings', () => {
  it('scales each row to unit L2 norm and leaves an all-zero row at zero', async () => {
    const rows = Float32Array.of(3, 4, 0, 0, 0, 0, 1, 1, 1);
    const out = await normalizeEmbeddings(rows, 3, 3, 'cpu');
    expect(Array.from(out.subarray(0, 3))).toEqual([0.6, 0.8, 0]);
    expect(Array.from(out.subarray(3, 6))).toEqual([0, 0, 0]);
    out.subarray(6, 9).forEach((v) => expect(v).toBeCloseTo(1 / Math.sqrt(3), 7));
  });

  it('refuses NaN and infinite values', async () => {
    await expect(normalizeEmbeddings(Float32Array.of(1, Number.NaN, 0, Number.POSITIVE_INFINITY), 2, 2, 'cpu')).rejects.toThrow(TrainingDataError);
    await expect(normalizeEmbeddings(Float32Array.of(1, Number.NaN, 0, Number.POSITIVE_INFINITY), 2, 2, 'cpu')).rejects.toThrow(/2 non-finite/);
  });
});
