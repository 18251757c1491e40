import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrainingDataError } from '../../../src/errors.js';
import { TfidfFeaturizer } from '../../../src/text/tfidf.js';
import { encoderCurveSeries, TEXT_CURVE_SERIES, textCurveOptions, textLearningCurve, type TextLearningCurveInput } from '../../../src/text/textLearningCurve.js';
import { measureCurve } from '../../../src/transfer/learningCurve.js';
import { datasetsDir } from '../../helpers/shared.js';

let full: Array<{ text: string; category: string }>;
/** Six banking77 intents, the first 30 training texts of each (file order). */
let small: TextLearningCurveInput;

function subset(rows: Array<{ text: string; category: string }>, intents: readonly string[], perClass: number): TextLearningCurveInput {
  const seen = new Map<string, number>();
  const picked = rows.filter((r) => {
    if (!intents.includes(r.category)) return false;
    const n = seen.get(r.category) ?? 0;
    seen.set(r.category, n + 1);
    return n < perClass;
  });
  const classNames = [...intents].sort();
  return { texts: picked.map((r) => r.text), labels: Int32Array.from(picked, (r) => classNames.indexOf(r.category)), classNames };
}

beforeAll(async () => {
  full = parse(await readFile(path.join(datasetsDir(), 'banking77', 'train.csv')), { columns: true }) as Array<{ text: string; category: string }>;
  small = subset(full, ['card_arrival', 'lost_or_stolen_card', 'top_up_failed', 'exchange_rate', 'pin_blocked', 'cash_withdrawal_charge'], 30);
});

describe('textLearningCurve (TF-IDF + sparse head, banking77)', () => {
  it('measures held-out balanced accuracy at k = 1, 2, 5, 10, 20 and all, 3 seeds, in the image curve shape', async () => {
    // 30 a class: 9 held out, a pool of 21; k = 50 does not fit.
    const curve = await textLearningCurve(small, { ks: [1, 2, 5, 10, 20, 50] });
    expect(curve.points.map((p) => p.k)).toEqual([1, 2, 5, 10, 20, 'all']);
    expect(curve.points.map((p) => p.trainImages)).toEqual([6, 12, 30, 60, 120, 126]);
    expect(curve.skipped).toEqual([50]);
    expect(curve.heldOut).toBe(6 * 9);
    expect(curve.metric).toBe('balancedAccuracy');
    expect(curve.series).toEqual({ embedding: TEXT_CURVE_SERIES });
    for (const p of curve.points) {
      expect(p.seeds).toBe(3);
      expect(p.embedding.values).toHaveLength(3);
      expect(p.baseline).toBeUndefined();
    }
    const [k1, , , k10, , all] = curve.points;
    // Chance is 1/6; one text an intent already says something, twenty say much more.
    expect(k1!.embedding.mean).toBeGreaterThan(0.3);
    expect(k10!.embedding.mean).toBeGreaterThan(k1!.embedding.mean + 0.15);
    expect(all!.embedding.mean).toBeGreaterThan(0.8);
  });

  it('fits the featuriser on each fit’s training texts only: no n-gram of a held-out text', async () => {
    const fits: Array<{ train: readonly number[]; features: number }> = [];
    await textLearningCurve(small, { ks: [2, 10], seeds: 2, onFit: (f) => fits.push(f) });
    expect(fits).toHaveLength(2 * 3);
    for (const { train, features } of fits) {
      const trainTexts = train.map((r) => small.texts[r] as string);
      expect(features).toBe(TfidfFeaturizer.fit(trainTexts).dimension);
      // A leak would show: the other texts (held-out among them) bring n-grams of their own.
      expect(features).toBeLessThan(TfidfFeaturizer.fit(small.texts).dimension);
    }
  });

  it('is deterministic for a seed, and another seed draws other texts', async () => {
    const a = await textLearningCurve(small, { ks: [2], seeds: 2, seed: 5 });
    expect(await textLearningCurve(small, { ks: [2], seeds: 2, seed: 5 })).toEqual(a);
    const b = await textLearningCurve(small, { ks: [2], seeds: 2, seed: 6 });
    expect(b.points[0]!.embedding.values).not.toEqual(a.points[0]!.embedding.values);
  });

  it('refuses a label without one text to hold out and one to train on, naming texts', async () => {
    const lonely = { texts: [...small.texts.slice(0, 31)], labels: Int32Array.from([...new Array<number>(30).fill(0), 1]), classNames: ['a', 'b'] };
    await expect(textLearningCurve(lonely)).rejects.toThrow(TrainingDataError);
    await expect(textLearningCurve(lonely)).rejects.toThrow(/2 texts each.*b 1/);
  });
});

