/**
 * What the trainer does at scale, on small data: float32 and float64 arithmetic agree, the matrix
 * fed per fold and the matrix stored in the session (the CUDA placement, run here on the CPU) give
 * the same head, CUDA falls back to the CPU and says so, and the CV plan's rule (cvPlan.ts).
 */
import { describe, expect, it } from 'vitest';
import { cudaAvailable } from '../../../src/backend/onnx.js';
import { adaptiveSearch, defaultFolds, defaultLambdaGrid, FULL_GRID_MAX_COST } from '../../../src/training/cvPlan.js';
import { createRandom } from '../../../src/training/random.js';
import { inverseRowNorms } from '../../../src/training/rows.js';
import { DEFAULT_LAMBDAS, trainHead } from '../../../src/training/trainHead.js';
import type { LambdaScore, TrainingData } from '../../../src/training/types.js';

function blobs(perClass: number, classes: number, dim: number, spread: number, seed: number): TrainingData {
  const random = createRandom(seed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => random.normal()));
  const n = perClass * classes;
  const embeddings = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    // Non-negative and of varying norm, like pooled CNN features.
    const scale = 1 + 3 * random.next();
    for (let j = 0; j < dim; j++) embeddings[i * dim + j] = scale * Math.abs((centres[c] as number[])[j]! + spread * random.normal());
  }
  return { embeddings, dims: [n, dim], labels, classNames: Array.from({ length: classes }, (_, c) => `c${c}`) };
}

describe('trainHead at scale', () => {
  const data = blobs(40, 4, 24, 0.9, 5);

  it('float32 arithmetic chooses the same lambda with the same out-of-fold accuracy as float64', async () => {
    const f64 = await trainHead(data, { dtype: 'float64', seed: 1 });
    const f32 = await trainHead(data, { dtype: 'float32', seed: 1 });
    expect(f32.settings.dtype).toBe('float32');
    expect(f32.lambda).toBe(f64.lambda);
    expect(f32.settings.lambdas).toEqual(f64.settings.lambdas);
    expect(Math.abs(f32.metrics.accuracy - f64.metrics.accuracy)).toBeLessThanOrEqual(1 / 160);
    const w32 = f32.params.layers[0]!.weights;
    const w64 = f64.params.layers[0]!.weights;
    const worst = w32.reduce((m, v, i) => Math.max(m, Math.abs(v - (w64[i] as number))), 0);
    expect(worst).toBeLessThan(1e-2 * Math.max(...Array.from(w64, Math.abs)));
  });

  it('gives the same head with the matrix stored in the session (a fold = a row-weight mask) as fed per fold', async () => {
    const fed = await trainHead(data, { seed: 2, placement: 'fed', lambdas: [1e-2, 1e-3] });
    const resident = await trainHead(data, { seed: 2, placement: 'resident', lambdas: [1e-2, 1e-3] });
    expect(fed.settings.placement).toBe('fed');
    expect(resident.settings.placement).toBe('resident');
    expect(resident.lambda).toBe(fed.lambda);
    expect(Array.from(resident.oofPredictions)).toEqual(Array.from(fed.oofPredictions));
    resident.params.layers[0]!.weights.forEach((v, i) => expect(v).toBeCloseTo(fed.params.layers[0]!.weights[i] as number, 3));
  });

  it('falls back to the CPU when CUDA is asked for where there is none, and says so', async () => {
    const head = await trainHead(data, { device: 'cuda', lambdas: [1e-3] });
    expect(head.settings.deviceRequested).toBe('cuda');
    if (cudaAvailable()) {
      expect(head.settings.device).toBe('cuda');
    } else {
      expect(head.settings.device).toBe('cpu');
      expect(head.settings.deviceFallback).toMatch(/CUDA requested.*trained on the CPU/);
      expect(head.settings.placement).toBe('fed');
    }
  });

  it('scales rows by their inverse norm and refuses non-finite values', () => {
    expect(Array.from(inverseRowNorms(Float32Array.of(3, 4, 0, 0), 2, 2, 1e-12, 'float64'))).toEqual([0.2, 1e12]);
    expect(() => inverseRowNorms(Float32Array.of(1, Number.NaN, Number.POSITIVE_INFINITY, 0), 2, 2, 1e-12, 'float32')).toThrow(/2 non-finite/);
  });
});

describe('cross-validation plan', () => {
  const scoresOf = (entries: Array<[number, number]>): LambdaScore[] => entries.map(([lambda, balancedAccuracy]) => ({ lambda, balancedAccuracy, accuracy: balancedAccuracy, logLoss: 1 }));

  it('uses 5 folds up to 5,000 rows and 3 above', () => {
    expect(defaultFolds(200)).toBe(5);
    expect(defaultFolds(5_000)).toBe(5);
    expect(defaultFolds(5_001)).toBe(3);
  });

  it('keeps the 11-point grid up to 10,000 rows and reaches 1/(100 N) beyond', () => {
    expect(defaultLambdaGrid(244)).toEqual([...DEFAULT_LAMBDAS]);
    expect(defaultLambdaGrid(10_000)).toEqual([...DEFAULT_LAMBDAS]);
    expect(defaultLambdaGrid(100_000)).toEqual([...DEFAULT_LAMBDAS, 3e-7, 1e-7]);
  });

  it('extends the grid one half-decade past a weakest lambda that wins, and no further', () => {
    const search = adaptiveSearch(10_000, 1);
    expect(search.initial).toHaveLength(11);
    const grid = search.initial.map((l, i): [number, number] => [l, 0.5 + i / 100]);
    expect(search.next(scoresOf(grid))).toEqual([3e-7]);
    expect(search.next(scoresOf([...grid, [3e-7, 0.7]]))).toEqual([]);
    const strong = search.initial.map((l, i): [number, number] => [l, 0.9 - i / 100]);
    expect(search.next(scoresOf(strong))).toEqual([0.3]);
  });

  it('searches decades first, then the half-decades around the best, when an evaluation is costly', () => {
    const search = adaptiveSearch(100_000, FULL_GRID_MAX_COST * 10);
    expect(search.initial).toEqual([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7]);
    const coarse = scoresOf(search.initial.map((l) => [l, l === 1e-4 ? 0.9 : 0.8]));
    expect(search.next(coarse).sort()).toEqual([3e-5, 3e-4].sort());
    expect(search.next(scoresOf([...coarse.map((s): [number, number] => [s.lambda, s.balancedAccuracy]), [3e-4, 0.85], [3e-5, 0.85]]))).toEqual([]);
  });

  it('is used by trainHead for the default grid and recorded', async () => {
    const head = await trainHead(blobs(30, 3, 16, 0.7, 9), { seed: 0 });
    expect(head.settings.lambdaSearch).toMatch(/every half-decade/);
    expect(head.settings.lambdas.slice(0, 11)).toEqual([...DEFAULT_LAMBDAS]);
  });
});
