/**
 * The linear head on sparse TF-IDF rows: multinomial logistic regression with the loss, weighting
 * and protocol of src/training/trainHead.ts (class-balanced weighted mean log-loss, L2 on the
 * weights and not the biases, lambda by stratified k-fold cross-validation on out-of-fold balanced
 * accuracy, then a refit on all rows), and the same L-BFGS.
 *
 * Why not trainHead itself: it runs on dense [N, D] matrices in onnxruntime, and a TF-IDF matrix is
 * 10,000 x 44,000 for banking77 (1.8 GB dense) with ~170 non-zeros a row. Here the loss and gradient
 * loop over the non-zeros only: O(nnz x K) per evaluation instead of O(N x D x K) ({@link SparseLoss}).
 *
 * Folds: {@link defaultFolds}, the rule of the image trainer's CV plan (3 above 5,000 rows). What
 * is left of a fit's time is mostly L-BFGS's own vector arithmetic over the F x K parameters (its
 * two-loop recursion, about 40 F K a step): on 3,000 banking77 texts it was half the CPU time.
 */
import { BadRequestError, TrainingDataError } from '../errors.js';
import { selectLambda, SELECTION_RULE } from '../training/crossValidate.js';
import { defaultFolds } from '../training/cvPlan.js';
import { minimizeLbfgs, type Evaluation, type Objective } from '../training/lbfgs.js';
import { classificationMetrics, type ClassificationMetrics } from '../training/metrics.js';
import { createRandom } from '../training/random.js';
import { balancedWeights } from '../training/rows.js';
import { foldSplits, stratifiedFolds } from '../training/stratifiedFolds.js';
import type { LambdaScore } from '../training/types.js';
import type { SparseRow } from './tfidf.js';

/**
 * Lambda grid on the weighted mean loss, half-decade steps. For unit-norm rows lambda = 1 / (2 C n)
 * in scikit-learn's C (its TF-IDF rows have norm sqrt 2, so the same weights there are 1/sqrt 2 of
 * these): C = 6.5..220 for 770 texts (banking77, 10 per intent), 0.5..17 for 10,000. Four points,
 * because each costs one fit per fold. At the CV's gradient tolerance (1e-4, scikit-learn's too) the
 * two weakest are often one solution: 3e-6 starts from 1e-5's, whose gradient there is 7e-6 |w|,
 * already within the tolerance, so that fit stops at once and ties (the tie goes to the stronger).
 */
export const SPARSE_LAMBDAS: readonly number[] = [1e-4, 3e-5, 1e-5, 3e-6];

export interface SparseTrainOptions {
  lambdas?: readonly number[];
  folds?: number;
  seed?: number;
  maxIterations?: number;
}

export interface SparseLinearHead {
  features: number;
  classes: number;
  /** Row-major [features, classes]. */
  weights: Float32Array;
  bias: Float32Array;
}

export interface TrainedSparseHead {
  head: SparseLinearHead;
  lambda: number;
  classNames: string[];
  metrics: ClassificationMetrics & { logLoss: number; folds: number };
  lambdaScores: LambdaScore[];
  /** Row-major [N, K] out-of-fold probabilities at the chosen lambda. */
  oofProbabilities: Float32Array;
  folds: Int32Array;
  trainingCurve: number[];
  settings: { lambdas: number[]; folds: number; seed: number; selection: string; classWeighting: 'balanced'; maxIterations: number };
  timings: { crossValidationMs: number; refitMs: number };
}

const PROBABILITY_FLOOR = 1e-15;
/**
 * Stops on the largest gradient component of the mean loss: 1e-4 is scikit-learn's lbfgs default
 * (its gtol), for the cross-validation's fits and the final fit alike. The final fit once went a
 * decade further (1e-5): on banking77's full split the refit took 118 s of the head's 409 s and
 * scored 91.66% on the test split; at 1e-4, 62 s of 353 s and 91.75%, scikit-learn's figure
 * (`npx tsx bench/text.ts --tasks banking77_full`).
 */
const CV_GRADIENT_TOLERANCE = 1e-4;
const FINAL_GRADIENT_TOLERANCE = 1e-4;

/**
 * The rows of a training set in compressed sparse row form: three flat arrays instead of one
 * object per row, so the loss streams through memory and a fold's rows are one contiguous copy.
 */
