/**
 * The linear head on sparse TF-IDF rows: multinomial logistic regression with the loss, weighting
 * and protocol of src/training/trainHead.ts (class-balanced weighted mean log-loss, L2 on the
 * weights and not the biases, lambda by stratified k-fold cross-validation on out-of-fold balanced
 * accuracy, then a refit on all rows), and the same L-BFGS.
 *
 * Why not trainHead itself: it runs on dense [N, D] matrices in onnxruntime, and a TF-IDF matrix is
 * 10,000 x 44,000 for banking77 (1.8 GB dense) with ~170 non-zeros a row. Here the loss and gradient
 * loop over the non-zeros only: O(nnz x K) per evaluation instead of O(N x D x K).
 */
import { BadRequestError, TrainingDataError } from '../errors.js';
import { selectLambda, SELECTION_RULE } from '../training/crossValidate.js';
import { minimizeLbfgs, type Evaluation } from '../training/lbfgs.js';
import { classificationMetrics, type ClassificationMetrics } from '../training/metrics.js';
import { createRandom } from '../training/random.js';
import { foldSplits, stratifiedFolds } from '../training/stratifiedFolds.js';
import type { LambdaScore } from '../training/types.js';
import type { SparseRow } from './tfidf.js';

/**
 * Lambda grid on the weighted mean loss, half-decade steps. For unit-norm rows lambda = 1 / (2 C n)
 * in scikit-learn's C (its TF-IDF rows have norm sqrt 2): C = 0.6..170 for 770 texts (banking77,
 * 10 per intent), 5..17 for 10,000. Four points, because each costs five fits.
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
 * (its gtol); the final fit, a single run, goes a decade further.
 */
const CV_GRADIENT_TOLERANCE = 1e-4;
const FINAL_GRADIENT_TOLERANCE = 1e-5;

/**
 * softmax(W'x + b) of one row into `out` (length K). W is row-major [features, K]; the biases are
 * `bias[biasAt .. biasAt + K)` (training keeps them after the weights in one parameter vector).
 */
