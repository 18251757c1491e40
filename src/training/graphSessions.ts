/**
 * onnxruntime sessions over the training graphs. The data matrices are bound once and handed to
 * onnxruntime by reference on every run; only the parameter vector (and lambda) change per call.
 */
import { OnnxSession, float32, float64, type Device, type SessionOptions } from '../backend/onnx.js';
import { TrainingDataError } from '../errors.js';
import type { Evaluation, Objective } from './lineSearch.js';
import type { HeadShape } from './headLayout.js';
import { buildForwardGraph, buildLossGraph, buildNormalizeGraph, FORWARD_IO, LOSS_IO, NORMALIZE_IO } from './trainingGraphs.js';

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

export class LossSession {
  private x: Float64Array | undefined;
  private weightedLabels: Float64Array | undefined;
  private rows = 0;

  private constructor(
    private readonly session: OnnxSession,
    readonly shape: HeadShape,
  ) {}

  static async create(shape: HeadShape, runtime: GraphRuntime): Promise<LossSession> {
    return new LossSession(await OnnxSession.create(buildLossGraph(shape), sessionOptions(runtime)), shape);
  }

  /** Sets the data the loss is computed over: X [rows, D] and weighted one-hot labels [rows, K]. */
  bind(x: Float64Array, weightedLabels: Float64Array, rows: number): void {
    this.x = x;
    this.weightedLabels = weightedLabels;
    this.rows = rows;
  }

  async evaluate(theta: Float64Array, lambda: number): Promise<Evaluation> {
    if (this.x === undefined || this.weightedLabels === undefined) throw new Error('LossSession.evaluate before bind');
    const out = await this.session.run({
      [LOSS_IO.x]: float64(this.x, [this.rows, this.shape.inputDim]),
      [LOSS_IO.weightedLabels]: float64(this.weightedLabels, [this.rows, this.shape.classes]),
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
  ) {}

  static async create(shape: HeadShape, runtime: GraphRuntime): Promise<ForwardSession> {
    return new ForwardSession(await OnnxSession.create(buildForwardGraph(shape), sessionOptions(runtime)), shape);
  }

  async predict(x: Float64Array, rows: number, theta: Float64Array): Promise<ForwardResult> {
    const out = await this.session.run({
      [FORWARD_IO.x]: float64(x, [rows, this.shape.inputDim]),
      [FORWARD_IO.theta]: float64(theta, [theta.length]),
    });
    const predicted = Int32Array.from(out[FORWARD_IO.predicted]?.data as BigInt64Array, (v) => Number(v));
    return { probabilities: out[FORWARD_IO.probabilities]?.data as Float64Array, predicted };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