export interface SparseMatrix {
  rows: number;
  /** Row r's entries are [offsets[r], offsets[r + 1]); length rows + 1. */
  offsets: Int32Array;
  /** Feature index of each entry, ascending within a row (as {@link SparseRow}). */
  indices: Int32Array;
  values: Float64Array;
}

/** The given rows (all of them, or `members` in that order) as one {@link SparseMatrix}. */
export function toSparseMatrix(rows: readonly SparseRow[], members?: Int32Array): SparseMatrix {
  const count = members ? members.length : rows.length;
  const pick = (i: number): SparseRow => rows[members ? (members[i] as number) : i] as SparseRow;
  const offsets = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) offsets[i + 1] = (offsets[i] as number) + pick(i).indices.length;
  const indices = new Int32Array(offsets[count] as number);
  const values = new Float64Array(offsets[count] as number);
  for (let i = 0; i < count; i++) {
    const row = pick(i);
    indices.set(row.indices, offsets[i] as number);
    values.set(row.values, offsets[i] as number);
  }
  return { rows: count, offsets, indices, values };
}

/** The chosen rows of a matrix, in the given order, as their own matrix. */
export function selectRows(matrix: SparseMatrix, members: Int32Array): SparseMatrix {
  const offsets = new Int32Array(members.length + 1);
  for (let i = 0; i < members.length; i++) {
    const r = members[i] as number;
    offsets[i + 1] = (offsets[i] as number) + (matrix.offsets[r + 1] as number) - (matrix.offsets[r] as number);
  }
  const indices = new Int32Array(offsets[members.length] as number);
  const values = new Float64Array(offsets[members.length] as number);
  for (let i = 0; i < members.length; i++) {
    const r = members[i] as number;
    const from = matrix.offsets[r] as number;
    const to = matrix.offsets[r + 1] as number;
    indices.set(matrix.indices.subarray(from, to), offsets[i] as number);
    values.set(matrix.values.subarray(from, to), offsets[i] as number);
  }
  return { rows: members.length, offsets, indices, values };
}

function isSparseMatrix(rows: readonly SparseRow[] | SparseMatrix): rows is SparseMatrix {
  return !Array.isArray(rows);
}

/** The entries of a matrix grouped by feature, rows ascending within a feature. */
interface ColumnEntries {
  /** Feature j's entries are [starts[j], starts[j + 1]). */
  starts: Int32Array;
  rows: Int32Array;
  values: Float64Array;
}

function byColumn(matrix: SparseMatrix, features: number): ColumnEntries {
  const starts = new Int32Array(features + 1);
  const { indices, values, offsets } = matrix;
  for (let t = 0; t < indices.length; t++) starts[(indices[t] as number) + 1]! += 1;
  for (let j = 0; j < features; j++) starts[j + 1]! += starts[j] as number;
  const next = starts.slice(0, features);
  const rows = new Int32Array(indices.length);
  const columnValues = new Float64Array(indices.length);
  for (let r = 0; r < matrix.rows; r++) {
    for (let t = offsets[r] as number; t < (offsets[r + 1] as number); t++) {
      const at = next[indices[t] as number]!++;
      rows[at] = r;
      columnValues[at] = values[t] as number;
    }
  }
  return { starts, rows, values: columnValues };
}

/**
 * out[at .. at + K) += the sum over entries e in [from, to) of values[e] * source[positions[e] * K .. + K):
 * a row's logits (source W, positions its features) and a feature's gradient (source the residuals,
 * positions its rows). Four entries at a time: each accumulator is loaded and stored once for four products.
 */
function addScaledRows(out: Float64Array, at: number, source: Float64Array, positions: Int32Array, values: Float64Array, from: number, to: number, K: number): void {
  let e = from;
  for (; e + 3 < to; e += 4) {
    const p0 = (positions[e] as number) * K;
    const p1 = (positions[e + 1] as number) * K;
    const p2 = (positions[e + 2] as number) * K;
    const p3 = (positions[e + 3] as number) * K;
    const v0 = values[e] as number;
    const v1 = values[e + 1] as number;
    const v2 = values[e + 2] as number;
    const v3 = values[e + 3] as number;
    for (let k = 0; k < K; k++) {
      out[at + k] = (out[at + k] as number) + v0 * (source[p0 + k] as number) + v1 * (source[p1 + k] as number) + v2 * (source[p2 + k] as number) + v3 * (source[p3 + k] as number);
    }
  }
  for (; e < to; e++) {
    const p = (positions[e] as number) * K;
    const v = values[e] as number;
    for (let k = 0; k < K; k++) out[at + k] = (out[at + k] as number) + v * (source[p + k] as number);
  }
}

