/**
 * Eigenvalues of a real symmetric matrix, and the coordinates of a few vectors in its eigenbasis,
 * in float64 and plain JavaScript (no LAPACK in Node).
 *
 * Method: Householder reduction to tridiagonal form (Golub & Van Loan 8.3.1), then the implicit
 * QL iteration with Wilkinson-style shifts of EISPACK's tql2 (as in JAMA, public domain).
 *
 * Callers such as LogME need `V^T b` for a handful of vectors b, never the full eigenvector matrix
 * V. Accumulating V costs about 6n^3 flops on top of the reduction; applying the same Householder
 * reflections and Givens rotations to the vectors costs O(n^2) per vector. So the reflections are
 * applied to the vectors (Q^T b) and every QL rotation is applied to them as a row vector
 * (b^T Q W), which gives V^T b with V = Q W. For a 1280x1280 matrix that leaves the reduction,
 * about (4/3)n^3 = 2.8 GFLOP, as the whole cost. Pass the unit vectors e_1..e_n to get all of V.
 *
 * Storage: row-major, only the lower triangle is read, and the input array is overwritten.
 */

export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** For each input vector b, V^T b: its coordinates along the eigenvectors, in `values` order. */
  projections: Float64Array[];
  /** QL sweeps in total (diagnostics). */
  sweeps: number;
}

/** sqrt(a^2 + b^2) without overflow or destructive underflow (Math.hypot is slower). */
function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) {
    const r = y / x;
    return x * Math.sqrt(1 + r * r);
  }
  if (y === 0) return 0;
  const r = x / y;
  return y * Math.sqrt(1 + r * r);
}

/**
 * Householder tridiagonalisation in place. Returns the diagonal d, the subdiagonal e
 * (e[i] couples i and i+1), and applies Q^T to every vector in `vectors` (T = Q^T A Q).
 *
 * Each step k needs the product of the trailing block with its reflector and then a symmetric
 * rank-2 update of that block. Done naively that is two passes over a block too big for the cache
 * (13 MB at n = 1280). Here the rank-2 update of step k is deferred and fused with the product of
 * step k+1, so each step reads and writes the block once: only column k+1, which step k+1 needs to
 * build its reflector, is updated eagerly.
 */
function tridiagonalize(a: Float64Array, n: number, vectors: Float64Array[]): { d: Float64Array; e: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // The pending rank-2 update A -= u z^T + z u^T (from the previous step), on indices >= its start.
  let u = new Float64Array(n);
  let z = new Float64Array(n);
  let v = new Float64Array(n);
  let p = new Float64Array(n);
  let pending = false;

  for (let k = 0; k < n - 2; k++) {
    // Column k below the diagonal and a_kk are up to date (see the end of the previous step).
    d[k] = a[k * n + k] as number;
    let scale = 0;
    for (let i = k + 1; i < n; i++) scale += Math.abs(a[i * n + k] as number);
    let tau = 0;
    if (scale > 0) {
      let sumSq = 0;
      for (let i = k + 1; i < n; i++) {
        const x = (a[i * n + k] as number) / scale;
        v[i] = x;
        sumSq += x * x;
      }
      const x0 = v[k + 1] as number;
      const alpha = x0 >= 0 ? -Math.sqrt(sumSq) : Math.sqrt(sumSq);
      // v = x - alpha e1 (x scaled); H = I - tau v v^T with tau = 2 / v^T v = 1 / (|x|^2 - x0 alpha).
      v[k + 1] = x0 - alpha;
      tau = 1 / (sumSq - x0 * alpha);
      e[k] = alpha * scale;
    } else {
      e[k] = 0;
    }

    // One pass over the lower triangle of the block k+1..n-1: apply the pending update, then
    // accumulate p = A22 v (each stored entry feeds both p_i and p_j).
    for (let i = k + 1; i < n; i++) p[i] = 0;
    const first = k + 1;
    for (let i = first; i < n; i++) {
      const row = i * n;
      const vi = v[i] as number;
      let acc = 0;
      if (pending) {
        // The previous step updated its own column (k) eagerly; this block (j >= k+1) is owed.
        const ui = u[i] as number;
        const zi = z[i] as number;
        for (let j = first; j < i; j++) {
          const aij = (a[row + j] as number) - ui * (z[j] as number) - zi * (u[j] as number);
          a[row + j] = aij;
          acc += aij * (v[j] as number);
          p[j] = (p[j] as number) + aij * vi;
        }
        a[row + i] = (a[row + i] as number) - 2 * ui * zi;
      } else {
        for (let j = first; j < i; j++) {
          const aij = a[row + j] as number;
          acc += aij * (v[j] as number);
          p[j] = (p[j] as number) + aij * vi;
        }
      }
      p[i] = (p[i] as number) + acc + (a[row + i] as number) * vi;
    }

    if (tau === 0) {
      pending = false;
      // Nothing to reflect: the block is already up to date, column k+1 included.
      continue;
    }
    let pv = 0;
    for (let i = first; i < n; i++) {
      p[i] = tau * (p[i] as number);
      pv += (p[i] as number) * (v[i] as number);
    }
    // w = p - (tau/2)(p^T v) v: the update is A22 -= v w^T + w v^T.
    const half = 0.5 * tau * pv;
    for (let i = first; i < n; i++) p[i] = (p[i] as number) - half * (v[i] as number);
    // Eagerly update column k+1 (rows >= k+1) so the next step can build its reflector.
    const vk = v[first] as number;
    const wk = p[first] as number;
    for (let i = first; i < n; i++) a[i * n + first] = (a[i * n + first] as number) - (v[i] as number) * wk - (p[i] as number) * vk;
    // Q^T b: the reflections in order H_0, H_1, ... (each is its own transpose).
    for (const b of vectors) {
      let dot = 0;
      for (let i = first; i < n; i++) dot += (v[i] as number) * (b[i] as number);
      const f = tau * dot;
      for (let i = first; i < n; i++) b[i] = (b[i] as number) - f * (v[i] as number);
    }
    // The rest of this update is pending for the next pass.
    [u, v] = [v, u];
    [z, p] = [p, z];
    pending = true;
  }
  if (n >= 2) {
    const last = n - 1;
    if (pending) {
      // Only a_{n-1,n-1} is still owed the last update (column n-2 was updated eagerly).
      a[last * n + last] = (a[last * n + last] as number) - 2 * (u[last] as number) * (z[last] as number);
    }
    d[n - 2] = a[(n - 2) * n + (n - 2)] as number;
    e[n - 2] = a[last * n + (n - 2)] as number;
  }
  d[n - 1] = a[(n - 1) * n + (n - 1)] as number;
  e[n - 1] = 0;
  return { d, e };
}

