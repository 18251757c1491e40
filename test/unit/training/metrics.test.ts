import { describe, expect, it } from 'vitest';
import { classificationMetrics, confusionMatrix } from '../../../src/training/metrics.js';

describe('classificationMetrics', () => {
  // Reference from scikit-learn 1.9.1 with labels=[0,1,2,3], zero_division=0:
  //   confusion_matrix, precision_recall_fscore_support, f1_score(average='macro'),
  //   accuracy_score, balanced_accuracy_score
  const truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0];
  const predicted = [0, 1, 0, 1, 2, 2, 2, 0, 2, 0];
  const labels = ['ant', 'bee', 'wasp', 'moth'];

  it('matches scikit-learn on a small example, including a class with no examples', () => {
    const m = classificationMetrics(truth, predicted, labels);
    expect(m.confusion).toEqual([
      [3, 1, 0, 0],
      [0, 1, 1, 0],
      [1, 0, 3, 0],
      [0, 0, 0, 0],
    ]);
    expect(m.accuracy).toBeCloseTo(0.7, 12);
    expect(m.balancedAccuracy).toBeCloseTo(2 / 3, 12);
    expect(m.macroF1).toBeCloseTo(0.5, 12);
    expect(m.n).toBe(10);
    expect(m.labels).toEqual(labels);
    expect(m.perClass['ant']).toEqual({ precision: 0.75, recall: 0.75, f1: 0.75, support: 4 });
    expect(m.perClass['bee']).toEqual({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(m.perClass['wasp']).toEqual({ precision: 0.75, recall: 0.75, f1: 0.75, support: 4 });
    expect(m.perClass['moth']).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
  });

  it('puts true classes in rows and predictions in columns', () => {
    const m = confusionMatrix([0, 0, 0], [1, 1, 0], 2);
    expect(m).toEqual([
      [1, 2],
      [0, 0],
    ]);
  });

  it('gives precision 0 for a class never predicted, with its recall still counted', () => {
    const m = classificationMetrics([0, 1, 1], [0, 0, 0], ['a', 'b']);
    expect(m.perClass['b']).toEqual({ precision: 0, recall: 0, f1: 0, support: 2 });
    expect(m.perClass['a']?.precision).toBeCloseTo(1 / 3, 12);
    expect(m.perClass['a']?.recall).toBe(1);
  });

  it('rejects mismatched lengths and out-of-range classes', () => {
    expect(() => classificationMetrics([0, 1], [0], ['a', 'b'])).toThrow(RangeError);
    expect(() => classificationMetrics([0, 2], [0, 1], ['a', 'b'])).toThrow(/out of range/);
  });
});