/**
 * The loss of one training set (a fold's training rows, or all rows): weighted mean negative
 * log-likelihood + lambda/2 |W|^2 and its gradient, for any lambda.
 *
 * Cost: two passes over the non-zeros, O(nnz x K) each. The logits go row by row (row r's logits
 * are its entries times rows of W); the gradient of W goes feature by feature over the same entries
 * stored by column, so each row of the gradient is written once, in order, and the [rows, K]
 * residuals it reads are a quarter of W's size for banking77 (both through {@link addScaledRows}). Against the per-row
 * version (per-row objects, one entry at a time, both passes by row) this took 0.6 s instead of
 * 1.7 s of CPU per evaluation on banking77's 10,003 rows (77 classes, 43,948 features, 172
 * entries a row). The logits and the residuals share one [rows, K] buffer, allocated once; the
 * returned gradient is new at every evaluation because the line search keeps several.
 */
export class SparseLoss {
  private readonly columns: ColumnEntries;
  private readonly scratch: Float64Array;

  /** `labels` and `weights` are per row of `matrix`; the weights sum to 1 (a weighted mean). */
  constructor(
    readonly matrix: SparseMatrix,
    readonly labels: Int32Array,
    readonly weights: Float64Array,
    readonly features: number,
    readonly classes: number,
  ) {
    if (labels.length !== matrix.rows || weights.length !== matrix.rows) {
      throw new BadRequestError(`${matrix.rows} rows but ${labels.length} labels and ${weights.length} weights`, 'invalid_training_data');
    }
    this.columns = byColumn(matrix, features);
    this.scratch = new Float64Array(matrix.rows * classes);
  }

  objective(lambda: number): Objective {
    return async (theta) => this.evaluate(theta, lambda);
  }

  evaluate(theta: Float64Array, lambda: number): Evaluation {
    const K = this.classes;
    const weightCount = this.features * K;
    const { rows, offsets, indices, values } = this.matrix;
    const labels = this.labels;
    const weights = this.weights;
    const z = this.scratch;
    const g = new Float64Array(theta.length);
    let f = 0;
    for (let r = 0; r < rows; r++) {
      const zr = r * K;
      for (let k = 0; k < K; k++) z[zr + k] = theta[weightCount + k] as number;
      addScaledRows(z, zr, theta, indices, values, offsets[r] as number, offsets[r + 1] as number, K);
      // Softmax, the row's loss, then its residual w * (p - onehot(y)) in place of its logits.
      let max = -Infinity;
      for (let k = 0; k < K; k++) if ((z[zr + k] as number) > max) max = z[zr + k] as number;
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp((z[zr + k] as number) - max);
        z[zr + k] = e;
        sum += e;
      }
      const y = labels[r] as number;
      const w = weights[r] as number;
      f -= w * Math.log(Math.max((z[zr + y] as number) / sum, PROBABILITY_FLOOR));
      const scale = w / sum;
      for (let k = 0; k < K; k++) {
        const d = (z[zr + k] as number) * scale;
        z[zr + k] = d;
        g[weightCount + k] = (g[weightCount + k] as number) + d;
      }
      z[zr + y] = (z[zr + y] as number) - w;
      g[weightCount + y] = (g[weightCount + y] as number) - w;
    }
    const { starts, rows: entryRows, values: entryValues } = this.columns;
    let squares = 0;
    for (let j = 0; j < this.features; j++) {
      const gj = j * K;
      addScaledRows(g, gj, z, entryRows, entryValues, starts[j] as number, starts[j + 1] as number, K);
      for (let k = 0; k < K; k++) {
        const t = theta[gj + k] as number;
        squares += t * t;
        g[gj + k] = (g[gj + k] as number) + lambda * t;
      }
    }
    return { f: f + 0.5 * lambda * squares, g };
  }
}

