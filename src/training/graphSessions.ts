/**
 * onnxruntime sessions over the training graphs. The data arrays are bound once per fold and handed
 * to onnxruntime by reference on every run (or held by the session itself, {@link
 * ResidentLossSession}); only the parameter vector (and lambda) change per call.
 */
import { OnnxSession, float32, float64, int64, type Device, type SessionOptions, type Tensor } from '../backend/onnx.js';
import { TrainingDataError } from '../errors.js';
import { decodeModel, encodeModel, externalInitializer } from '../onnx/graph.js';
import type { Evaluation, Objective } from './lineSearch.js';
import type { HeadShape } from './headLayout.js';
import { buildForwardGraph, buildLossGraph, buildNormalizeGraph, FORWARD_IO, LOSS_IO, NORMALIZE_IO, type TrainingDtype } from './trainingGraphs.js';

/** Where and how the training graphs run: a device, or full session options (threads). */
export type GraphRuntime = Device | SessionOptions;

function sessionOptions(runtime: GraphRuntime): SessionOptions {
  return typeof runtime === 'string' ? { device: runtime } : runtime;
}

/** Rows of float32 embeddings -> L2-normalised float64 rows (refusing NaN and infinities). */
export async function normalizeEmbeddings(embeddings: Float32Array, rows: number, dim: number, runtime: GraphRuntime): Promise<Float64Array> {
  const session = await OnnxSession.create(buildNormalizeGraph(dim), sessionOptions(runtime));
  try {
    const out = await session.run({ [NORMALIZE_IO.input]: float32(embeddings, [rows, dim]) });
    const bad = Number((out[NORMALIZE_IO.nonFinite]?.data as BigInt64Array)[0]);
    if (bad > 0) {
      throw new TrainingDataError(`embeddings hold ${bad} non-finite value(s) (NaN or infinity)`, { context: { nonFinite: bad } });
    }
    return out[NORMALIZE_IO.output]?.data as Float64Array;
  } finally {
    await session.release();
  }
}

/** The data arrays of the loss graph for some rows: X as it is, its rows' inverse norms, labels, weights. */
export interface LossFeeds {
  x: Float32Array | Float64Array;
  scale: Float32Array | Float64Array;
  labels: BigInt64Array;
  weights: Float64Array;
  rows: number;
}

function dataTensor(dtype: TrainingDtype, data: Float32Array | Float64Array, dims: readonly number[]): Tensor {
  if (dtype === 'float32') {
    if (!(data instanceof Float32Array)) throw new TypeError('float32 loss graph fed a Float64Array');
    return float32(data, dims);
  }
  if (!(data instanceof Float64Array)) throw new TypeError('float64 loss graph fed a Float32Array');
  return float64(data, dims);
}

/**
 * The loss graph with its data fed on every run (onnxruntime-node wraps the typed arrays without
 * copying them on the CPU). The CUDA provider would copy them to the device on every run: there
 * {@link ResidentLossSession} keeps them on the device instead.
 */
export class LossSession {
  private feeds: LossFeeds | undefined;

  private constructor(
    private readonly session: OnnxSession,
    readonly shape: HeadShape,
    readonly dtype: TrainingDtype,
  ) {}

  static async create(shape: HeadShape, runtime: GraphRuntime, options: { dtype?: TrainingDtype } = {}): Promise<LossSession> {
    const dtype = options.dtype ?? 'float64';
    return new LossSession(await OnnxSession.create(buildLossGraph(shape, { dtype }), sessionOptions(runtime)), shape, dtype);
  }

