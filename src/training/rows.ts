/** Row selection and class-balanced targets for a subset of the training rows. */

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
