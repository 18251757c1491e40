import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../../src/registry/ModelManifest.js';
import {
  buildReportInput,
  readAssessment,
  readLambdaScores,
  readLearningCurve,
  readOutOfDomain,
  selectMisclassified,
  type ReportManifest,
  type ReportRows,
} from '../../../src/report/reportInput.js';
import { tempStore } from '../../helpers/fakes.js';
import { datasetsDir } from '../../helpers/shared.js';

const classNames = ['a', 'b', 'c'];

/** Rows whose out-of-fold prediction is `predicted[i]` with probability `p[i]`. */
function rows(truth: number[], predicted: number[], p: number[]): ReportRows {
  const probabilities = new Float32Array(truth.length * 3);
  truth.forEach((_, i) => {
    const rest = (1 - (p[i] as number)) / 2;
    for (let c = 0; c < 3; c++) probabilities[i * 3 + c] = c === predicted[i] ? (p[i] as number) : rest;
  });
  return { keys: truth.map((t, i) => `datasets/d/${classNames[t]}/img${i}.jpg`), labels: Int32Array.from(truth), classNames, oofProbabilities: probabilities };
}

describe('selectMisclassified', () => {
  // Five a->b errors, one a->c, one c->b, and three right.
  const data = rows([0, 0, 0, 0, 0, 0, 2, 1, 1, 2], [1, 1, 1, 1, 1, 2, 1, 1, 1, 2], [0.5, 0.9, 0.6, 0.8, 0.7, 0.55, 0.95, 0.9, 0.9, 0.9]);

  it('finds every out-of-fold error, most confident first within a pair', () => {
    const { selected, total } = selectMisclassified(data, 100);
    expect(total).toBe(7);
    expect(selected.filter((m) => m.trueLabel === 'a' && m.predictedLabel === 'b').map((m) => m.probability)).toEqual(
      [0.9, 0.8, 0.7, 0.6, 0.5].map((v) => Math.fround(v)),
    );
  });

  it('takes pairs round-robin under a cap, so every kind of confusion shows', () => {
    const { selected, total } = selectMisclassified(data, 4);
    expect(total).toBe(7);
    expect(selected.map((m) => `${m.trueLabel}>${m.predictedLabel}`)).toEqual(['a>b', 'a>c', 'c>b', 'a>b']);
    expect(selected[0]?.key).toBe('datasets/d/a/img1.jpg');
  });

  it('refuses rows that disagree in length', () => {
    expect(() => selectMisclassified({ ...data, labels: new Int32Array(3) }, 10)).toThrow(/disagree/);
  });
});

describe('tolerant readers of other modules’ sections', () => {
  it('keeps well-formed data and drops the malformed', () => {
    expect(readAssessment({ verdict: 'helps', gain: 0.1, backbones: [{ id: 'x', logme: 1 }, { logme: 2 }, 'junk'] })).toEqual({
      verdict: 'helps',
      explanation: undefined,
      baselineAccuracy: undefined,
      gain: 0.1,
      backbones: [{ id: 'x', logme: 1, probeAccuracy: undefined }],
    });
    expect(readAssessment({ gain: 0.1 })).toBeUndefined();
    expect(readAssessment('helps')).toBeUndefined();
    expect(
      readLearningCurve([{ k: 2, embedding: { mean: 0.5, std: 0.1 } }, { k: 'all', embedding: { mean: 0.7 }, baseline: { mean: 0.4, std: 0.02 }, seeds: 3 }, { k: 'x' }, { k: 0, embedding: { mean: 1 } }]),
    ).toEqual([
      { k: 2, embedding: { mean: 0.5, std: 0.1 } },
      { k: 'all', embedding: { mean: 0.7, std: 0 }, baseline: { mean: 0.4, std: 0.02 }, seeds: 3 },
    ]);
    expect(readLearningCurve([])).toBeUndefined();
    expect(readOutOfDomain({ threshold: 0.2 })).toBeUndefined();
    expect(readOutOfDomain({ method: 'knn', k: 5, threshold: 0.2, falseAlarmRate: 0.05, calibration: { rows: 10, quantiles: [{ q: 0.5, score: 0.1 }, { q: 'x' }] } })).toMatchObject({
      calibration: { rows: 10, quantiles: [{ q: 0.5, score: 0.1 }] },
    });
    expect(readLambdaScores([{ lambda: 0.1, accuracy: 0.8 }, { lambda: -1 }, null])).toEqual([{ lambda: 0.1, accuracy: 0.8, balancedAccuracy: undefined, logLoss: undefined }]);
  });
});

