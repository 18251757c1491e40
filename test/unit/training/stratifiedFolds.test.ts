import { describe, expect, it } from 'vitest';
import { foldSplits, stratifiedFolds } from '../../../src/training/stratifiedFolds.js';
import { createRandom, shuffleInPlace } from '../../../src/training/random.js';

// 23 of class 0, 11 of class 1, 5 of class 2, in shuffled order.
const labels = Int32Array.from(shuffleInPlace([23, 11, 5].flatMap((n, c) => new Array<number>(n).fill(c)), createRandom(9)));

describe('stratifiedFolds', () => {
  it('spreads every class over the folds as evenly as its count allows', () => {
    const k = 5;
    const fold = stratifiedFolds(labels, 3, k, createRandom(1));
    for (let c = 0; c < 3; c++) {
      const perFold = new Array(k).fill(0);
      labels.forEach((l, i) => l === c && perFold[fold[i] as number]++);
      expect(Math.max(...perFold) - Math.min(...perFold)).toBeLessThanOrEqual(1);
    }
    const sizes = new Array(k).fill(0);
    fold.forEach((f) => sizes[f]++);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('is the same for the same seed and differs for another', () => {
    const a = stratifiedFolds(labels, 3, 5, createRandom(42));
    const b = stratifiedFolds(labels, 3, 5, createRandom(42));
    const c = stratifiedFolds(labels, 3, 5, createRandom(43));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('splits into disjoint train/validation sets covering every row once', () => {
    const fold = stratifiedFolds(labels, 3, 4, createRandom(0));
    const splits = foldSplits(fold, 4);
    const seen = new Array(labels.length).fill(0);
    for (const { train, validation } of splits) {
      expect(train.length + validation.length).toBe(labels.length);
      const inTrain = new Set(train);
      validation.forEach((row) => {
        expect(inTrain.has(row)).toBe(false);
        seen[row]++;
      });
    }
    expect(seen.every((n) => n === 1)).toBe(true);
  });
});