  /**
   * Sets the data from rows already L2-normalised (float64 graph) and weighted one-hot labels
   * [rows, K] (each row one non-zero entry, its weight; all weights summing to 1).
   */
  bind(x: Float64Array, weightedLabels: Float64Array, rows: number): void {
    const k = this.shape.classes;
    const labels = new BigInt64Array(rows);
    const weights = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < k; c++) {
        const v = weightedLabels[i * k + c] as number;
        if (v !== 0) {
          labels[i] = BigInt(c);
          weights[i] = v;
        }
      }
    }
    const scale = this.dtype === 'float64' ? new Float64Array(rows).fill(1) : new Float32Array(rows).fill(1);
    this.bindRows({ x: this.dtype === 'float64' ? x : Float32Array.from(x), scale, labels, weights, rows });
  }

  /** Sets the data the loss is computed over (arrays are referenced, not copied). */
  bindRows(feeds: LossFeeds): void {
    this.feeds = feeds;
  }

  async evaluate(theta: Float64Array, lambda: number): Promise<Evaluation> {
    const feeds = this.feeds;
    if (feeds === undefined) throw new Error('LossSession.evaluate before bind');
    const out = await this.session.run({
      [LOSS_IO.x]: dataTensor(this.dtype, feeds.x, [feeds.rows, this.shape.inputDim]),
      [LOSS_IO.scale]: dataTensor(this.dtype, feeds.scale, [feeds.rows]),
      [LOSS_IO.labels]: int64(feeds.labels, [feeds.rows]),
      [LOSS_IO.weights]: float64(feeds.weights, [feeds.rows]),
      [LOSS_IO.theta]: float64(theta, [theta.length]),
      [LOSS_IO.lambda]: float64(Float64Array.of(lambda), []),
    });
    return { f: (out[LOSS_IO.loss]?.data as Float64Array)[0] as number, g: out[LOSS_IO.gradient]?.data as Float64Array };
  }

  objective(lambda: number): Objective {
    return (theta) => this.evaluate(theta, lambda);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const RESIDENT_FILES = { x: 'resident_x.bin', scale: 'resident_scale.bin', labels: 'resident_labels.bin' } as const;

function bytesOf(a: Float32Array | Float64Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * The loss graph with X, scale and labels stored in the session (initializers supplied as external
 * data when it opens): with the CUDA provider they are copied to the device once and stay there;
 * every run is fed only the row weights [N], theta and lambda. A fold is selected by weights (0 for
 * the rows outside it), so one session serves every fold and the final fit.
 */
export class ResidentLossSession {
  private weights: Float64Array | undefined;

  private constructor(
    private readonly session: OnnxSession,
    readonly shape: HeadShape,
    readonly rows: number,
  ) {}

  static async create(shape: HeadShape, runtime: GraphRuntime, data: Omit<LossFeeds, 'weights'>, options: { dtype?: TrainingDtype } = {}): Promise<ResidentLossSession> {
    const dtype = options.dtype ?? 'float64';
    dataTensor(dtype, data.x, [data.rows, shape.inputDim]);
    const graph = decodeModel(buildLossGraph(shape, { dtype, residentRows: data.rows }));
    graph.graph?.initializer?.push(
      externalInitializer(LOSS_IO.x, dtype, [data.rows, shape.inputDim], RESIDENT_FILES.x, data.x.byteLength),
      externalInitializer(LOSS_IO.scale, dtype, [data.rows], RESIDENT_FILES.scale, data.scale.byteLength),
      externalInitializer(LOSS_IO.labels, 'int64', [data.rows], RESIDENT_FILES.labels, data.labels.byteLength),
    );
    const options_ = sessionOptions(runtime);
    const session = await OnnxSession.create(encodeModel(graph), {
      ...options_,
      externalData: [
        { path: RESIDENT_FILES.x, data: bytesOf(data.x) },
        { path: RESIDENT_FILES.scale, data: bytesOf(data.scale) },
        { path: RESIDENT_FILES.labels, data: bytesOf(data.labels) },
      ],
    });
    return new ResidentLossSession(session, shape, data.rows);
  }

  /** Row weights [rows] (0 outside the fold), summing to 1. */
  bindWeights(weights: Float64Array): void {
    if (weights.length !== this.rows) throw new RangeError(`${weights.length} row weights for ${this.rows} resident rows`);
    this.weights = weights;
  }

  async evaluate(theta: Float64Array, lambda: number): Promise<Evaluation> {
    if (this.weights === undefined) throw new Error('ResidentLossSession.evaluate before bindWeights');
    const out = await this.session.run({
      [LOSS_IO.weights]: float64(this.weights, [this.rows]),
      [LOSS_IO.theta]: float64(theta, [theta.length]),
      [LOSS_IO.lambda]: float64(Float64Array.of(lambda), []),
    });
    return { f: (out[LOSS_IO.loss]?.data as Float64Array)[0] as number, g: out[LOSS_IO.gradient]?.data as Float64Array };
  }

  objective(lambda: number): Objective {
    return (theta) => this.evaluate(theta, lambda);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface ForwardResult {
  /** Row-major [rows, K]. */
  probabilities: Float64Array;
  predicted: Int32Array;
}

export class ForwardSession {
  private constructor(
    private readonly session: OnnxSession,
    readonly shape: HeadShape,
    readonly dtype: TrainingDtype,
  ) {}

  static async create(shape: HeadShape, runtime: GraphRuntime, options: { dtype?: TrainingDtype } = {}): Promise<ForwardSession> {
    const dtype = options.dtype ?? 'float64';
    return new ForwardSession(await OnnxSession.create(buildForwardGraph(shape, { dtype }), sessionOptions(runtime)), shape, dtype);
  }

  /** Predicts rows already L2-normalised (`scale` 1), or raw rows with their inverse norms. */
  async predict(x: Float32Array | Float64Array, rows: number, theta: Float64Array, scale?: Float32Array | Float64Array): Promise<ForwardResult> {
    const unit = scale ?? (this.dtype === 'float64' ? new Float64Array(rows).fill(1) : new Float32Array(rows).fill(1));
    const data = this.dtype === 'float32' && x instanceof Float64Array ? Float32Array.from(x) : x;
    const out = await this.session.run({
      [FORWARD_IO.x]: dataTensor(this.dtype, data, [rows, this.shape.inputDim]),
      [FORWARD_IO.scale]: dataTensor(this.dtype, unit, [rows]),
      [FORWARD_IO.theta]: float64(theta, [theta.length]),
    });
    const predicted = Int32Array.from(out[FORWARD_IO.predicted]?.data as BigInt64Array, (v) => Number(v));
    return { probabilities: out[FORWARD_IO.probabilities]?.data as Float64Array, predicted };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