/**
 * softmax(W'x + b) of entries [start, end) of a row into `out` (length K). W is row-major
 * [features, K]; the biases are `bias[biasAt .. biasAt + K)` (training keeps them after the
 * weights in one parameter vector). For held-out rows and serving, not the training loss.
 */
function probabilitiesInto(indices: Int32Array, values: ArrayLike<number>, start: number, end: number, weights: ArrayLike<number>, bias: ArrayLike<number>, biasAt: number, classes: number, out: Float64Array): void {
  for (let k = 0; k < classes; k++) out[k] = bias[biasAt + k] as number;
  for (let t = start; t < end; t++) {
    const base = (indices[t] as number) * classes;
    const v = values[t] as number;
    for (let k = 0; k < classes; k++) out[k] = (out[k] as number) + v * (weights[base + k] as number);
  }
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, out[k] as number);
  let sum = 0;
  for (let k = 0; k < classes; k++) sum += out[k] = Math.exp((out[k] as number) - max);
  for (let k = 0; k < classes; k++) out[k] = (out[k] as number) / sum;
}

/**
 * Weighted mean negative log-likelihood + lambda/2 |W|^2, and its gradient, over the given rows
 * (`labels` by row index, `weights` by position in `members`): a {@link SparseLoss} over a copy of those rows.
 */
export function sparseObjective(rows: readonly SparseRow[] | SparseMatrix, labels: Int32Array, members: Int32Array, weights: Float64Array, features: number, classes: number, lambda: number): Objective {
  const matrix = isSparseMatrix(rows) ? selectRows(rows, members) : toSparseMatrix(rows, members);
  return new SparseLoss(matrix, Int32Array.from(members, (r) => labels[r] as number), weights, features, classes).objective(lambda);
}

/** Row weights n/(k*n_c) of the members, normalised to sum to 1 (a weighted mean, as trainHead). */
export { balancedWeights };

function rowProbabilities(matrix: SparseMatrix, r: number, theta: Float64Array, features: number, classes: number, out: Float64Array): void {
  probabilitiesInto(matrix.indices, matrix.values, matrix.offsets[r] as number, matrix.offsets[r + 1] as number, theta, theta, features * classes, classes, out);
}

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < p.length; j++) if ((p[j] as number) > (p[best] as number)) best = j;
  return best;
}

/** Class probabilities of one featurised text. */
export function predictSparse(head: SparseLinearHead, row: SparseRow): Float64Array {
  const p = new Float64Array(head.classes);
  probabilitiesInto(row.indices, row.values, 0, row.indices.length, head.weights, head.bias, 0, head.classes, p);
  return p;
}

/**
 * Lambda by stratified k-fold cross-validation (k from {@link defaultFolds}: 5, or 3 above 5,000
 * rows, unless `options.folds`), then a refit on all rows at the chosen lambda.
 */
