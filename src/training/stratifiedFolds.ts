/**
 * Seeded stratified k-fold assignment: every class is spread over the folds as evenly as its count
 * allows, so each validation fold sees every class (when the class has at least k examples) and
 * each training fold keeps the class balance of the whole set.
 */
import { shuffleInPlace, type Random } from './random.js';

/** Row indices of each class 0..classes-1, in row order (labels outside the range are dropped). */
export function rowsByClass(labels: Int32Array, classes: number): number[][] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((label, row) => byClass[label]?.push(row));
  return byClass;
}

/** Fold index (0..k-1) of every row. */
export function stratifiedFolds(labels: Int32Array, classes: number, k: number, random: Random): Int32Array {
  const byClass = rowsByClass(labels, classes);
  const fold = new Int32Array(labels.length);
  // Continuing the round-robin from where the previous class stopped keeps the fold sizes within one.
  let next = 0;
  for (const rows of byClass) {
    shuffleInPlace(rows, random);
    for (const row of rows) {
      fold[row] = next;
      next = (next + 1) % k;
    }
  }
  return fold;
}

export interface FoldSplit {
  train: Int32Array;
  validation: Int32Array;
}

export function foldSplits(fold: Int32Array, k: number): FoldSplit[] {
  return Array.from({ length: k }, (_, f) => {
    const train: number[] = [];
    const validation: number[] = [];
    fold.forEach((g, row) => (g === f ? validation : train).push(row));
    return { train: Int32Array.from(train), validation: Int32Array.from(validation) };
  });
}
