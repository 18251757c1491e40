import { describe, expect, it } from 'vitest';
import { sampleTrainingData, type TrainingData } from '../../../src/pipeline/trainingData.js';
import { sampleRows } from '../../../src/transfer/sampleRows.js';

/** 3 labels of 10, 4 and 2 rows; row i's vector is [i, -i]. */
function dataset(): TrainingData {
  const labels = Int32Array.from([...Array(10).fill(0), ...Array(4).fill(1), 2, 2]);
  const n = labels.length;
  return {
    embeddings: Float32Array.from({ length: 2 * n }, (_, j) => (j % 2 === 0 ? j / 2 : -(j - 1) / 2)),
    dims: [n, 2],
    labels,
    classNames: ['a', 'b', 'c'],
    keys: Array.from({ length: n }, (_, i) => `datasets/d/x/${i}.png`),
    sha256s: Array.from({ length: n }, (_, i) => `sha${i}`),
    excluded: [{ key: 'datasets/d/x/dup.png', reason: 'duplicate' }],
    fingerprint: 'f',
  };
}

describe('sampleTrainingData', () => {
  it('keeps the rows sampleRows draws, with their vectors, labels and keys', () => {
    const data = dataset();
    const sample = sampleTrainingData(data, 3, 7);
    const expected = sampleRows(data.keys.map((key, i) => ({ key, label: data.classNames[data.labels[i] as number] as string })), 3, 7).map((r) => r.key);
    expect(sample.keys).toEqual(expected);
    expect(sample.dims).toEqual([3 + 3 + 2, 2]);
    sample.keys.forEach((key, i) => {
      const row = data.keys.indexOf(key);
      expect(sample.labels[i]).toBe(data.labels[row]);
      expect(sample.sha256s[i]).toBe(`sha${row}`);
      expect(Array.from(sample.embeddings.subarray(2 * i, 2 * i + 2))).toEqual([row, -row]);
    });
    expect(sample.classNames).toEqual(data.classNames);
    expect(sample.excluded).toEqual(data.excluded);
  });

  it('is a fixed point: sampling the sample again with the same cap and seed keeps every row', () => {
    const sample = sampleTrainingData(dataset(), 3, 7);
    expect(sampleTrainingData(sample, 3, 7).keys).toEqual(sample.keys);
    // A different seed draws other rows of the larger labels.
    expect(sampleTrainingData(dataset(), 3, 8).keys).not.toEqual(sample.keys);
  });
});
