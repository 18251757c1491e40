/**
 * How accuracy grows with labelled images, with and without transfer. For k = 1, 2, 5, 10, 20 and
 * "all" images per class, several seeds each, the linear head is trained on k random images per
 * class and scored on held-out images, once on backbone embeddings and once on standardised pixels.
 * Transfer typically shows as a large lead at small k that may shrink as k grows.
 *
 * Protocol, per seed:
 * - A stratified held-out split, fixed for the seed: 30% of each class, at least 1 image (classes
 *   need 2 images: one to hold out, one to train on). Every k of the seed is scored on it, so the
 *   points of a curve differ only in the training images.
 * - k images per class drawn from the rest (nested: the k = 5 sample contains the k = 2 one, so
 *   the curve is not noisier than it must be). A k at or above the smallest class's pool is
 *   skipped, except "all", which trains on the whole pool.
 * - Pixels are standardised with mean and std of the k training images only (at k = 1 that leaves
 *   per-class differences; a pixel constant over them gets std 1): a model without pretraining has
 *   nothing else to learn its statistics from.
 * - The same head as trainHead (L2-normalised inputs, class-balanced softmax loss, L-BFGS), at a
 *   fixed regularisation instead of a cross-validated one: cross-validation cannot run at k = 1 (no
 *   second image of a class to validate on) and is pure noise at k = 2. lambda (trainHead's
 *   strength on the mean loss) is set to 0.1 / (training images), i.e. a fixed strength on the
 *   summed loss (scikit-learn's C = 10): strong at k = 1, weak at "all". Chosen on the shared
 *   datasets (train splits, 3 seeds): a fixed lambda of 1e-2 cost 6 points at "all" on
 *   Fashion-MNIST (79.4% vs 86.0% at 1e-4) and 1e-4 gained nothing at small k, while C = 10 matched
 *   the best fixed lambda within noise at every k; C = 1 was up to 4 points lower. With C = 10 the
 *   "all" points (5 seeds, bench/transfer.ts --curve) land near trainHead's cross-validated
 *   accuracy: hymenoptera 96.2% vs 97.1%, chest_xray 97.7% vs 96.5%, Fashion-MNIST 84.9% vs 85.3%.
 *
 * Scores are balanced accuracy on the held-out images, mean and (sample) std over seeds.
 */
import type { Device } from '../backend/onnx.js';
import { TrainingDataError } from '../errors.js';
import { ForwardSession, LossSession, normalizeEmbeddings } from '../training/graphSessions.js';
import { headShape, initialParams, type HeadShape } from '../training/headLayout.js';
import { minimizeLbfgs } from '../training/lbfgs.js';
import { classificationMetrics } from '../training/metrics.js';
import { createRandom, shuffleInPlace } from '../training/random.js';
import { balancedTargets, gatherRows } from '../training/rows.js';
import { rowsByClass } from '../training/stratifiedFolds.js';
import { fitStandardizer, standardize } from './pixelFeatures.js';

export const DEFAULT_CURVE_KS: readonly number[] = Object.freeze([1, 2, 5, 10, 20]);
export const DEFAULT_CURVE_SEEDS = 5;
export const DEFAULT_HELD_OUT_FRACTION = 0.3;
export const DEFAULT_CURVE_REGULARIZATION = 0.1;
const FIT = { maxIterations: 1000, gradientTolerance: 1e-6, functionTolerance: 1e-10 } as const;

export interface LearningCurveInput {
  /** Row-major [N, D] backbone embeddings. */
  embeddings: Float32Array;
  embeddingDim: number;
  /** Row-major [N, P] raw pixel features of the same images (pixelFeatures.ts), not standardised. */
  pixels: Float32Array;
  pixelDim: number;
  labels: Int32Array;
  classNames: readonly string[];
}

/** The options of the protocol every curve shares (sizes, seeds, held-out split, cost cap). */
export interface CurveProtocolOptions {
  ks?: readonly number[];
  /** Number of seeds per k. */
  seeds?: number;
  /** First seed; the others follow it. */
  seed?: number;
  heldOutFraction?: number;
  /**
   * Most training examples summed over all fits (seeds x points): points are dropped from the
   * largest ("all" first) until the rest fits, keeping at least the smallest k. Default: no cap.
   */
  maxTrainingExamples?: number;
}

export interface LearningCurveOptions extends CurveProtocolOptions {
  /** lambda * (training images): the L2 strength on the summed loss (1/C in scikit-learn terms). */
  regularization?: number;
  device?: Device;
}

export interface CurveStat {
  mean: number;
  std: number;
  /** One score per seed. */
  values: number[];
}

/**
 * One point of any modality's curve. `embedding` is the first series (the pretrained representation,
 * or the only one measured: a TF-IDF text version with no encoder); `baseline` the no-transfer one,
 * absent when the first series is already the baseline.
 */
export interface CurvePoint {
  k: number | 'all';
  /** Training examples per class (for "all": the smallest class's pool). */
  perClass: number;
  /** Training examples in total (mean over seeds; equal for all seeds). */
  trainImages: number;
  embedding: CurveStat;
  baseline?: CurveStat;
  seeds: number;
}

