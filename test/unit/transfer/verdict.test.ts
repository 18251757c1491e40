import { describe, expect, it } from 'vitest';
import { decideVerdict, DEFAULT_THRESHOLDS, measureGain, type ClassTally } from '../../../src/transfer/verdict.js';

const tally = (support: number[], correct: number[]): ClassTally => ({ support, correct });

describe('measureGain', () => {
  it('is the difference of balanced accuracies, with an Agresti-Coull standard error per class', () => {
    const probe = tally([100, 50], [90, 45]);
    const baseline = tally([100, 50], [70, 25]);
    const gain = measureGain(probe, baseline);
    expect(gain.probeBalancedAccuracy).toBeCloseTo((0.9 + 0.9) / 2, 12);
    expect(gain.baselineBalancedAccuracy).toBeCloseTo((0.7 + 0.5) / 2, 12);
    expect(gain.value).toBeCloseTo(0.9 - 0.6, 12);
    const v = (x: number, n: number): number => {
      const p = (x + 2) / (n + 4);
      return (p * (1 - p)) / (n + 4) / 4;
    };
    expect(gain.standardError).toBeCloseTo(Math.sqrt(v(90, 100) + v(45, 50) + v(70, 100) + v(25, 50)), 12);
    expect(gain.low).toBeCloseTo(gain.value - 1.96 * gain.standardError, 12);
    expect(gain.n).toBe(150);
  });

  it('keeps uncertainty when a tiny dataset is scored perfectly', () => {
    const gain = measureGain(tally([3, 3], [3, 3]), tally([3, 3], [3, 3]));
    expect(gain.value).toBe(0);
    expect(gain.standardError).toBeGreaterThan(0.1);
  });

  it('refuses tallies of different images or impossible counts', () => {
    expect(() => measureGain(tally([10, 10], [5, 5]), tally([10, 9], [5, 5]))).toThrow(/same images/);
    expect(() => measureGain(tally([10, 10], [11, 5]), tally([10, 10], [5, 5]))).toThrow(/11 correct of 10/);
    expect(() => measureGain(tally([], []), tally([], []))).toThrow(RangeError);
  });
});

describe('decideVerdict', () => {
  it('says "helps", confidently, for a large gain measured on many images', () => {
    const result = decideVerdict(measureGain(tally([500, 500], [480, 470]), tally([500, 500], [330, 320])));
    expect(result.verdict).toBe('helps');
    expect(result.confident).toBe(true);
    expect(result.negativeTransfer).toBe(false);
    expect(result.explanation).toMatch(/^Pretraining helps:/);
    expect(result.explanation).toContain('+30.0 points');
    expect(result.explanation).toContain('lies within');
  });

  it('gives the same point estimate on 10 images, but not confidently', () => {
    const result = decideVerdict(measureGain(tally([5, 5], [5, 4]), tally([5, 5], [3, 3])));
    expect(result.gain.value).toBeCloseTo(0.3, 12);
    expect(result.verdict).toBe('helps');
    expect(result.confident).toBe(false);
    expect(result.explanation).toContain('Not certain: with 10 images');
  });

  it('says "helps little" between the thresholds', () => {
    const result = decideVerdict(measureGain(tally([1000, 1000], [950, 930]), tally([1000, 1000], [890, 890])));
    expect(result.gain.value).toBeCloseTo(0.05, 12);
    expect(result.verdict).toBe('helps little');
    expect(result.confident).toBe(true);
  });

  it('says "does not help" for a gain within 2 points, and flags negative transfer when the pixels win beyond noise', () => {
    const none = decideVerdict(measureGain(tally([400, 400], [300, 300]), tally([400, 400], [296, 300])));
    expect(none.verdict).toBe('does not help');
    expect(none.negativeTransfer).toBe(false);
    expect(none.explanation).not.toContain('negative transfer');

    const worse = decideVerdict(measureGain(tally([400, 400], [240, 240]), tally([400, 400], [320, 320])));
    expect(worse.verdict).toBe('does not help');
    expect(worse.negativeTransfer).toBe(true);
    expect(worse.confident).toBe(true);
    expect(worse.explanation).toContain('likely negative transfer');
    expect(worse.explanation).toContain('-20.0 points');
  });

  it('decides on the thresholds it is given and reports them', () => {
    const gain = measureGain(tally([1000, 1000], [950, 930]), tally([1000, 1000], [890, 890]));
    const strict = decideVerdict(gain, { ...DEFAULT_THRESHOLDS, helps: 0.04 });
    expect(strict.verdict).toBe('helps');
    expect(strict.thresholds.helps).toBe(0.04);
    expect(() => decideVerdict(gain, { helps: 0.01, doesNotHelp: 0.02, z: 1.96 })).toThrow(/below/);
  });
});
