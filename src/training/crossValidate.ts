/**
 * Chooses the regularisation strength by stratified k-fold cross-validation. For each fold the
 * head is fitted along the lambda path; every row gets a held-out prediction for every lambda, and
 * the lambda whose out-of-fold predictions score best is chosen. Its out-of-fold probabilities
 * become the validation report (every image is predicted by a head that never saw it).
 *
 * Each lambda warm-starts from the previous one's solution. The linear head walks the path from
 * strong to weak regularisation (its loss is convex, so this changes only the cost). The MLP walks
 * from weak to strong, starting from the seeded initialisation: strong regularisation collapses its
 * hidden units, and a collapsed start could not recover at a weaker lambda.
 */
import { minimizeLbfgs, type LbfgsOptions } from './lbfgs.js';
import type { ForwardSession, LossSession } from './graphSessions.js';
import type { HeadShape } from './headLayout.js';
import { balancedTargets, gatherRows } from './rows.js';
import type { FoldSplit } from './stratifiedFolds.js';
import type { LambdaScore } from './types.js';

export interface CrossValidationInput {
  /** L2-normalised rows, row-major [N, D]. */
  x: Float64Array;
  labels: Int32Array;
  shape: HeadShape;
  lambdas: readonly number[];
  folds: readonly FoldSplit[];
  initial: Float64Array;
  /** Optimiser settings of each cross-validation fit. */
  fit: LbfgsOptions;
  loss: LossSession;
  forward: ForwardSession;
}

export interface CrossValidationResult {
  /** One score per lambda, in the order of `lambdas`. */
  scores: LambdaScore[];
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

export async function crossValidate(input: CrossValidationInput): Promise<CrossValidationResult> {
  const { x, labels, shape, lambdas, folds, loss, forward } = input;
  const { inputDim: dim, classes } = shape;
  const classCounts = new Array<number>(classes).fill(0);
  labels.forEach((c) => (classCounts[c] = (classCounts[c] as number) + 1));
  const tallies: Tally[] = lambdas.map(() => ({ correct: new Array<number>(classes).fill(0), nll: new Array<number>(classes).fill(0) }));
  // Parameters of every (fold, lambda), to recompute the chosen lambda's out-of-fold probabilities.
  const fitted: Float64Array[][] = [];
  const direction = shape.kind === 'linear' ? -1 : 1;
  const path = lambdas.map((lambda, index) => ({ lambda, index })).sort((a, b) => direction * (a.lambda - b.lambda));

  for (const split of folds) {
    const trainX = gatherRows(x, dim, split.train);
    const validX = gatherRows(x, dim, split.validation);
    loss.bind(trainX, balancedTargets(labels, split.train, classes), split.train.length);
    const perLambda = new Array<Float64Array>(lambdas.length);
    let theta = input.initial;
    for (const { lambda, index } of path) {
      theta = (await minimizeLbfgs(loss.objective(lambda), theta, input.fit)).x;
      perLambda[index] = theta;
      const { probabilities, predicted } = await forward.predict(validX, split.validation.length, theta);
      const tally = tallies[index] as Tally;
      split.validation.forEach((row, i) => {
        const c = labels[row] as number;
        if (predicted[i] === c) tally.correct[c] = (tally.correct[c] as number) + 1;
        const p = Math.max(probabilities[i * classes + c] as number, PROBABILITY_FLOOR);
        tally.nll[c] = (tally.nll[c] as number) - Math.log(p);
      });
    }
    fitted.push(perLambda);
  }

  const scores: LambdaScore[] = lambdas.map((lambda, i) => {
    const tally = tallies[i] as Tally;
    let recall = 0;
    let logLoss = 0;
    let correct = 0;
    for (let c = 0; c < classes; c++) {
      recall += (tally.correct[c] as number) / (classCounts[c] as number);
      logLoss += (tally.nll[c] as number) / (classCounts[c] as number);
      correct += tally.correct[c] as number;
    }
    return { lambda, balancedAccuracy: recall / classes, accuracy: correct / labels.length, logLoss: logLoss / classes };
  });
  const chosen = selectLambda(scores);

  const oofProbabilities = new Float64Array(labels.length * classes);
  const oofPredicted = new Int32Array(labels.length);
  for (const [f, split] of folds.entries()) {
    const theta = (fitted[f] as Float64Array[])[chosen] as Float64Array;
    const { probabilities, predicted } = await forward.predict(gatherRows(x, dim, split.validation), split.validation.length, theta);
    split.validation.forEach((row, i) => {
      oofProbabilities.set(probabilities.subarray(i * classes, (i + 1) * classes), row * classes);
      oofPredicted[row] = predicted[i] as number;
    });
  }
  return { scores, chosen, oofProbabilities, oofPredicted };
}
