/**
 * The learning curve of a text dataset: balanced accuracy on held-out texts against labelled texts
 * per class, with the protocol of the image curve (src/transfer/learningCurve.ts: seeded stratified
 * held-out splits, nested k-per-class samples, mean ± std over seeds), in the same shape, so the
 * report and the console draw it unchanged.
 *
 * Representations: TF-IDF + the sparse linear head, the model a text version trains when no encoder
 * is installed (there is then no second, no-transfer series to draw: it is the baseline itself).
 * The featuriser is fitted on each fit's training texts only, so no n-gram and no idf comes from a
 * held-out text; held-out texts are featurised with that vocabulary (unseen n-grams dropped).
 * Given a text encoder's embeddings of the same texts (an encoder version), the curve has the
 * image curve's two series: the encoder's embeddings + the dense linear head (the image curve's
 * FixedLambdaHead at its lambda = 0.1 / training examples, on the same fits' rows) as `embedding`,
 * TF-IDF as the no-transfer `baseline`; so the report shows where pretraining leads and by how much.
 *
 * Head: the sparse head's loss (class-balanced weighted mean log-loss, L2) at one fixed lambda
 * instead of its cross-validated grid, for the image curve's reasons (no second text of a class to
 * validate on at k = 1, noise at k = 2), from zero, to the cross-validation's gradient tolerance.
 * lambda = regularization / (training texts), see {@link DEFAULT_TEXT_CURVE_REGULARIZATION}.
 *
 * Cost rule: {@link textCurveOptions}.
 */
import { classificationMetrics } from '../training/metrics.js';
import { minimizeLbfgs } from '../training/lbfgs.js';
import type { Device } from '../backend/onnx.js';
import { normalizeEmbeddings } from '../training/graphSessions.js';
import {
  DEFAULT_CURVE_REGULARIZATION,
  FixedLambdaHead,
  measureCurve,
  type CurveFit,
  type CurvePoint,
  type CurveProtocolOptions,
  type CurveSeriesNames,
  type CurveStat,
  type MeasuredCurve,
  type MeasuredSeries,
} from '../transfer/learningCurve.js';
import { balancedWeights, predictSparse, sparseObjective } from './sparseHead.js';
import { TfidfFeaturizer, type NgramCounts, type TfidfOptions } from './tfidf.js';

/**
 * lambda * (training texts) of every fit: scikit-learn's C = 10 for these unit-norm rows (lambda =
 * 1 / (2 C n), see SPARSE_LAMBDAS), the image curve's choice. On banking77 (k = 5 and 20, seed 0)
 * 0.001 to 0.08 gave the same held-out balanced accuracy within 0.5 points (63.6-64.1%,
 * 82.4-82.6%); 0.5 lost 2 points at k = 20.
 */
export const DEFAULT_TEXT_CURVE_REGULARIZATION = 0.05;
/**
 * L-BFGS settings of a curve fit, looser than the sparse head's cross-validation (gradient 1e-4,
 * memory 10): on banking77's full curve (k = 1..20, 3 seeds, a loaded machine) 47 s of CPU
 * instead of 64 s for the same held-out balanced accuracy within 0.3 points at every k (33.2, 44.3,
 * 62.5, 73.9, 81.9% vs 33.0, 44.2, 62.6, 73.7, 81.8%): a curve point needs the fit's accuracy, not
 * its last digits.
 */
const CURVE_FIT = { gradientTolerance: 1e-3, memory: 5, functionTolerance: 1e-9, maxIterations: 500 } as const;
export const DEFAULT_TEXT_CURVE_SEEDS = 3;
export const TEXT_CURVE_SERIES = 'TF-IDF + linear head (no pretraining)';

export interface TextLearningCurveInput {
  texts: readonly string[];
  labels: Int32Array;
  classNames: readonly string[];
  /** A text encoder's embeddings of the same texts, row-major [N, dim]: measured beside TF-IDF. */
  encoder?: { name: string; embeddings: Float32Array; dim: number };
}

