/**
 * Trains a classification head on embeddings: multinomial logistic regression (or a one-hidden-layer
 * ReLU network) on L2-normalised embeddings, with a class-balanced loss (row weight n/(k*n_c),
 * normalised to a weighted mean) and L2 regularisation of the weights (not the biases).
 *
 * Protocol:
 * 1. L2-normalise the rows (in an ONNX graph; the exported head repeats it inside head.onnx).
 * 2. Stratified k-fold split (k = min(folds, smallest class count), seeded).
 * 3. For each fold, fit along the lambda path with L-BFGS; the loss and gradient over the data run
 *    in onnxruntime, the optimiser in JS. Choose lambda by out-of-fold balanced accuracy (ties:
 *    lower class-balanced log-loss, then the stronger lambda).
 * 4. Report validation metrics from the out-of-fold predictions at that lambda (every row is
 *    predicted by a head that never saw it, which matters when there are few images).
 * 5. Refit on all rows at that lambda; its objective per iteration is the training curve.
 *
 * Deterministic for a seed: the folds and the MLP's initial weights come from a seeded generator,
 * and the optimiser is plain sequential arithmetic (onnxruntime's CPU kernels are deterministic for
 * a fixed thread count).
 */
import { cudaAvailable } from '../backend/onnx.js';
import { BadRequestError, TrainingDataError } from '../errors.js';
import { crossValidate, SELECTION_RULE } from './crossValidate.js';
import { adaptiveSearch, defaultFolds, fixedSearch } from './cvPlan.js';
import { FoldLoss, type DataPlacement, type RowData } from './foldLoss.js';
import { ForwardSession } from './graphSessions.js';
import { headShape, initialParams, paramBlocks, type HeadShape } from './headLayout.js';
import { minimizeLbfgs, type LbfgsOptions } from './lbfgs.js';
import { classificationMetrics } from './metrics.js';
import { createRandom } from './random.js';
import { inverseRowNorms } from './rows.js';
import { foldSplits, stratifiedFolds } from './stratifiedFolds.js';
import { NORM_EPSILON, type TrainingDtype } from './trainingGraphs.js';
import type { HeadParams, TrainedHead, TrainingData, TrainOptions } from './types.js';

/**
 * Lambda grid of the linear head up to 10,000 rows (strength on the weighted mean loss),
 * half-decade steps; cvPlan.ts extends it for larger N and past a winning edge. It spans
 * scikit-learn's C in 0.01..100 for 200 to 1000 rows (lambda = 1 / (C * n)) and one decade beyond.
 */
export const DEFAULT_LAMBDAS: readonly number[] = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];
/** The MLP costs a hidden layer's worth more per evaluation and needs more iterations: a coarser grid. */
export const DEFAULT_MLP_LAMBDAS: readonly number[] = [1e-2, 1e-3, 1e-4];
/** Folds up to 20,000 rows (cvPlan.defaultFolds: fewer above). */
export const DEFAULT_FOLDS = 5;
/**
 * The data-sized arithmetic runs in float32: on the shared sets' embeddings it chose the same
 * lambdas with the same out-of-fold accuracy as float64 (bench/train.ts --dtypes measures it), at
 * half the memory and, on GPUs like the A10G and L4, a large multiple of the float64 speed.
 */
export const DEFAULT_DTYPE: TrainingDtype = 'float32';
export const DEFAULT_SEED = 0;
export const DEFAULT_MAX_ITERATIONS = 1000;
export const DEFAULT_MLP_MAX_ITERATIONS = 300;
/**
 * Cross-validation fits stop at a largest gradient component of 1e-5 (on the mean loss): on the
 * shared sets, 1e-6 chose the same lambdas at twice the cost, 1e-4 chose worse ones. The final fit,
 * one run, goes to 1e-6.
 */
const CV_GRADIENT_TOLERANCE = 1e-5;
const FINAL_GRADIENT_TOLERANCE = 1e-6;
const FUNCTION_TOLERANCE = 1e-10;

interface ResolvedOptions {
  hidden: number;
  /** The caller's grid, or the MLP's; undefined: the linear head's adaptive search. */
  lambdas: number[] | undefined;
  folds: number;
  seed: number;
  device: 'cpu' | 'cuda';
  threads: number;
  maxIterations: number;
  dtype: TrainingDtype;
}

