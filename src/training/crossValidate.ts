/**
 * Chooses the regularisation strength by stratified k-fold cross-validation. For each fold the
 * head is fitted along the lambda path; every row gets a held-out prediction for every lambda, and
 * the lambda whose out-of-fold predictions score best is chosen. Its out-of-fold probabilities
 * become the validation report (every image is predicted by a head that never saw it).
 *
 * The lambdas come in rounds from a {@link LambdaSearch} (cvPlan.ts: coarse to fine, extended past
 * a winning edge); each round fits its lambdas on every fold, each warm-started from the fold's
 * nearest lambda already fitted. The loss sees the matrix through {@link FoldLoss} (one fold's rows
 * at a time, no per-fold copies kept).
 */
import type { LambdaSearch } from './cvPlan.js';
import { predictRows, type FoldLoss, type RowData } from './foldLoss.js';
import { minimizeLbfgs, type LbfgsOptions } from './lbfgs.js';
import type { ForwardSession } from './graphSessions.js';
import type { HeadShape } from './headLayout.js';
import type { FoldSplit } from './stratifiedFolds.js';
import type { LambdaScore } from './types.js';

export interface CrossValidationInput {
  /** The training rows (raw, with their inverse norms). */
  data: RowData;
  shape: HeadShape;
  /** Which lambdas to fit, and when to stop (cvPlan.ts). */
  search: LambdaSearch;
  folds: readonly FoldSplit[];
  initial: Float64Array;
  /** Optimiser settings of each cross-validation fit. */
  fit: LbfgsOptions;
  loss: FoldLoss;
  forward: ForwardSession;
}

export interface CrossValidationResult {
  /** One score per lambda fitted, strongest first. */
  scores: LambdaScore[];
  /** Index into `scores`. */
  chosen: number;
  /** Row-major [N, K] out-of-fold probabilities at the chosen lambda. */
  oofProbabilities: Float64Array;
  oofPredicted: Int32Array;
}

/** Per-lambda running totals over the folds: enough to score without keeping every probability. */
interface Tally {
  /** correct[c]: held-out rows of class c predicted right. */
  correct: number[];
  /** nll[c]: summed negative log-likelihood of class c's held-out rows. */
  nll: number[];
}

/** Smallest probability used in the log-loss, as scikit-learn clips. */
const PROBABILITY_FLOOR = 1e-15;

export const SELECTION_RULE = 'highest out-of-fold balanced accuracy; ties -> lower balanced log-loss -> stronger lambda';

export function selectLambda(scores: readonly LambdaScore[]): number {
  let best = 0;
  scores.forEach((s, i) => {
    const b = scores[best] as LambdaScore;
    const tolerance = 1e-9;
    if (s.balancedAccuracy > b.balancedAccuracy + tolerance) best = i;
    else if (Math.abs(s.balancedAccuracy - b.balancedAccuracy) <= tolerance) {
      if (s.logLoss < b.logLoss - tolerance) best = i;
      else if (Math.abs(s.logLoss - b.logLoss) <= tolerance && s.lambda > b.lambda) best = i;
    }
  });
  return best;
}

/** The fitted parameters of the lambda nearest to `lambda` (in log scale) among those fitted. */
function nearestStart(fitted: Map<number, Float64Array>, lambda: number, fallback: Float64Array): Float64Array {
  let best: Float64Array | undefined;
  let distance = Infinity;
  for (const [l, theta] of fitted) {
    const gap = Math.abs(Math.log(l) - Math.log(lambda));
    // Equal gaps: start from the stronger one (its solution is the smoother start).
    if (gap < distance - 1e-12 || (Math.abs(gap - distance) <= 1e-12 && best !== undefined && l > lambda)) {
      best = theta;
      distance = gap;
    }
  }
  return best ?? fallback;
}

export async function crossValidate(input: CrossValidationInput): Promise<CrossValidationResult> {
  const { data, shape, search, folds, loss, forward } = input;
  const { labels } = data;
  const classes = shape.classes;
  const classCounts = new Array<number>(classes).fill(0);
  labels.forEach((c) => (classCounts[c] = (classCounts[c] as number) + 1));
  const tallies = new Map<number, Tally>();
  // Parameters of every (fold, lambda), to warm-start later lambdas and recompute the chosen one's
  // out-of-fold probabilities.
  const fitted: Map<number, Float64Array>[] = folds.map(() => new Map());
  // The linear head walks from strong to weak (convex: order changes only the cost); the MLP from
  // weak to strong, starting from the seeded initialisation, since strong regularisation collapses
  // its hidden units and a collapsed start could not recover at a weaker lambda.
  const linear = shape.kind === 'linear';

  const fitLambdas = async (lambdas: readonly number[]): Promise<void> => {
    const path = [...lambdas].sort((a, b) => (linear ? b - a : a - b));
    for (const l of path) tallies.set(l, { correct: new Array<number>(classes).fill(0), nll: new Array<number>(classes).fill(0) });
    for (const [f, split] of folds.entries()) {
      loss.useRows(split.train);
      const perLambda = fitted[f] as Map<number, Float64Array>;
      let previous: Float64Array | undefined;
      for (const lambda of path) {
        const start = linear ? nearestStart(perLambda, lambda, input.initial) : (previous ?? input.initial);
        const theta = (await minimizeLbfgs(loss.objective(lambda), start, input.fit)).x;
        perLambda.set(lambda, theta);
        previous = theta;
        const { probabilities, predicted } = await predictRows(forward, data, split.validation, theta);
        const tally = tallies.get(lambda) as Tally;
        split.validation.forEach((row, i) => {
          const c = labels[row] as number;
          if (predicted[i] === c) tally.correct[c] = (tally.correct[c] as number) + 1;
          const p = Math.max(probabilities[i * classes + c] as number, PROBABILITY_FLOOR);
          tally.nll[c] = (tally.nll[c] as number) - Math.log(p);
        });
      }
    }
  };

  const score = (lambda: number): LambdaScore => {
    const tally = tallies.get(lambda) as Tally;
    let recall = 0;
    let logLoss = 0;
    let correct = 0;
    for (let c = 0; c < classes; c++) {
      recall += (tally.correct[c] as number) / (classCounts[c] as number);
      logLoss += (tally.nll[c] as number) / (classCounts[c] as number);
      correct += tally.correct[c] as number;
    }
    return { lambda, balancedAccuracy: recall / classes, accuracy: correct / labels.length, logLoss: logLoss / classes };
  };

  let scores: LambdaScore[] = [];
  for (let next = search.initial; next.length > 0; next = search.next(scores)) {
    await fitLambdas(next.filter((l) => !tallies.has(l)));
    scores = [...tallies.keys()].sort((a, b) => b - a).map(score);
  }
  const chosen = selectLambda(scores);
  const lambda = (scores[chosen] as LambdaScore).lambda;

  const oofProbabilities = new Float64Array(labels.length * classes);
  const oofPredicted = new Int32Array(labels.length);
  for (const [f, split] of folds.entries()) {
    const theta = (fitted[f] as Map<number, Float64Array>).get(lambda) as Float64Array;
    const { probabilities, predicted } = await predictRows(forward, data, split.validation, theta);
    split.validation.forEach((row, i) => {
      oofProbabilities.set(probabilities.subarray(i * classes, (i + 1) * classes), row * classes);
      oofPredicted[row] = predicted[i] as number;
    });
  }
  return { scores, chosen, oofProbabilities, oofPredicted };
}
