/**
 * The training loss restricted to some rows (a cross-validation fold, or all of them), over the
 * caller's float32 matrix as it is: rows are scaled by their inverse L2 norm inside the graph, so no
 * normalised or float64 copy of the whole matrix is made.
 *
 * Two placements of the data:
 * - 'fed' (the CPU default): the fold's rows are gathered into one buffer reused by every fold
 *   (the final fit on all rows feeds the matrix itself), so memory peaks at the matrix plus one
 *   fold's copy, and each evaluation computes over the fold's rows only.
 * - 'resident' (the CUDA default): the whole matrix, its norms and labels are stored in the session
 *   once (copied to the device when it opens); a fold is a row-weight mask (0 outside it), so each
 *   evaluation sends only N weights and the parameters to the device, never the matrix.
 */
import { ForwardSession, LossSession, ResidentLossSession, type ForwardResult, type GraphRuntime } from './graphSessions.js';
import type { HeadShape } from './headLayout.js';
import type { Objective } from './lineSearch.js';
import { balancedWeights } from './rows.js';
import type { TrainingDtype } from './trainingGraphs.js';

export type DataPlacement = 'fed' | 'resident';

/** The training matrix as the trainer sees it. */
export interface RowData {
  /** Row-major [rows, dim], raw (not normalised). */
  x: Float32Array;
  rows: number;
  dim: number;
  /** Inverse L2 norm of each row, in the graph dtype. */
  scale: Float32Array | Float64Array;
  labels: Int32Array;
  classes: number;
}

function allocate(dtype: TrainingDtype, length: number): Float32Array | Float64Array {
  return dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
}

/** Copies rows of `data.x` (converting to the dtype) into `into` from its start. */
function gatherInto(into: Float32Array | Float64Array, data: RowData, rows: Int32Array): void {
  const d = data.dim;
  rows.forEach((row, i) => into.set(data.x.subarray(row * d, (row + 1) * d), i * d));
}

function isAllRows(rows: Int32Array, n: number): boolean {
  if (rows.length !== n) return false;
  for (let i = 0; i < n; i++) if (rows[i] !== i) return false;
  return true;
}

export class FoldLoss {
  private buffer: Float32Array | Float64Array | undefined;

  private constructor(
    private readonly data: RowData,
    readonly dtype: TrainingDtype,
    readonly placement: DataPlacement,
    private readonly fed?: LossSession,
    private readonly resident?: ResidentLossSession,
  ) {}

  static async create(shape: HeadShape, data: RowData, options: { runtime: GraphRuntime; dtype: TrainingDtype; placement: DataPlacement }): Promise<FoldLoss> {
    const { runtime, dtype, placement } = options;
    if (placement === 'fed') return new FoldLoss(data, dtype, placement, await LossSession.create(shape, runtime, { dtype }));
    const labels = BigInt64Array.from(data.labels, (c) => BigInt(c));
    const x = dtype === 'float32' ? data.x : Float64Array.from(data.x);
    const resident = await ResidentLossSession.create(shape, runtime, { x, scale: data.scale, labels, rows: data.rows }, { dtype });
    return new FoldLoss(data, dtype, placement, undefined, resident);
  }

  /** Restricts the loss to `rows` (ascending row indices), class-balanced among them. */
  useRows(rows: Int32Array): void {
    const weights = balancedWeights(this.data.labels, rows, this.data.classes);
    if (this.resident) {
      const mask = new Float64Array(this.data.rows);
      rows.forEach((row, i) => (mask[row] = weights[i] as number));
      this.resident.bindWeights(mask);
      return;
    }
    const fed = this.fed as LossSession;
    const d = this.data.dim;
    let x: Float32Array | Float64Array;
    if (this.dtype === 'float32' && isAllRows(rows, this.data.rows)) x = this.data.x;
    else {
      if (this.buffer === undefined || this.buffer.length < rows.length * d) this.buffer = allocate(this.dtype, rows.length * d);
      gatherInto(this.buffer, this.data, rows);
      x = this.buffer.subarray(0, rows.length * d);
    }
    const scale = allocate(this.dtype, rows.length);
    rows.forEach((row, i) => (scale[i] = this.data.scale[row] as number));
    fed.bindRows({ x, scale, labels: BigInt64Array.from(rows, (row) => BigInt(this.data.labels[row] as number)), weights, rows: rows.length });
  }

  objective(lambda: number): Objective {
    return (this.resident ?? (this.fed as LossSession)).objective(lambda);
  }

  async release(): Promise<void> {
    this.buffer = undefined;
    await (this.resident ?? (this.fed as LossSession)).release();
  }
}

/**
 * Rows predicted per forward run: bounds the gathered copy (1,024 x 1,280 float32 = 5 MB) and the
 * [rows, K] outputs. Cross-validation predicts once per fold and lambda, so a larger chunk would
 * churn through tens of large short-lived buffers that the allocator keeps as resident memory.
 */
const PREDICT_CHUNK = 1024;

/** Held-out predictions of `rows`, gathered a chunk at a time into one small buffer. */
export async function predictRows(forward: ForwardSession, data: RowData, rows: Int32Array, theta: Float64Array): Promise<ForwardResult> {
  const k = data.classes;
  const d = data.dim;
  const probabilities = new Float64Array(rows.length * k);
  const predicted = new Int32Array(rows.length);
  const chunk = allocate(forward.dtype, Math.min(PREDICT_CHUNK, rows.length) * d);
  for (let start = 0; start < rows.length; start += PREDICT_CHUNK) {
    const part = rows.subarray(start, Math.min(rows.length, start + PREDICT_CHUNK));
    gatherInto(chunk, data, part);
    const scale = allocate(forward.dtype, part.length);
    part.forEach((row, i) => (scale[i] = data.scale[row] as number));
    const out = await forward.predict(chunk.subarray(0, part.length * d), part.length, theta, scale);
    probabilities.set(out.probabilities, start * k);
    predicted.set(out.predicted, start);
  }
  return { probabilities, predicted };
}