describe('textLearningCurve with a text encoder (an encoder version: the encoder beside TF-IDF)', () => {
  /**
   * A stand-in for a pretrained encoder that already separates the intents: each text's embedding
   * is its label's direction plus seeded noise. The curve must credit it at k = 1, where TF-IDF
   * has one text an intent to learn n-grams from.
   */
  function separatingEncoder(input: TextLearningCurveInput, dim = 16): { name: string; embeddings: Float32Array; dim: number } {
    let state = 12345;
    const noise = (): number => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.6;
    const embeddings = new Float32Array(input.labels.length * dim);
    input.labels.forEach((label, row) => {
      for (let d = 0; d < dim; d++) embeddings[row * dim + d] = (d === label ? 1 : 0) + noise();
    });
    return { name: 'separating', embeddings, dim };
  }

  it('draws the encoder as the first series and TF-IDF as the no-transfer baseline, on the same fits', async () => {
    const curve = await textLearningCurve({ ...small, encoder: separatingEncoder(small) }, { ks: [1, 5], seeds: 2 });
    expect(curve.series).toEqual({ embedding: encoderCurveSeries('separating'), baseline: TEXT_CURVE_SERIES });
    expect(curve.points.map((p) => p.k)).toEqual([1, 5, 'all']);
    for (const p of curve.points) {
      expect(p.embedding.values).toHaveLength(2);
      expect(p.baseline!.values).toHaveLength(2);
    }
    const [k1] = curve.points;
    expect(k1!.embedding.mean).toBeGreaterThan(0.9);
    expect(k1!.embedding.mean).toBeGreaterThan(k1!.baseline!.mean + 0.2);
    // The TF-IDF series is the TF-IDF-only curve's, point for point (same splits, same fits).
    const alone = await textLearningCurve(small, { ks: [1, 5], seeds: 2 });
    expect(curve.points.map((p) => p.baseline!.values)).toEqual(alone.points.map((p) => p.embedding.values));
  });

  it('refuses embeddings that are not one row a text', async () => {
    const encoder = { name: 'short', embeddings: new Float32Array(4 * (small.labels.length - 1)), dim: 4 };
    await expect(textLearningCurve({ ...small, encoder })).rejects.toThrow(/180 texts but 179 embedding rows of short/);
  });
});

describe('the cost rule (textCurveOptions)', () => {
  /** The points the rule keeps for these labels, without fitting anything. */
  async function plan(input: TextLearningCurveInput) {
    const fits: number[] = [];
    const measured = await measureCurve(input.labels, input.classNames, textCurveOptions(input.labels.length), async ({ train }) => {
      fits.push(train.length);
      return { embedding: 0 };
    });
    return { ks: measured.points.map((p) => p.k), trained: fits.reduce((a, b) => a + b, 0), fits: fits.length };
  }

  it('on banking77’s 10,003 training texts: k = 1, 2, 5, 10, 20 over 3 seeds, no "all", under N texts in all', async () => {
    const intents = [...new Set(full.map((r) => r.category))];
    const all = subset(full, intents, Number.POSITIVE_INFINITY);
    expect(all.labels.length).toBe(10003);
    const { ks, trained, fits } = await plan(all);
    expect(ks).toEqual([1, 2, 5, 10, 20]);
    expect(fits).toBe(5 * 3);
    expect(trained).toBe(3 * 77 * (1 + 2 + 5 + 10 + 20));
    expect(trained).toBeLessThanOrEqual(all.labels.length);
  });

  it('on a small set the floor keeps a few points: banking77 at 10 per intent', async () => {
    const intents = [...new Set(full.map((r) => r.category))];
    const { ks, trained } = await plan(subset(full, intents, 10));
    expect(ks).toEqual([1, 2, 5]);
    expect(trained).toBeLessThanOrEqual(textCurveOptions(770).maxTrainingExamples);
  });
});