function resolveOptions(options: TrainOptions, rows: number): ResolvedOptions {
  const hidden = options.hidden ?? 0;
  const lambdas = options.lambdas ? [...options.lambdas] : hidden > 0 ? [...DEFAULT_MLP_LAMBDAS] : undefined;
  const folds = options.folds ?? defaultFolds(rows);
  const seed = options.seed ?? DEFAULT_SEED;
  const maxIterations = options.maxIterations ?? (hidden > 0 ? DEFAULT_MLP_MAX_ITERATIONS : DEFAULT_MAX_ITERATIONS);
  const invalid = (what: string, value: unknown): never => {
    throw new BadRequestError(`invalid training option ${what}: ${JSON.stringify(value)}`, 'invalid_training_option', 400, { context: { option: what } });
  };
  if (!Number.isInteger(hidden) || hidden < 0) invalid('hidden (a non-negative integer)', hidden);
  if (lambdas !== undefined && (lambdas.length === 0 || lambdas.some((l) => !(Number.isFinite(l) && l > 0)))) invalid('lambdas (positive numbers)', lambdas);
  if (!Number.isInteger(folds) || folds < 2) invalid('folds (an integer >= 2)', folds);
  if (!Number.isInteger(seed)) invalid('seed (an integer)', seed);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) invalid('maxIterations (a positive integer)', maxIterations);
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) invalid('threads (a non-negative integer)', threads);
  const device = options.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') invalid("device ('cpu' or 'cuda')", device);
  const dtype = options.dtype ?? DEFAULT_DTYPE;
  if (dtype !== 'float32' && dtype !== 'float64') invalid("dtype ('float32' or 'float64')", dtype);
  if (options.placement !== undefined && options.placement !== 'fed' && options.placement !== 'resident') invalid("placement ('fed' or 'resident')", options.placement);
  return { hidden, lambdas, folds, seed, device, threads, maxIterations, dtype };
}

/** Throws TrainingDataError when the data cannot be trained; returns the per-class counts. */
export function validateTrainingData(data: TrainingData): number[] {
  const [n, d] = data.dims;
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1) {
    throw new TrainingDataError(`dims must be two positive integers [N, D], got [${n}, ${d}]`, { context: { dims: [n, d] } });
  }
  if (data.embeddings.length !== n * d) {
    throw new TrainingDataError(`embeddings hold ${data.embeddings.length} values, but dims [${n}, ${d}] need ${n * d}`, {
      context: { values: data.embeddings.length, dims: [n, d] },
    });
  }
  if (data.labels.length !== n) {
    throw new TrainingDataError(`${data.labels.length} labels for ${n} embeddings`, { context: { labels: data.labels.length, rows: n } });
  }
  const k = data.classNames.length;
  if (k < 2) {
    throw new TrainingDataError(`training needs at least 2 classes, got ${k}${k === 1 ? ` ("${data.classNames[0]}")` : ''}`, {
      context: { classes: [...data.classNames] },
    });
  }
  if (new Set(data.classNames).size !== k) {
    throw new TrainingDataError('class names must be distinct', { context: { classes: [...data.classNames] } });
  }
  const counts = new Array<number>(k).fill(0);
  data.labels.forEach((c, row) => {
    if (!(c >= 0 && c < k)) {
      throw new TrainingDataError(`row ${row} has class index ${c}, outside 0..${k - 1}`, { context: { row, label: c } });
    }
    counts[c] = (counts[c] as number) + 1;
  });
  const tooFew = data.classNames.filter((_, c) => (counts[c] as number) < 2);
  if (tooFew.length > 0) {
    const described = tooFew.map((name) => `"${name}" (${counts[data.classNames.indexOf(name)]})`).join(', ');
    throw new TrainingDataError(`every class needs at least 2 examples; too few: ${described}`, {
      context: { classes: Object.fromEntries(tooFew.map((name) => [name, counts[data.classNames.indexOf(name)]])) },
    });
  }
  return counts;
}

/** Splits the flat parameter vector into float32 dense layers. */
export function toHeadParams(shape: HeadShape, theta: Float64Array): HeadParams {
  const blocks = paramBlocks(shape);
  const layers = [];
  for (let i = 0; i < blocks.length; i += 2) {
    const weights = blocks[i]!;
    const bias = blocks[i + 1]!;
    layers.push({
      inputs: weights.dims[0] as number,
      outputs: weights.dims[1] as number,
      weights: new Float32Array(theta.subarray(weights.offset, weights.offset + weights.size)),
      bias: new Float32Array(theta.subarray(bias.offset, bias.offset + bias.size)),
    });
  }
  return { layers };
}

/** Where the graphs run: CUDA only where it is asked for and usable; the reason when it was not. */
function chooseDevice(requested: 'cpu' | 'cuda'): { device: 'cpu' | 'cuda'; fallback?: string } {
  if (requested === 'cpu') return { device: 'cpu' };
  if (!cudaAvailable()) return { device: 'cpu', fallback: 'CUDA requested, but no CUDA execution provider or NVIDIA driver on this machine: trained on the CPU' };
  return { device: 'cuda' };
}

