import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../../src/errors.js';
import { createRandom } from '../../../src/training/random.js';
import { logme } from '../../../src/transfer/logme.js';

/** Features with a class signal in the first few columns plus noise; labels round-robin. */
function synthetic(n: number, d: number, classes: number, seed: number, signal = 1): { f: Float64Array; labels: Int32Array } {
  const random = createRandom(seed);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  const f = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) f[i * d + a] = random.normal() + (a < classes && labels[i] === a ? signal : 0);
  }
  return { f, labels };
}

/** [F, 0]: the same rows with `extra` all-zero columns appended. */
function padColumns(f: Float64Array, n: number, d: number, extra: number): Float64Array {
  const out = new Float64Array(n * (d + extra));
  for (let i = 0; i < n; i++) out.set(f.subarray(i * d, (i + 1) * d), i * (d + extra));
  return out;
}

/**
 * The evidence of one target straight from Eq. 2 with dense linear algebra on a tiny problem:
 * A = alpha I + beta F^T F, m = beta A^-1 F^T y, log|A| by Gaussian elimination.
 */
function denseEvidence(f: Float64Array, n: number, d: number, y: Float64Array, alpha: number, beta: number): number {
  const a = Array.from({ length: d }, (_, r) => Array.from({ length: d }, (_, c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (f[i * d + r] as number) * (f[i * d + c] as number);
    return beta * s + (r === c ? alpha : 0);
  }));
  const rhs = Array.from({ length: d }, (_, r) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (f[i * d + r] as number) * (y[i] as number);
    return beta * s;
  });
  // Gaussian elimination with partial pivoting: solves A m = rhs and accumulates log|A|.
  let logDet = 0;
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [rhs[c], rhs[p]] = [rhs[p]!, rhs[c]!];
    logDet += Math.log(Math.abs(a[c]![c]!));
    for (let r = c + 1; r < d; r++) {
      const factor = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < d; k++) a[r]![k]! -= factor * a[c]![k]!;
      rhs[r]! -= factor * rhs[c]!;
    }
  }
  const m = new Array<number>(d).fill(0);
  for (let r = d - 1; r >= 0; r--) {
    let s = rhs[r]!;
    for (let k = r + 1; k < d; k++) s -= a[r]![k]! * m[k]!;
    m[r] = s / a[r]![r]!;
  }
  let residual = 0;
  for (let i = 0; i < n; i++) {
    let fm = 0;
    for (let k = 0; k < d; k++) fm += (f[i * d + k] as number) * m[k]!;
    residual += (fm - (y[i] as number)) ** 2;
  }
  const mm = m.reduce((s, x) => s + x * x, 0);
  return (n / 2) * Math.log(beta) + (d / 2) * Math.log(alpha) - (n / 2) * Math.log(2 * Math.PI) - (beta / 2) * residual - (alpha / 2) * mm - logDet / 2;
}

