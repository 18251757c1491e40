/**
 * Classification metrics from true and predicted class indices. Conventions follow scikit-learn:
 * precision of a class never predicted is 0, F1 is 0 when precision and recall are both 0, and the
 * confusion matrix has true classes in rows and predicted classes in columns.
 */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Number of true examples of the class. */
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  /** Mean recall over classes: accuracy as if every class were equally frequent. */
  balancedAccuracy: number;
  macroF1: number;
  n: number;
  labels: string[];
  perClass: Record<string, ClassMetrics>;
  /** confusion[true][predicted], in `labels` order. */
  confusion: number[][];
}

export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  if (truth.length !== predicted.length) {
    throw new RangeError(`truth has ${truth.length} entries, predictions ${predicted.length}`);
  }
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const p = predicted[i] as number;
    const row = matrix[t];
    if (row === undefined || p < 0 || p >= classes) throw new RangeError(`class index out of range at ${i}: true ${t}, predicted ${p}`);
    row[p] = (row[p] as number) + 1;
  }
  return matrix;
}

export function metricsFromConfusion(confusion: number[][], labels: readonly string[]): ClassificationMetrics {
  const k = labels.length;
  let n = 0;
  let correct = 0;
  const perClass: Record<string, ClassMetrics> = {};
  let f1Sum = 0;
  let recallSum = 0;
  let classesWithSupport = 0;
  for (let c = 0; c < k; c++) {
    const row = confusion[c] ?? [];
    const support = row.reduce((a, b) => a + b, 0);
    const truePositives = row[c] ?? 0;
    const predictedCount = confusion.reduce((a, r) => a + (r[c] ?? 0), 0);
    const precision = predictedCount > 0 ? truePositives / predictedCount : 0;
    const recall = support > 0 ? truePositives / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[labels[c] as string] = { precision, recall, f1, support };
    n += support;
    correct += truePositives;
    f1Sum += f1;
    if (support > 0) {
      recallSum += recall;
      classesWithSupport++;
    }
  }
  return {
    accuracy: n > 0 ? correct / n : 0,
    balancedAccuracy: classesWithSupport > 0 ? recallSum / classesWithSupport : 0,
    macroF1: k > 0 ? f1Sum / k : 0,
    n,
    labels: [...labels],
    perClass,
    confusion,
  };
}

/** Metrics of predictions against the truth, for classes named by `labels` (index = class). */
export function classificationMetrics(truth: ArrayLike<number>, predicted: ArrayLike<number>, labels: readonly string[]): ClassificationMetrics {
  return metricsFromConfusion(confusionMatrix(truth, predicted, labels.length), labels);
}