export interface TextLearningCurveOptions extends CurveProtocolOptions {
  /** Default {@link DEFAULT_TEXT_CURVE_REGULARIZATION}. */
  regularization?: number;
  /** The featuriser's options: the version's own (default: TfidfFeaturizer's). */
  tfidf?: TfidfOptions;
  /** Where the encoder series' head runs. Default 'cpu'. */
  device?: Device;
  /** Told of each fit once done: its training rows, the featuriser's width, the optimiser's iterations and the fit's CPU time (TF-IDF's). */
  onFit?: (fit: { k: number | 'all'; seed: number; train: readonly number[]; features: number; iterations: number; cpuMs: number }) => void;
}

/** 1-2-5 steps, as far as the data allows (ks at or above the smallest label's pool are skipped). */
export const TEXT_CURVE_KS: readonly number[] = Object.freeze([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]);
/** The encoder series' name (the TF-IDF one is then the baseline). */
export function encoderCurveSeries(encoder: string): string {
  return `${encoder} embedding + linear head`;
}

/** The cap's floor, so a small dataset (seconds to train) still gets k = 1, 2, 5. */
export const TEXT_CURVE_MIN_TEXTS = 2000;

/**
 * The cost rule: the curve's fits together train on at most max(N, 2,000) texts, N being the
 * version's training texts (summed over seeds and points; the largest points, "all" first, are
 * dropped until the rest fits). Each fit trains on a few texts per class, but with its own
 * vocabulary and from zero, and scores the seed's held-out texts (30%), counted once a seed.
 *
 * Measured (CPU seconds, 2-core machine under a load of 2-4, `nice`): banking77, 10,003 texts, 77
 * intents: the curve is k = 1, 2, 5, 10, 20 x 3 seeds (8,778 training texts in all; "all" would
 * train on 7,000 a seed and cost more than the rest together) and took 36 s beside the training's
 * 233 s (fitTfidfModel: 3-fold CV over 4 lambdas and the refit), +15%. At 10 per intent (770
 * texts) the floor keeps k = 1, 2, 5: 6 s beside 36 s, +17%; N alone would leave k = 1, 2.
 */
export function textCurveOptions(n: number): { ks: readonly number[]; seeds: number; maxTrainingExamples: number } {
  return { ks: TEXT_CURVE_KS, seeds: DEFAULT_TEXT_CURVE_SEEDS, maxTrainingExamples: Math.max(n, TEXT_CURVE_MIN_TEXTS) };
}

export async function textLearningCurve(input: TextLearningCurveInput, options: TextLearningCurveOptions = {}): Promise<MeasuredCurve> {
  const { labels, classNames, encoder } = input;
  if (encoder && encoder.embeddings.length !== labels.length * encoder.dim) {
    throw new RangeError(`text learning curve: ${labels.length} texts but ${encoder.embeddings.length / encoder.dim} embedding rows of ${encoder.name}`);
  }
  const protocol = { seeds: DEFAULT_TEXT_CURVE_SEEDS, ...options };
  // The TF-IDF series' strength; an encoder series is at the image curve's DEFAULT_CURVE_REGULARIZATION.
  const regularization = options.regularization ?? DEFAULT_TEXT_CURVE_REGULARIZATION;
  const tfidf = tfidfCurveScorer(input, options);
  if (!encoder) {
    const measured = await measureCurve(labels, classNames, protocol, async (fit) => ({ embedding: await tfidf(fit) }), 'texts');
    return curveOf(measured, { embedding: TEXT_CURVE_SERIES }, regularization);
  }
  const pretrained = await encoderCurveScorer(encoder, labels, classNames, options.device ?? 'cpu');
  try {
    const measured = await measureCurve(labels, classNames, protocol, async (fit) => ({ embedding: await pretrained.score(fit), baseline: await tfidf(fit) }), 'texts');
    return curveOf(measured, { embedding: encoderCurveSeries(encoder.name), baseline: TEXT_CURVE_SERIES }, regularization);
  } finally {
    await pretrained.release();
  }
}