function probabilitiesInto(row: SparseRow, weights: ArrayLike<number>, bias: ArrayLike<number>, biasAt: number, classes: number, out: Float64Array): void {
  for (let k = 0; k < classes; k++) out[k] = bias[biasAt + k] as number;
  const { indices, values } = row;
  for (let t = 0; t < indices.length; t++) {
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

/** Weighted mean negative log-likelihood + lambda/2 |W|^2, and its gradient, over the given rows. */
export function sparseObjective(rows: readonly SparseRow[], labels: Int32Array, members: Int32Array, weights: Float64Array, features: number, classes: number, lambda: number) {
  const p = new Float64Array(classes);
  const weightCount = features * classes;
  return async (theta: Float64Array): Promise<Evaluation> => {
    const g = new Float64Array(theta.length);
    let f = 0;
    for (let m = 0; m < members.length; m++) {
      const r = members[m] as number;
      const row = rows[r] as SparseRow;
      const y = labels[r] as number;
      const w = weights[m] as number;
      rowProbabilities(row, theta, features, classes, p);
      f -= w * Math.log(Math.max(p[y] as number, PROBABILITY_FLOOR));
      p[y] = (p[y] as number) - 1;
      for (let k = 0; k < classes; k++) p[k] = (p[k] as number) * w;
      for (let k = 0; k < classes; k++) g[weightCount + k] = (g[weightCount + k] as number) + (p[k] as number);
      const { indices, values } = row;
      for (let t = 0; t < indices.length; t++) {
        const base = (indices[t] as number) * classes;
        const v = values[t] as number;
        for (let k = 0; k < classes; k++) g[base + k] = (g[base + k] as number) + v * (p[k] as number);
      }
    }
    for (let i = 0; i < weightCount; i++) {
      const t = theta[i] as number;
      f += 0.5 * lambda * t * t;
      g[i] = (g[i] as number) + lambda * t;
    }
    return { f, g };
  };
}

/** Row weights n/(k*n_c) of the members, divided by their sum (a weighted mean, as trainHead). */
export function balancedWeights(labels: Int32Array, members: Int32Array, classes: number): Float64Array {
  const count = new Array<number>(classes).fill(0);
  for (const r of members) count[labels[r] as number]! += 1;
  const present = count.filter((c) => c > 0).length;
  const w = Float64Array.from(members, (r) => members.length / (present * (count[labels[r] as number] as number)));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

function rowProbabilities(row: SparseRow, theta: Float64Array, features: number, classes: number, out: Float64Array): void {
  probabilitiesInto(row, theta, theta, features * classes, classes, out);
}

/** Class probabilities of one featurised text. */
export function predictSparse(head: SparseLinearHead, row: SparseRow): Float64Array {
  const p = new Float64Array(head.classes);
  probabilitiesInto(row, head.weights, head.bias, 0, head.classes, p);
  return p;
}

export async function trainSparseHead(rows: readonly SparseRow[], labels: Int32Array, classNames: readonly string[], features: number, options: SparseTrainOptions = {}): Promise<TrainedSparseHead> {
  const classes = classNames.length;
  const lambdas = [...(options.lambdas ?? SPARSE_LAMBDAS)];
  const seed = options.seed ?? 0;
  const maxIterations = options.maxIterations ?? 500;
  if (rows.length !== labels.length) throw new BadRequestError(`${rows.length} rows but ${labels.length} labels`, 'invalid_training_data');
  const classCount = new Array<number>(classes).fill(0);
  labels.forEach((c) => (classCount[c] = (classCount[c] as number) + 1));
  const smallest = Math.min(...classCount);
  if (classes < 2 || smallest < 2) throw new TrainingDataError(`a TF-IDF head needs at least 2 labels with at least 2 texts each (smallest label has ${smallest})`);
  const k = Math.min(options.folds ?? 5, smallest);
  const folds = stratifiedFolds(labels, classes, k, createRandom(seed));
  const splits = foldSplits(folds, k);
  const size = features * classes + classes;

  const cvStarted = Date.now();
  const correct = lambdas.map(() => new Array<number>(classes).fill(0));
  const nll = lambdas.map(() => new Array<number>(classes).fill(0));
  const fitted: Float64Array[][] = [];
  // Strong to weak: the loss is convex, warm starts only save iterations.
  const path = lambdas.map((lambda, index) => ({ lambda, index })).sort((a, b) => b.lambda - a.lambda);
  const p = new Float64Array(classes);
  // Each fold starts from the previous fold's solution at the strongest lambda: its rows overlap by
  // (k-2)/(k-1), so it starts near its own optimum and the convex loss makes the start irrelevant to the result.
  let foldStart: Float64Array = new Float64Array(size);
  for (const split of splits) {
    const w = balancedWeights(labels, split.train, classes);
    let theta: Float64Array = foldStart;
    const perLambda: Float64Array[] = [];
    for (const { lambda, index } of path) {
      theta = (await minimizeLbfgs(sparseObjective(rows, labels, split.train, w, features, classes, lambda), theta, { maxIterations, gradientTolerance: CV_GRADIENT_TOLERANCE, functionTolerance: 1e-9 })).x;
      perLambda[index] = theta;
      if (index === path[0]!.index) foldStart = theta;
      for (const r of split.validation) {
        rowProbabilities(rows[r] as SparseRow, theta, features, classes, p);
        const c = labels[r] as number;
        let best = 0;
        for (let j = 1; j < classes; j++) if ((p[j] as number) > (p[best] as number)) best = j;
        if (best === c) correct[index]![c]! += 1;
        nll[index]![c]! -= Math.log(Math.max(p[c] as number, PROBABILITY_FLOOR));
      }
    }
    fitted.push(perLambda);
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
  const oofProbabilities = new Float32Array(labels.length * classes);
  const oofPredicted = new Int32Array(labels.length);
  splits.forEach((split, f) => {
    const theta = fitted[f]![chosen]!;
    for (const r of split.validation) {
      rowProbabilities(rows[r] as SparseRow, theta, features, classes, p);
      oofProbabilities.set(p, r * classes);
      let best = 0;
      for (let j = 1; j < classes; j++) if ((p[j] as number) > (p[best] as number)) best = j;
      oofPredicted[r] = best;
    }
  });
  const crossValidationMs = Date.now() - cvStarted;

  const refitStarted = Date.now();
  const all = Int32Array.from(labels, (_, i) => i);
  const lambda = lambdas[chosen] as number;
  // Warm start from the chosen lambda's first-fold solution: same optimum, fewer iterations.
  const final = await minimizeLbfgs(sparseObjective(rows, labels, all, balancedWeights(labels, all, classes), features, classes, lambda), fitted[0]![chosen]!, {
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