interface Sessions {
  loss: FoldLoss;
  forward: ForwardSession;
}

async function openSessions(shape: HeadShape, rows: RowData, resolved: ResolvedOptions, device: 'cpu' | 'cuda', placement: DataPlacement): Promise<Sessions> {
  const runtime = { device, ...(resolved.threads > 0 ? { intraOpThreads: resolved.threads } : {}) };
  const loss = await FoldLoss.create(shape, rows, { runtime, dtype: resolved.dtype, placement });
  try {
    return { loss, forward: await ForwardSession.create(shape, runtime, { dtype: resolved.dtype }) };
  } catch (error) {
    await loss.release();
    throw error;
  }
}

export async function trainHead(data: TrainingData, options: TrainOptions = {}): Promise<TrainedHead> {
  const started = performance.now();
  const counts = validateTrainingData(data);
  const [n, d] = data.dims;
  const resolved = resolveOptions(options, n);
  const classes = data.classNames.length;
  const shape = headShape(d, classes, resolved.hidden);
  const folds = Math.min(resolved.folds, Math.min(...counts));
  const cvFit: LbfgsOptions = { maxIterations: resolved.maxIterations, gradientTolerance: CV_GRADIENT_TOLERANCE, functionTolerance: FUNCTION_TOLERANCE };
  const finalFit: LbfgsOptions = { ...cvFit, gradientTolerance: FINAL_GRADIENT_TOLERANCE };
  const search = resolved.lambdas ? fixedSearch(resolved.lambdas) : adaptiveSearch(n, n * d * classes);

  // The matrix is used as it is: the graphs scale each row by its inverse norm (no normalised copy).
  const rows: RowData = { x: data.embeddings, rows: n, dim: d, scale: inverseRowNorms(data.embeddings, n, d, NORM_EPSILON, resolved.dtype), labels: data.labels, classes };
  const normalized = performance.now();

  // Separate streams, so changing the number of folds does not change the MLP's initial weights.
  const foldOf = stratifiedFolds(data.labels, classes, folds, createRandom(resolved.seed));
  const initial = initialParams(shape, createRandom(resolved.seed + 0x9e3779b9));

  let { device, fallback } = chooseDevice(resolved.device);
  let placement: DataPlacement = options.placement ?? (device === 'cuda' ? 'resident' : 'fed');
  let sessions: Sessions;
  try {
    sessions = await openSessions(shape, rows, resolved, device, placement);
  } catch (error) {
    if (device !== 'cuda') throw error;
    fallback = `CUDA sessions failed to open (${(error as Error).message}): trained on the CPU`;
    device = 'cpu';
    placement = options.placement ?? 'fed';
    sessions = await openSessions(shape, rows, resolved, device, placement);
  }
  const { loss, forward } = sessions;
  try {
    const cv = await crossValidate({ data: rows, shape, search, folds: foldSplits(foldOf, folds), initial, fit: cvFit, loss, forward });
    const validated = performance.now();
    const lambda = cv.scores[cv.chosen]!.lambda;

    loss.useRows(Int32Array.from({ length: n }, (_, i) => i));
    const final = await minimizeLbfgs(loss.objective(lambda), initial, finalFit);
    const finished = performance.now();

    const classNames = [...data.classNames];
    const metrics = classificationMetrics(data.labels, cv.oofPredicted, classNames);
    const chosenScore = cv.scores[cv.chosen]!;
    return {
      kind: shape.kind,
      params: toHeadParams(shape, final.x),
      lambda,
      classNames,
      metrics: { ...metrics, logLoss: chosenScore.logLoss, folds },
      oofProbabilities: new Float32Array(cv.oofProbabilities),
      oofPredictions: cv.oofPredicted,
      folds: foldOf,
      trainingCurve: final.history,
      lambdaScores: cv.scores,
      finalFit: { iterations: final.iterations, evaluations: final.evaluations, reason: final.reason },
      settings: {
        kind: shape.kind,
        hidden: shape.hidden,
        lambdas: cv.scores.map((s) => s.lambda),
        lambdaSearch: search.rule,
        foldsRequested: resolved.folds,
        folds,
        seed: resolved.seed,
        device,
        deviceRequested: resolved.device,
        ...(fallback ? { deviceFallback: fallback } : {}),
        dtype: resolved.dtype,
        placement,
        threads: resolved.threads,
        maxIterations: resolved.maxIterations,
        normalization: 'l2',
        classWeighting: 'balanced',
        selection: SELECTION_RULE,
      },
      timings: {
        normalizeMs: normalized - started,
        crossValidationMs: validated - normalized,
        refitMs: finished - validated,
        totalMs: finished - started,
      },
    };
  } finally {
    await loss.release();
    await forward.release();
  }
}