/** A measured series in the shape model.json keeps (the baseline only where one was measured). */
function curveOf(measured: MeasuredSeries<'embedding'>, series: CurveSeriesNames, regularization: number): MeasuredCurve {
  const points: CurvePoint[] = measured.points.map(({ scores, ...point }) => {
    // An encoder curve's scores also hold the TF-IDF baseline (MeasuredSeries<'embedding' | 'baseline'>).
    const { baseline } = scores as Partial<Record<'baseline', CurveStat>>;
    return { ...point, embedding: scores.embedding, ...(baseline ? { baseline } : {}) };
  });
  return { points, heldOut: measured.heldOut, regularization, metric: 'balancedAccuracy', skipped: measured.skipped, series };
}

/** One curve fit of an encoder's embeddings + the dense head (the image curve's, at its lambda): its held-out balanced accuracy. */
async function encoderCurveScorer(
  encoder: NonNullable<TextLearningCurveInput['encoder']>,
  labels: Int32Array,
  classNames: readonly string[],
  device: Device,
): Promise<{ score: (fit: CurveFit) => Promise<number>; release: () => Promise<void> }> {
  const head = await FixedLambdaHead.create(encoder.dim, classNames.length, device);
  try {
    // L2 normalisation is per row: once for every fit.
    const embeddings = await normalizeEmbeddings(encoder.embeddings, labels.length, encoder.dim, device);
    return {
      score: (fit) => head.score(embeddings, labels, fit.train, fit.heldOut, DEFAULT_CURVE_REGULARIZATION / fit.train.length, classNames),
      release: () => head.release(),
    };
  } catch (error) {
    await head.release();
    throw error;
  }
}

/** One curve fit of TF-IDF + the sparse head: its held-out balanced accuracy. */
function tfidfCurveScorer(input: TextLearningCurveInput, options: TextLearningCurveOptions): (fit: CurveFit) => Promise<number> {
  const { texts, labels, classNames } = input;
  const classes = classNames.length;
  const regularization = options.regularization ?? DEFAULT_TEXT_CURVE_REGULARIZATION;
  // Every fit of a seed featurises its held-out texts, and its training texts are nested: their
  // n-gram counts (the same analysers every fit) are made once a seed, and dropped at the next.
  let countsSeed: number | undefined;
  const counted = new Map<number, NgramCounts>();
  const countsOf = (featurizer: TfidfFeaturizer, row: number): NgramCounts => {
    let c = counted.get(row);
    if (c === undefined) counted.set(row, (c = featurizer.count(texts[row] as string)));
    return c;
  };
  return async ({ train, heldOut, k, seed }) => {
    const started = process.cpuUsage();
    if (seed !== countsSeed) {
      counted.clear();
      countsSeed = seed;
    }
    const featurizer = TfidfFeaturizer.fit(
      train.map((r) => texts[r] as string),
      options.tfidf,
    );
    const rows = train.map((r) => featurizer.transformCounts(countsOf(featurizer, r)));
    const local = Int32Array.from(train, (r) => labels[r] as number);
    const members = Int32Array.from(train, (_, i) => i);
    const features = featurizer.dimension;
    const objective = sparseObjective(rows, local, members, balancedWeights(local, members, classes), features, classes, regularization / train.length);
    const fit = await minimizeLbfgs(objective, new Float64Array(features * classes + classes), CURVE_FIT);
    const head = { features, classes, weights: Float32Array.from(fit.x.subarray(0, features * classes)), bias: Float32Array.from(fit.x.subarray(features * classes)) };
    const predicted = Int32Array.from(heldOut, (r) => argmax(predictSparse(head, featurizer.transformCounts(countsOf(featurizer, r)))));
    const truth = Int32Array.from(heldOut, (r) => labels[r] as number);
    const cpu = process.cpuUsage(started);
    options.onFit?.({ k, seed, train, features, iterations: fit.iterations, cpuMs: (cpu.user + cpu.system) / 1000 });
    return classificationMetrics(truth, predicted, classNames).balancedAccuracy;
  };
}

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < p.length; k++) if ((p[k] as number) > (p[best] as number)) best = k;
  return best;
}