describe('logme', () => {
  it.each([
    [30, 6, 'N > D'],
    [8, 20, 'N < D'],
  ])('its evidence at the fixed point equals Eq. 2 evaluated densely (%i x %i, %s)', (n, d) => {
    const { f, labels } = synthetic(n, d, 2, n * 31 + d);
    const result = logme(f, [n, d], labels, 2);
    result.perClass.forEach((c, k) => {
      const y = Float64Array.from(labels, (l) => (l === k ? 1 : 0));
      expect(c.evidence).toBeCloseTo(denseEvidence(f, n, d, y, c.alpha, c.beta) / n, 9);
    });
    expect(result.score).toBeCloseTo((result.perClass[0]!.evidence + result.perClass[1]!.evidence) / 2, 14);
  });

  it('stops at a fixed point: alpha = gamma / m^T m and beta = (N - gamma) / |y - F m|^2 hold there', () => {
    const n = 60;
    const d = 5;
    const { f, labels } = synthetic(n, d, 3, 4);
    const result = logme(f, [n, d], labels, 3);
    // Nudging alpha or beta away from the reported values can only lower the evidence.
    result.perClass.forEach((c, k) => {
      const y = Float64Array.from(labels, (l) => (l === k ? 1 : 0));
      const at = denseEvidence(f, n, d, y, c.alpha, c.beta);
      for (const [da, db] of [[1.05, 1], [0.95, 1], [1, 1.05], [1, 0.95]] as const) {
        expect(denseEvidence(f, n, d, y, c.alpha * da, c.beta * db)).toBeLessThan(at);
      }
      expect(c.iterations).toBeLessThan(1000);
    });
  });

  it('is unchanged by all-zero feature columns, across the N > D and N <= D computations', () => {
    // The weights of a zero column never touch y and its prior integrates out, so the evidence is
    // exactly the same. This holds only if log|A| counts all D eigenvalues, zeros included: the
    // published code's thin-SVD shortcut (thuml/LogME issue #23) gains (D - N)/2 log alpha here.
    const n = 40;
    const d = 12;
    const { f, labels } = synthetic(n, d, 2, 7);
    const base = logme(f, [n, d], labels, 2);
    expect(base.gram).toBe('features');
    for (const extra of [10, 28, 100]) {
      const padded = logme(padColumns(f, n, d, extra), [n, d + extra], labels, 2);
      expect(padded.gram).toBe(d + extra >= n ? 'samples' : 'features');
      expect(padded.rank).toBe(d);
      expect(padded.score).toBeCloseTo(base.score, 9);
    }
  });

  it('is unchanged by scaling all features by a constant', () => {
    const n = 25;
    const d = 40;
    const { f, labels } = synthetic(n, d, 3, 11);
    const scaled = Float64Array.from(f, (x) => 37.5 * x);
    expect(logme(scaled, [n, d], labels, 3).score).toBeCloseTo(logme(f, [n, d], labels, 3).score, 9);
  });

  it('scores informative features above uninformative ones', () => {
    const n = 80;
    const d = 20;
    const good = synthetic(n, d, 2, 3, 2);
    const noise = synthetic(n, d, 2, 3, 0);
    expect(logme(good.f, [n, d], good.labels, 2).score).toBeGreaterThan(logme(noise.f, [n, d], noise.labels, 2).score + 0.1);
  });

  it('reaches the noise-only evidence when the features are orthogonal to every target (alpha -> infinity)', () => {
    // Each column sums to zero over the rows of each class, so F^T y = 0 for both one-vs-rest
    // targets: the best model is w = 0 and y ~ N(0, 1/beta) with beta = N / |y|^2.
    const n = 8;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
    const columns = [
      [1, 0, -1, 0, 0, 0, 0, 0],
      [0, 2, 0, -1, 0, -1, 0, 0],
      [3, 0, 0, 0, -1, 0, -2, 0],
      [0, 0, 0, 1, 0, 0, 0, -1],
    ];
    const d = columns.length;
    const f = Float64Array.from({ length: n * d }, (_, idx) => columns[idx % d]![Math.floor(idx / d)]!);
    const result = logme(f, [n, d], labels, 2);
    const beta = n / (n / 2);
    const noiseOnly = 0.5 * Math.log(beta) - 0.5 * Math.log(2 * Math.PI) - 0.5;
    expect(result.score).toBeCloseTo(noiseOnly, 10);
  });

  it('accepts float32 rows and refuses malformed input', () => {
    const { f, labels } = synthetic(20, 4, 2, 1);
    const rounded = Float32Array.from(f);
    expect(logme(rounded, [20, 4], labels, 2).score).toBe(logme(Float64Array.from(rounded), [20, 4], labels, 2).score);
    expect(() => logme(f, [20, 5], labels, 2)).toThrow(BadRequestError);
    expect(() => logme(f, [20, 4], labels.subarray(1), 2)).toThrow(/labels/);
    expect(() => logme(f, [20, 4], labels, 1)).toThrow(/2 classes/);
    expect(() => logme(f, [20, 4], Int32Array.from(labels, (l) => l + 1), 2)).toThrow(/outside/);
    expect(() => logme(f, [20, 4], labels, 3)).toThrow(/class 2 has no examples/);
    const bad = f.slice();
    bad[3] = Number.NaN;
    expect(() => logme(bad, [20, 4], labels, 2)).toThrow(/not finite/);
  });
});