/** An image curve's point: always both series. */
export interface LearningCurvePoint extends CurvePoint {
  baseline: CurveStat;
}

/** What each series measures, for a reader to label them (absent: backbone embedding vs pixels). */
export interface CurveSeriesNames {
  embedding: string;
  baseline?: string;
}

/** A measured curve as model.json keeps it, for images and texts alike. */
export interface MeasuredCurve<P extends CurvePoint = CurvePoint> {
  points: P[];
  /** Held-out examples per seed (the same count every seed). */
  heldOut: number;
  /** lambda = regularization / training examples at each point. */
  regularization: number;
  metric: 'balancedAccuracy';
  /** ks left out because some class has too few examples to sample them, or over the cost cap. */
  skipped: number[];
  series?: CurveSeriesNames;
}

export type LearningCurve = MeasuredCurve<LearningCurvePoint>;

function stat(values: number[]): CurveStat {
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance), values };
}

/** Per class, rows shuffled for this seed: the first `held` are held out, the rest is the pool. */
function splitForSeed(labels: Int32Array, classes: number, fraction: number, seed: number): { heldOut: number[]; pools: number[][] } {
  const random = createRandom(seed);
  const byClass = rowsByClass(labels, classes);
  const heldOut: number[] = [];
  const pools: number[][] = [];
  for (const rows of byClass) {
    shuffleInPlace(rows, random);
    const held = Math.max(1, Math.round(fraction * rows.length));
    heldOut.push(...rows.slice(0, held));
    pools.push(rows.slice(held));
  }
  return { heldOut: heldOut.sort((a, b) => a - b), pools };
}

/**
 * One feature kind's sessions, reused for every fit of a curve: trainHead's dense linear head at a
 * fixed lambda (the image curve's two series, a text encoder's series of a text curve).
 */
export class FixedLambdaHead {
  private constructor(
    private readonly shape: HeadShape,
    private readonly loss: LossSession,
    private readonly forward: ForwardSession,
  ) {}

  static async create(dim: number, classes: number, device: Device): Promise<FixedLambdaHead> {
    const shape = headShape(dim, classes, 0);
    const loss = await LossSession.create(shape, device);
    try {
      return new FixedLambdaHead(shape, loss, await ForwardSession.create(shape, device));
    } catch (error) {
      await loss.release();
      throw error;
    }
  }

  /**
   * Trains on rows `train` of the L2-normalised matrix `x` at `lambda`, returns the balanced accuracy
   * on rows `test`.
   */
  async score(x: Float64Array, labels: Int32Array, train: readonly number[], test: readonly number[], lambda: number, classNames: readonly string[]): Promise<number> {
    const { inputDim: dim, classes } = this.shape;
    const trainRows = Int32Array.from(train);
    this.loss.bind(gatherRows(x, dim, trainRows), balancedTargets(labels, trainRows, classes), train.length);
    const fit = await minimizeLbfgs(this.loss.objective(lambda), initialParams(this.shape, createRandom(0)), FIT);
    const { predicted } = await this.forward.predict(gatherRows(x, dim, Int32Array.from(test)), test.length, fit.x);
    return classificationMetrics(Int32Array.from(test, (r) => labels[r] as number), predicted, classNames).balancedAccuracy;
  }

  async release(): Promise<void> {
    await this.loss.release();
    await this.forward.release();
  }
}

/** One (seed, k) fit of a curve: its training rows, its seed's held-out rows, and the k it samples. */
export interface CurveFit {
  train: readonly number[];
  heldOut: readonly number[];
  k: number | 'all';
  seed: number;
}

export interface MeasuredSeries<S extends string> {
  points: Array<Omit<CurvePoint, 'embedding' | 'baseline'> & { scores: Record<S, CurveStat> }>;
  heldOut: number;
  skipped: number[];
}

/**
 * The protocol above, for any representation: the seeded held-out splits, the nested k-per-class
 * samples (ks at or above the smallest pool skipped, "all" kept unless over the cost cap), and
 * mean ± std over seeds of what `score` returns per series for each fit. `unit` names the examples
 * in the error message.
 */