export async function trainSparseHead(rows: readonly SparseRow[] | SparseMatrix, labels: Int32Array, classNames: readonly string[], features: number, options: SparseTrainOptions = {}): Promise<TrainedSparseHead> {
  const classes = classNames.length;
  const lambdas = [...(options.lambdas ?? SPARSE_LAMBDAS)];
  const seed = options.seed ?? 0;
  const maxIterations = options.maxIterations ?? 500;
  const matrix = isSparseMatrix(rows) ? rows : toSparseMatrix(rows);
  if (matrix.rows !== labels.length) throw new BadRequestError(`${matrix.rows} rows but ${labels.length} labels`, 'invalid_training_data');
  const classCount = new Array<number>(classes).fill(0);
  labels.forEach((c) => (classCount[c] = (classCount[c] as number) + 1));
  const smallest = Math.min(...classCount);
  if (classes < 2 || smallest < 2) throw new TrainingDataError(`a TF-IDF head needs at least 2 labels with at least 2 texts each (smallest label has ${smallest})`);
  const k = Math.min(options.folds ?? defaultFolds(labels.length), smallest);
  const folds = stratifiedFolds(labels, classes, k, createRandom(seed));
  const splits = foldSplits(folds, k);
  const size = features * classes + classes;

  const cvStarted = Date.now();
  const correct = lambdas.map(() => new Array<number>(classes).fill(0));
  const nll = lambdas.map(() => new Array<number>(classes).fill(0));
  const oofByLambda = lambdas.map(() => new Float32Array(labels.length * classes));
  const predictedByLambda = lambdas.map(() => new Int32Array(labels.length));
  // The first fold's solutions, the refit's warm start (float32: a start only, and a quarter of
  // keeping every fold's float64 solution, which was 0.9 GB for clinc150).
  const firstFold: Float32Array[] = [];
  // Strong to weak: the loss is convex, warm starts only save iterations.
  const path = lambdas.map((lambda, index) => ({ lambda, index })).sort((a, b) => b.lambda - a.lambda);
  const p = new Float64Array(classes);
  // Each fold starts from the previous fold's solution at the strongest lambda: its rows overlap by
  // (k-2)/(k-1), so it starts near its own optimum and the convex loss makes the start irrelevant to the result.
  let foldStart: Float64Array = new Float64Array(size);
  for (const [f, split] of splits.entries()) {
    const loss = new SparseLoss(selectRows(matrix, split.train), Int32Array.from(split.train, (r) => labels[r] as number), balancedWeights(labels, split.train, classes), features, classes);
    let theta: Float64Array = foldStart;
    for (const { lambda, index } of path) {
      theta = (await minimizeLbfgs(loss.objective(lambda), theta, { maxIterations, gradientTolerance: CV_GRADIENT_TOLERANCE, functionTolerance: 1e-9 })).x;
      if (index === path[0]!.index) foldStart = theta;
      if (f === 0) firstFold[index] = Float32Array.from(theta);
      const oof = oofByLambda[index] as Float32Array;
      for (const r of split.validation) {
        rowProbabilities(matrix, r, theta, features, classes, p);
        oof.set(p, r * classes);
        const c = labels[r] as number;
        const predicted = argmax(p);
        predictedByLambda[index]![r] = predicted;
        if (predicted === c) correct[index]![c]! += 1;
        nll[index]![c]! -= Math.log(Math.max(p[c] as number, PROBABILITY_FLOOR));
      }
    }
  }
  const lambdaScores: LambdaScore[] = lambdas.map((lambda, i) => {
    let recall = 0;
    let loss = 0;
    let right = 0;
    for (let c = 0; c < classes; c++) {
      recall += correct[i]![c]! / classCount[c]!;
      loss += nll[i]![c]! / classCount[c]!;
      right += correct[i]![c]!;
    }
    return { lambda, balancedAccuracy: recall / classes, accuracy: right / labels.length, logLoss: loss / classes };
  });
  const chosen = selectLambda(lambdaScores);
  const oofProbabilities = oofByLambda[chosen] as Float32Array;
  const oofPredicted = predictedByLambda[chosen] as Int32Array;
  const crossValidationMs = Date.now() - cvStarted;

  const refitStarted = Date.now();
  const all = Int32Array.from(labels, (_, i) => i);
  const lambda = lambdas[chosen] as number;
  // Warm start from the chosen lambda's first-fold solution: same optimum, fewer iterations.
  const refit = new SparseLoss(matrix, labels, balancedWeights(labels, all, classes), features, classes);
  const final = await minimizeLbfgs(refit.objective(lambda), Float64Array.from(firstFold[chosen] as Float32Array), {
    maxIterations,
    gradientTolerance: FINAL_GRADIENT_TOLERANCE,
    functionTolerance: 1e-10,
  });
  const weights = Float32Array.from(final.x.subarray(0, features * classes));
  const bias = Float32Array.from(final.x.subarray(features * classes));

  let oofLoss = 0;
  for (let r = 0; r < labels.length; r++) oofLoss -= Math.log(Math.max(oofProbabilities[r * classes + (labels[r] as number)] as number, PROBABILITY_FLOOR)) / classCount[labels[r] as number]!;
  return {
    head: { features, classes, weights, bias },
    lambda,
    classNames: [...classNames],
    metrics: { ...classificationMetrics(labels, oofPredicted, classNames), logLoss: oofLoss / classes, folds: k },
    lambdaScores,
    oofProbabilities,
    folds,
    trainingCurve: final.history,
    settings: { lambdas, folds: k, seed, selection: SELECTION_RULE, classWeighting: 'balanced', maxIterations },
    timings: { crossValidationMs, refitMs: Date.now() - refitStarted },
  };
}
