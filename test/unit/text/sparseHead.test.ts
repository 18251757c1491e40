import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { SparseLoss, selectRows, sparseObjective, toSparseMatrix, trainSparseHead } from '../../../src/text/sparseHead.js';
import { TfidfFeaturizer, type SparseRow } from '../../../src/text/tfidf.js';
import { defaultFolds, LARGE_DATA_ROWS } from '../../../src/training/cvPlan.js';
import { balancedWeights } from '../../../src/training/rows.js';
import { datasetsDir } from '../../helpers/shared.js';

/** `n` banking77 training texts spread over the file (it is sorted by intent), featurised, with their intents as class indices. */
function banking77(n: number): { rows: SparseRow[]; labels: Int32Array; classes: number; features: number } {
  const all = parse(readFileSync(path.join(datasetsDir(), 'banking77', 'train.csv')), { columns: true }) as Array<{ text: string; category: string }>;
  const picked = Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]!);
  const names = [...new Set(picked.map((r) => r.category))].sort();
  const featurizer = TfidfFeaturizer.fit(picked.map((r) => r.text));
  return { rows: featurizer.transformAll(picked.map((r) => r.text)), labels: Int32Array.from(picked, (r) => names.indexOf(r.category)), classes: names.length, features: featurizer.dimension };
}

/** The loss written the plain way, one row object and one product at a time: what SparseLoss must equal. */
function referenceLoss(rows: readonly SparseRow[], labels: Int32Array, weights: Float64Array, features: number, classes: number, lambda: number, theta: Float64Array): { f: number; g: Float64Array } {
  const g = new Float64Array(theta.length);
  let f = 0;
  const biasAt = features * classes;
  rows.forEach((row, r) => {
    const z = Array.from({ length: classes }, (_, k) => theta[biasAt + k] as number);
    row.indices.forEach((j, t) => {
      for (let k = 0; k < classes; k++) z[k]! += (row.values[t] as number) * (theta[j * classes + k] as number);
    });
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    const y = labels[r] as number;
    const w = weights[r] as number;
    f -= w * Math.log((e[y] as number) / sum);
    const d = e.map((v, k) => w * (v / sum - (k === y ? 1 : 0)));
    for (let k = 0; k < classes; k++) g[biasAt + k]! += d[k] as number;
    row.indices.forEach((j, t) => {
      for (let k = 0; k < classes; k++) g[j * classes + k]! += (row.values[t] as number) * (d[k] as number);
    });
  });
  for (let i = 0; i < biasAt; i++) {
    f += 0.5 * lambda * (theta[i] as number) ** 2;
    g[i]! += lambda * (theta[i] as number);
  }
  return { f, g };
}

function maxAbsDifference(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe('sparse head on a flat CSR matrix', () => {
  const data = banking77(400);

  it('the CSR matrix holds every row, and selectRows copies the chosen ones in order', () => {
    const matrix = toSparseMatrix(data.rows);
    expect(matrix.rows).toBe(400);
    expect(matrix.offsets[400]).toBe(data.rows.reduce((a, r) => a + r.indices.length, 0));
    const chosen = selectRows(matrix, Int32Array.from([7, 2, 399]));
    [7, 2, 399].forEach((r, i) => {
      const from = chosen.offsets[i] as number;
      const to = chosen.offsets[i + 1] as number;
      expect(Array.from(chosen.indices.subarray(from, to))).toEqual(Array.from(data.rows[r]!.indices));
      expect(Array.from(chosen.values.subarray(from, to))).toEqual(Array.from(data.rows[r]!.values));
    });
    expect(toSparseMatrix(data.rows, Int32Array.from([7, 2, 399]))).toEqual(chosen);
  });

  it('the loss and gradient equal the plain per-row computation on real banking77 rows', async () => {
    const { rows, labels, classes, features } = data;
    const members = Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 400);
    const weights = balancedWeights(labels, members, classes);
    const theta = Float64Array.from({ length: features * classes + classes }, (_, i) => 0.3 * Math.sin(0.7 * i));
    const expected = referenceLoss(Array.from(members, (r) => rows[r] as SparseRow), Int32Array.from(members, (r) => labels[r] as number), weights, features, classes, 1e-3, theta);
    const fromRows = await sparseObjective(rows, labels, members, weights, features, classes, 1e-3)(theta);
    const fromMatrix = await sparseObjective(toSparseMatrix(rows), labels, members, weights, features, classes, 1e-3)(theta);
    // Equal up to the order of the sums (relative 1e-12).
    expect(Math.abs(fromRows.f - expected.f)).toBeLessThan(1e-12 * expected.f);
    expect(maxAbsDifference(fromRows.g, expected.g)).toBeLessThan(1e-12);
    expect(fromMatrix.f).toBe(fromRows.f);
    expect(maxAbsDifference(fromMatrix.g, fromRows.g)).toBe(0);
    // Evaluations reuse one buffer: a second point, then the first again, gives the first answer.
    const loss = new SparseLoss(selectRows(toSparseMatrix(rows), members), Int32Array.from(members, (r) => labels[r] as number), weights, features, classes);
    loss.evaluate(theta.map((v) => -v), 1e-3);
    const again = loss.evaluate(theta, 1e-3);
    expect(again.f).toBe(fromRows.f);
    expect(maxAbsDifference(again.g, fromRows.g)).toBe(0);
  });

  it('refuses labels or weights that do not match the rows', () => {
    const matrix = toSparseMatrix(data.rows.slice(0, 10));
    expect(() => new SparseLoss(matrix, new Int32Array(9), new Float64Array(10), data.features, data.classes)).toThrow(/10 rows but 9 labels and 10 weights/);
  });

  it(`takes the fold count of the CV plan when none is given (${defaultFolds(LARGE_DATA_ROWS)} folds up to ${LARGE_DATA_ROWS} rows, ${defaultFolds(LARGE_DATA_ROWS + 1)} above)`, async () => {
    // Two intents' real rows repeated to the rule's edge: what is tested is the fold count, so two short fits.
    const two = Array.from(data.labels.keys()).filter((r) => (data.labels[r] as number) < 2);
    const tiled = (n: number): { rows: SparseRow[]; labels: Int32Array } => ({
      rows: Array.from({ length: n }, (_, i) => data.rows[two[i % two.length] as number] as SparseRow),
      labels: Int32Array.from({ length: n }, (_, i) => data.labels[two[i % two.length] as number] as number),
    });
    for (const n of [LARGE_DATA_ROWS, LARGE_DATA_ROWS + 1]) {
      const { rows, labels } = tiled(n);
      const trained = await trainSparseHead(rows, labels, ['a', 'b'], data.features, { lambdas: [1e-2], maxIterations: 2 });
      expect(trained.settings.folds).toBe(defaultFolds(n));
      expect(new Set(trained.folds).size).toBe(defaultFolds(n));
    }
    expect(defaultFolds(LARGE_DATA_ROWS)).not.toBe(defaultFolds(LARGE_DATA_ROWS + 1));
    const { rows, labels } = tiled(LARGE_DATA_ROWS + 1);
    expect((await trainSparseHead(rows, labels, ['a', 'b'], data.features, { lambdas: [1e-2], maxIterations: 2, folds: 4 })).settings.folds).toBe(4);
  });
});
