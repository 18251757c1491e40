import { describe, expect, it } from 'vitest';
import { symmetricEigen } from '../../../src/linalg/symmetricEigen.js';
import { createRandom } from '../../../src/training/random.js';

function randomSymmetric(n: number, seed: number): Float64Array {
  const random = createRandom(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = random.normal();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

function unitVectors(n: number): Float64Array[] {
  return Array.from({ length: n }, (_, j) => Float64Array.from({ length: n }, (_, i) => (i === j ? 1 : 0)));
}

describe('symmetricEigen', () => {
  it.each([1, 2, 3, 7, 40, 129])('reconstructs a random symmetric matrix of order %i from V diag(values) V^T', (n) => {
    const a = randomSymmetric(n, n);
    const original = a.slice();
    // V^T e_j is row j of V.
    const { values, projections: v } = symmetricEigen(a, n, unitVectors(n));
    let worst = 0;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += (v[r]![i] as number) * (values[i] as number) * (v[c]![i] as number);
        worst = Math.max(worst, Math.abs(sum - (original[r * n + c] as number)));
      }
    }
    expect(worst).toBeLessThan(1e-12 * n);
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] as number);
  });

  it('returns orthonormal eigenvectors', () => {
    const n = 30;
    const { projections: v } = symmetricEigen(randomSymmetric(n, 5), n, unitVectors(n));
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        let dot = 0;
        for (let r = 0; r < n; r++) dot += (v[r]![a] as number) * (v[r]![b] as number);
        expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-12);
      }
    }
  });

  it('reads only the lower triangle', () => {
    const n = 12;
    const full = randomSymmetric(n, 9);
    const lower = full.slice();
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) lower[i * n + j] = 1e6;
    const b = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const x = symmetricEigen(full, n, [b]);
    const y = symmetricEigen(lower, n, [b]);
    for (let i = 0; i < n; i++) {
      expect(y.values[i]).toBeCloseTo(x.values[i] as number, 12);
      expect(Math.abs(y.projections[0]![i] as number)).toBeCloseTo(Math.abs(x.projections[0]![i] as number), 12);
    }
  });

  it('projects a vector so that its length is kept and V (V^T b) = b', () => {
    const n = 25;
    const b = Float64Array.from({ length: n }, (_, i) => i - 12);
    const { projections } = symmetricEigen(randomSymmetric(n, 3), n, [b, ...unitVectors(n)]);
    const p = projections[0]!;
    const v = projections.slice(1);
    expect(p.reduce((s, x) => s + x * x, 0)).toBeCloseTo(b.reduce((s, x) => s + x * x, 0), 9);
    for (let r = 0; r < n; r++) {
      let back = 0;
      for (let i = 0; i < n; i++) back += (v[r]![i] as number) * (p[i] as number);
      expect(back).toBeCloseTo(b[r] as number, 10);
    }
  });

  it('handles a rank-deficient Gram matrix and repeated eigenvalues', () => {
    // F is 6 x 3 of rank 2, so F F^T (6 x 6) has four zero eigenvalues.
    const f = [
      [1, 2, 3],
      [2, 4, 6],
      [0, 1, 1],
      [1, 3, 4],
      [3, 6, 9],
      [0, 0, 0],
    ];
    const n = f.length;
    const k = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) k[i * n + j] = f[i]!.reduce((s, x, a) => s + x * f[j]![a]!, 0);
    const { values } = symmetricEigen(k, n);
    const scale = values[n - 1] as number;
    expect(values.filter((x) => Math.abs(x) > 1e-12 * scale)).toHaveLength(2);
    const identity = symmetricEigen(Float64Array.from(unitVectors(4).flatMap((r) => [...r])), 4);
    expect([...identity.values]).toEqual([1, 1, 1, 1]);
  });

  it('refuses a wrong size and non-finite entries', () => {
    expect(() => symmetricEigen(new Float64Array(5), 2)).toThrow(RangeError);
    expect(() => symmetricEigen(Float64Array.of(1, 0, Number.NaN, 1), 2)).toThrow(/not finite/);
    expect(() => symmetricEigen(new Float64Array(4), 2, [new Float64Array(3)])).toThrow(/entries/);
  });
});