/** Maximum QL sweeps per eigenvalue; tql2 needs 1-2 on average, 30 means something is wrong. */
const MAX_SWEEPS_PER_VALUE = 60;

/**
 * Implicit QL on the tridiagonal (d, e); rotations are applied to each row vector in `rows`.
 * Port of EISPACK tql2 as in JAMA, with the eigenvector accumulation replaced by row updates.
 */
function tql2(d: Float64Array, e: Float64Array, n: number, rows: Float64Array[]): number {
  const eps = 2 ** -52;
  let f = 0;
  let tst1 = 0;
  let sweeps = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] as number) + Math.abs(e[l] as number));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m] as number) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > MAX_SWEEPS_PER_VALUE) throw new Error(`symmetric eigensolver did not converge for eigenvalue ${l} of ${n}`);
        sweeps++;
        let g = d[l] as number;
        let p = ((d[l + 1] as number) - g) / (2 * (e[l] as number));
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = (e[l] as number) / (p + r);
        d[l + 1] = (e[l] as number) * (p + r);
        const dl1 = d[l + 1] as number;
        let h = g - (d[l] as number);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] as number) - h;
        f += h;

        p = d[m] as number;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1] as number;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * (e[i] as number);
          h = c * p;
          r = hypot(p, e[i] as number);
          e[i + 1] = s * r;
          s = (e[i] as number) / r;
          c = p / r;
          p = c * (d[i] as number) - s * g;
          d[i + 1] = h + s * (c * g + s * (d[i] as number));
          for (const row of rows) {
            const hi = row[i + 1] as number;
            const lo = row[i] as number;
            row[i + 1] = s * lo + c * hi;
            row[i] = c * lo - s * hi;
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] as number)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l] as number) > eps * tst1);
    }
    d[l] = (d[l] as number) + f;
    e[l] = 0;
  }
  return sweeps;
}

/**
 * Eigen-decomposes the symmetric n x n matrix `a` (row-major; lower triangle used; overwritten)
 * and returns the eigenvalues ascending with `V^T b` for each of `vectors` (which are not modified).
 */
export function symmetricEigen(a: Float64Array, n: number, vectors: readonly ArrayLike<number>[] = []): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`matrix order must be a positive integer, got ${n}`);
  if (a.length !== n * n) throw new RangeError(`a ${n}x${n} matrix needs ${n * n} values, got ${a.length}`);
  for (const b of vectors) if (b.length !== n) throw new RangeError(`vectors must have ${n} entries, got ${b.length}`);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      if (!Number.isFinite(a[i * n + j] as number)) throw new RangeError(`matrix entry (${i}, ${j}) is not finite`);
    }
  }
  const work = vectors.map((b) => Float64Array.from(b));
  const { d, e } = tridiagonalize(a, n, work);
  const sweeps = tql2(d, e, n, work);

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (d[i] as number) - (d[j] as number));
  const values = Float64Array.from(order, (i) => d[i] as number);
  const projections = work.map((w) => Float64Array.from(order, (i) => w[i] as number));
  return { values, projections, sweeps };
}