export async function measureCurve<S extends string>(
  labels: Int32Array,
  classNames: readonly string[],
  options: CurveProtocolOptions,
  score: (fit: CurveFit) => Promise<Record<S, number>>,
  unit = 'images',
): Promise<MeasuredSeries<S>> {
  const classes = classNames.length;
  const counts = new Array<number>(classes).fill(0);
  labels.forEach((c) => (counts[c] = (counts[c] ?? 0) + 1));
  if (classes < 2 || counts.some((c) => c < 2)) {
    throw new TrainingDataError(`a learning curve needs at least 2 classes of at least 2 ${unit} each (one held out, one to train on); got ${classNames.map((c, i) => `${c} ${counts[i]}`).join(', ')}`);
  }
  const fraction = options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION;
  const seeds = options.seeds ?? DEFAULT_CURVE_SEEDS;
  const firstSeed = options.seed ?? 0;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`heldOutFraction must be in (0, 1), got ${fraction}`);
  if (!(Number.isInteger(seeds) && seeds >= 1)) throw new RangeError(`seeds must be a positive integer, got ${seeds}`);

  const splits = Array.from({ length: seeds }, (_, s) => splitForSeed(labels, classes, fraction, firstSeed + s));
  // The held-out count per class depends only on the class size, so it is the same every seed.
  const smallestPool = Math.min(...(splits[0] as { pools: number[][] }).pools.map((p) => p.length));
  const requested = [...(options.ks ?? DEFAULT_CURVE_KS)].sort((a, b) => a - b);
  for (const k of requested) if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`k must be a positive integer, got ${k}`);
  const ks: Array<number | 'all'> = [...requested.filter((k) => k < smallestPool), 'all'];
  const skipped = requested.filter((k) => k >= smallestPool);
  // Below the smallest pool, k per class trains on k x classes examples, the same count every seed.
  const poolTotal = (splits[0] as { pools: number[][] }).pools.reduce((a, p) => a + p.length, 0);
  const examples = (k: number | 'all'): number => seeds * (k === 'all' ? poolTotal : k * classes);
  const cap = options.maxTrainingExamples ?? Number.POSITIVE_INFINITY;
  while (ks.length > 1 && ks.reduce((a: number, k) => a + examples(k), 0) > cap) {
    const dropped = ks.pop();
    if (typeof dropped === 'number') skipped.unshift(dropped);
  }
  skipped.sort((a, b) => a - b);

  const scores = ks.map(() => ({ values: new Map<S, number[]>(), trainImages: 0 }));
  for (const [s, split] of splits.entries()) {
    for (const [i, k] of ks.entries()) {
      const train = split.pools.flatMap((pool) => (k === 'all' ? pool : pool.slice(0, k)));
      const entry = scores[i] as (typeof scores)[number];
      entry.trainImages = train.length;
      const got = await score({ train, heldOut: split.heldOut, k, seed: firstSeed + s });
      for (const [series, value] of Object.entries(got) as Array<[S, number]>) entry.values.set(series, [...(entry.values.get(series) ?? []), value]);
    }
  }
  return {
    points: ks.map((k, i) => {
      const entry = scores[i] as (typeof scores)[number];
      return {
        k,
        perClass: k === 'all' ? smallestPool : k,
        trainImages: entry.trainImages,
        scores: Object.fromEntries([...entry.values].map(([series, values]) => [series, stat(values)])) as Record<S, CurveStat>,
        seeds,
      };
    }),
    heldOut: (splits[0] as { heldOut: number[] }).heldOut.length,
    skipped,
  };
}

export async function learningCurve(input: LearningCurveInput, options: LearningCurveOptions = {}): Promise<LearningCurve> {
  const { labels, classNames, embeddingDim, pixelDim } = input;
  const n = labels.length;
  const classes = classNames.length;
  if (input.embeddings.length !== n * embeddingDim || input.pixels.length !== n * pixelDim) {
    throw new TrainingDataError(`learning curve: ${n} labels but ${input.embeddings.length / embeddingDim} embedding rows and ${input.pixels.length / pixelDim} pixel rows`);
  }
  const regularization = options.regularization ?? DEFAULT_CURVE_REGULARIZATION;
  const device = options.device ?? 'cpu';

  const embeddingHead = await FixedLambdaHead.create(embeddingDim, classes, device);
  const pixelHead = await FixedLambdaHead.create(pixelDim, classes, device);
  try {
    // L2 normalisation is per row, so the embeddings are normalised once; the pixels depend on the
    // training rows' standardisation and are normalised per fit (training and held-out rows together).
    const embeddings = await normalizeEmbeddings(input.embeddings, n, embeddingDim, device);
    const measured = await measureCurve(labels, classNames, options, async ({ train, heldOut }) => {
      const lambda = regularization / train.length;
      const embedding = await embeddingHead.score(embeddings, labels, train, heldOut, lambda, classNames);
      const scaler = fitStandardizer(input.pixels, pixelDim, train);
      const rows = [...train, ...heldOut];
      const pixels = await normalizeEmbeddings(standardize(input.pixels, pixelDim, scaler, rows), rows.length, pixelDim, device);
      const local = Int32Array.from(rows, (r) => labels[r] as number);
      const trainLocal = train.map((_, j) => j);
      const testLocal = heldOut.map((_, j) => train.length + j);
      const baseline = await pixelHead.score(pixels, local, trainLocal, testLocal, lambda, classNames);
      return { embedding, baseline };
    });
    return {
      points: measured.points.map(({ scores, ...point }) => ({ ...point, embedding: scores.embedding, baseline: scores.baseline })),
      heldOut: measured.heldOut,
      regularization,
      metric: 'balancedAccuracy',
      skipped: measured.skipped,
    };
  } finally {
    await embeddingHead.release();
    await pixelHead.release();
  }
}