describe('buildReportInput', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());

  const manifest: ModelManifest = {
    dataset: 'd',
    version: 'v1',
    createdAt: '2026-01-01T00:00:00.000Z',
    labels: classNames,
    backbone: { id: 'bb@1', name: 'bb', sha256: 'x', embeddingSize: 4 },
    preprocessing: {},
    head: { kind: 'linear', lambda: 1e-3, file: 'head.onnx' },
    metrics: { accuracy: 0.3, macroF1: 0.3, n: 10, labels: classNames, perClass: {}, confusion: [] },
    training: { seed: 0, folds: 2, lambdas: [1e-3], device: 'cpu', durationMs: 1, imagesPerLabel: { a: 6, b: 2, c: 2 }, curve: [1, 0.5] },
    data: { fingerprint: 'f', images: 10, excluded: [] },
    files: { head: 'head.onnx' },
    validation: { balancedAccuracy: 0.25, logLoss: 1, lambdaScores: [{ lambda: 1e-3, balancedAccuracy: 0.25, accuracy: 0.3, logLoss: 1 }], selection: 'rule' },
  };

  it('reads a ModelManifest as it is, leaving out sections it does not have', async () => {
    const fromManifest: ReportManifest = manifest; // compile-time: the registry's manifest fits
    const { store, cleanup: c } = await tempStore();
    cleanup = c;
    const input = await buildReportInput(store, fromManifest);
    expect(input.images).toEqual({ total: 10, perLabel: { a: 6, b: 2, c: 2 }, excluded: [] });
    expect(input.metrics.balancedAccuracy).toBe(0.25);
    expect(input.trainingCurve).toEqual([1, 0.5]);
    expect(input.lambdaScores).toHaveLength(1);
    expect(input.folds).toBe(2);
    expect(input).not.toHaveProperty('assessment');
    expect(input).not.toHaveProperty('learningCurve');
    expect(input).not.toHaveProperty('outOfDomain');
    expect(input).not.toHaveProperty('misclassified');
  });

  it('makes 64 px JPEG thumbnails of the errors from the store, and lists unreadable ones without', async () => {
    const { store, cleanup: c } = await tempStore();
    cleanup = c;
    const data = rows([0, 0, 0, 1], [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.9]);
    const photo = await readFile(path.join(datasetsDir(), 'hymenoptera', 'train', 'ants', 'ant photos.jpg'));
    await store.put(data.keys[0]!, photo);
    await store.put(data.keys[1]!, new TextEncoder().encode('not an image'));
    // data.keys[2] is missing from the store.
    const input = await buildReportInput(store, manifest, data);
    expect(input.misclassifiedTotal).toBe(3);
    const [first, second, third] = input.misclassified!;
    expect(first?.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
    const jpeg = Buffer.from(first!.thumbnail!.split(',')[1]!, 'base64');
    expect(await sharp(jpeg).metadata()).toMatchObject({ format: 'jpeg', width: 64, height: 64 });
    expect(jpeg.length).toBeLessThan(6000);
    expect(second?.thumbnail).toBeUndefined();
    expect(third?.thumbnail).toBeUndefined();
    expect(third?.key).toBe(data.keys[2]);
  });

  it('a text version: the start of each misclassified text from the store, its representation, curve names and out-of-domain rule', async () => {
    const { store, cleanup: c } = await tempStore();
    cleanup = c;
    const base = rows([0, 0, 0, 1], [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.9]);
    const data = { ...base, keys: base.keys.map((k) => k.replace(/\.jpg$/, '.txt')) };
    await store.put(data.keys[0]!, new TextEncoder().encode('my card\n\nhas not   arrived <b>yet</b>'));
    await store.put(data.keys[1]!, new TextEncoder().encode(`${'long '.repeat(100)}end`));
    await store.put(data.keys[2]!, new Uint8Array([0xff, 0xfe, 0x00])); // no longer a text
    const text: ModelManifest = {
      ...manifest,
      modality: 'text',
      backbone: { id: 'tfidf@0123456789abcdef', name: 'tfidf', sha256: 'x', embeddingSize: 10 },
      text: { representation: 'tfidf', outOfDomain: { method: 'max-probability', falseAlarmRate: 0.05, threshold: 0.42 }, choice: 'no encoder installed' },
      learningCurve: { points: [{ k: 1, perClass: 1, trainImages: 3, embedding: { mean: 0.4, std: 0.1, values: [0.4] }, seeds: 1 }], heldOut: 3, regularization: 0.05, metric: 'balancedAccuracy', skipped: [], series: { embedding: 'TF-IDF + head' } },
    };
    const input = await buildReportInput(store, text, data);
    expect(input.modality).toBe('text');
    expect(input.representation).toEqual({ kind: 'tfidf', choice: 'no encoder installed' });
    expect(input.learningCurveSeries).toEqual({ embedding: 'TF-IDF + head' });
    expect(input.outOfDomain).toMatchObject({ method: 'max-probability', threshold: 0.42, falseAlarmRate: 0.05 });
    const [first, second, third] = input.misclassified!;
    // Whitespace runs become one space; the markup stays text here (the renderer escapes it).
    expect(first?.text).toBe('my card has not arrived <b>yet</b>');
    expect(second?.text).toHaveLength(301);
    expect(second?.text?.endsWith('…')).toBe(true);
    expect(third?.text).toBeUndefined();
    for (const item of input.misclassified!) expect(item.thumbnail).toBeUndefined();
  });
});
