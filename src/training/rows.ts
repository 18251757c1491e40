/** Row selection and class-balanced targets for a subset of the training rows. */
import { TrainingDataError } from '../errors.js';

/** Copies the chosen rows of a row-major [*, dim] matrix (one memcpy per row). */
export function gatherRows(matrix: Float64Array, dim: number, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length * dim);
  rows.forEach((row, i) => out.set(matrix.subarray(row * dim, (row + 1) * dim), i * dim));
  return out;
}

/**
 * One-hot targets [rows, K] scaled by each row's class-balanced weight n/(k*n_c), normalised to sum
 * to 1 (so the loss is a weighted mean). k counts the classes present among the rows.
 */
export function balancedTargets(labels: Int32Array, rows: Int32Array, classes: number): Float64Array {
  const counts = new Array<number>(classes).fill(0);
  rows.forEach((row) => {
    const c = labels[row] as number;
    counts[c] = (counts[c] as number) + 1;
  });
  const present = counts.filter((c) => c > 0).length;
  const targets = new Float64Array(rows.length * classes);
  rows.forEach((row, i) => {
    const c = labels[row] as number;
    targets[i * classes + c] = 1 / (present * (counts[c] as number));
  });
  return targets;
}

/**
 * Each row's class-balanced weight n/(k*n_c) among `rows`, normalised to sum to 1 (the weights
 * {@link balancedTargets} puts on its one-hot entries).
 */
export function balancedWeights(labels: Int32Array, rows: Int32Array, classes: number): Float64Array {
  const counts = new Array<number>(classes).fill(0);
  rows.forEach((row) => {
    const c = labels[row] as number;
    counts[c] = (counts[c] as number) + 1;
  });
  const present = counts.filter((c) => c > 0).length;
  return Float64Array.from(rows, (row) => 1 / (present * (counts[labels[row] as number] as number)));
}

/**
 * 1 / max(|x_i|, floor) of every row of row-major [rows, dim] float32, accumulated in float64:
 * the trainer scales products by it instead of keeping a normalised copy of the matrix. Refuses
 * NaN and infinities, which would poison the optimiser.
 */
export function inverseRowNorms(x: Float32Array, rows: number, dim: number, floor: number, dtype: 'float32' | 'float64'): Float32Array | Float64Array {
  const out = dtype === 'float32' ? new Float32Array(rows) : new Float64Array(rows);
  let bad = 0;
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    const offset = i * dim;
    for (let j = 0; j < dim; j++) {
      const v = x[offset + j] as number;
      sum += v * v;
    }
    if (!Number.isFinite(sum)) {
      for (let j = 0; j < dim; j++) if (!Number.isFinite(x[offset + j] as number)) bad++;
    }
    out[i] = 1 / Math.max(Math.sqrt(sum), floor);
  }
  if (bad > 0) throw new TrainingDataError(`embeddings hold ${bad} non-finite value(s) (NaN or infinity)`, { context: { nonFinite: bad } });
  return out;
}
