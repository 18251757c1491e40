/**
 * Does the pretrained backbone help on this dataset? Judged from one measured number: the gain in
 * cross-validated balanced accuracy of the linear head on backbone embeddings over the same head on
 * raw pixels (the no-transfer baseline, see pixelFeatures.ts), with its uncertainty.
 *
 * Thresholds, from the three shared datasets (`npx tsx bench/transfer.ts`: train split, linear head,
 * 5-fold CV, MobileNetV2 fp32 embeddings vs 32x32 pixels):
 *
 *   helps          gain >= 10 points
 *   helps little   2 < gain < 10 points
 *   does not help  gain <= 2 points   (and "likely negative transfer" when the whole 95% interval
 *                                       is below zero: the pixels beat the backbone)
 *
 * Why these numbers. Near ImageNet (hymenoptera photos) the backbone adds 31.5 points
 * (65.6% -> 97.1%; 37.5 on the held-out val split). On the far sets it adds 6.0 (chest X-rays,
 * 90.5% -> 96.5%; 4.7 on the test split) and 4.5 (Fashion-MNIST, 28 px greyscale, 80.8% -> 85.3%;
 * 7.5 on the test split). 10 points sits between the two groups with room on both sides, so a
 * photo-like dataset reads "helps" and a far one "helps little", and on all three the verdict
 * from cross-validation on the train split is the verdict of the gain measured on the held-out
 * split. 2 points is about what a few hundred images can resolve (the standard error of the gain
 * is 1.6 points at N = 1000): below it there is no gain worth a backbone. Absolute points, not
 * relative error reduction: they are what a user sees change, and a near-solved task (the
 * baseline already at 95%) honestly has little left for transfer to give. The explanation gives
 * both.
 *
 * Uncertainty. With N images an accuracy has a binomial standard error of about
 * sqrt(p(1-p)/N): about 3 points at N = 200, 10 points at N = 20. The standard error of the gain is
 * computed per class (balanced accuracy is the mean of per-class recalls) with Agresti-Coull
 * adjusted proportions, (x+2)/(n+4), so 5 out of 5 right still carries uncertainty, and treats
 * the two accuracies as independent. They are measured on the same images, so their errors are
 * positively correlated and the true standard error is smaller: the interval errs wide, on the
 * side of not claiming what the data cannot show. The verdict follows the point estimate; it is
 * `confident` only when the whole 95% interval lies inside the verdict's band, and the
 * explanation then says so, or names the range the gain could lie in.
 *
 * Balanced accuracy rather than accuracy: the head is trained class-balanced and its lambda is
 * chosen on balanced accuracy; on a dataset with a 90/10 split plain accuracy would hide a
 * baseline that ignores the small class. On balanced data the two are equal.
 */

export type Verdict = 'helps' | 'helps little' | 'does not help';

export interface VerdictThresholds {
  /** Gain (fraction, balanced accuracy) at or above which transfer "helps". */
  helps: number;
  /** Gain at or below which transfer "does not help". */
  doesNotHelp: number;
  /** z of the two-sided interval used for `confident` (1.96: 95%). */
  z: number;
}

export const DEFAULT_THRESHOLDS: Readonly<VerdictThresholds> = Object.freeze({ helps: 0.1, doesNotHelp: 0.02, z: 1.96 });

/** What one classifier got right, per class, from out-of-fold (or held-out) predictions. */
export interface ClassTally {
  /** Images of each class. */
  support: readonly number[];
  /** Of those, predicted right. */
  correct: readonly number[];
}

/** The tally a confusion matrix (confusion[true][predicted]) holds: row sums and the diagonal. */
export function tallyFromConfusion(confusion: readonly (readonly number[])[]): ClassTally {
  return { support: confusion.map((row) => row.reduce((a, b) => a + b, 0)), correct: confusion.map((row, c) => row[c] ?? 0) };
}

export interface Gain {
  /** Balanced accuracy with transfer minus without, as a fraction (0.05 = 5 points). */
  value: number;
  standardError: number;
  /** The z-interval around `value`. */
  low: number;
  high: number;
  probeBalancedAccuracy: number;
  baselineBalancedAccuracy: number;
  n: number;
}

export interface VerdictResult {
  verdict: Verdict;
  /** The whole interval lies in the verdict's band. */
  confident: boolean;
  /** The pixels beat the backbone beyond noise (the interval is below zero). */
  negativeTransfer: boolean;
  gain: Gain;
  explanation: string;
  thresholds: VerdictThresholds;
}

function checkTally(tally: ClassTally, what: string): void {
  if (tally.support.length === 0 || tally.support.length !== tally.correct.length) {
    throw new RangeError(`${what}: support and correct must be non-empty and of equal length`);
  }
  tally.support.forEach((n, c) => {
    const x = tally.correct[c] as number;
    if (!(Number.isInteger(n) && n > 0 && Number.isInteger(x) && x >= 0 && x <= n)) {
      throw new RangeError(`${what}: class ${c} has ${x} correct of ${n}`);
    }
  });
}

/** Balanced accuracy (mean recall) and its Agresti-Coull standard error. */
function balancedAccuracy(tally: ClassTally): { value: number; variance: number } {
  const k = tally.support.length;
  let value = 0;
  let variance = 0;
  tally.support.forEach((n, c) => {
    const x = tally.correct[c] as number;
    value += x / n / k;
    const adjusted = (x + 2) / (n + 4);
    variance += (adjusted * (1 - adjusted)) / (n + 4) / (k * k);
  });
  return { value, variance };
}

/** The gain of `probe` over `baseline`, both scored on the same images. */
export function measureGain(probe: ClassTally, baseline: ClassTally, z = DEFAULT_THRESHOLDS.z): Gain {
  checkTally(probe, 'probe');
  checkTally(baseline, 'baseline');
  if (probe.support.some((n, c) => n !== baseline.support[c])) throw new RangeError('probe and baseline must be scored on the same images');
  const p = balancedAccuracy(probe);
  const b = balancedAccuracy(baseline);
  const value = p.value - b.value;
  const standardError = Math.sqrt(p.variance + b.variance);
  return {
    value,
    standardError,
    low: value - z * standardError,
    high: value + z * standardError,
    probeBalancedAccuracy: p.value,
    baselineBalancedAccuracy: b.value,
    n: probe.support.reduce((a, x) => a + x, 0),
  };
}

function points(fraction: number, signed = false): string {
  const v = fraction * 100;
  const text = `${Math.abs(v) < 0.05 ? '0.0' : Math.abs(v).toFixed(1)}`;
  if (!signed) return text;
  return v > 0.05 ? `+${text}` : v < -0.05 ? `-${text}` : text;
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function listOf(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function bandOf(value: number, t: VerdictThresholds): Verdict {
  if (value >= t.helps) return 'helps';
  if (value <= t.doesNotHelp) return 'does not help';
  return 'helps little';
}

/**
 * The words of a verdict for one modality: what was counted, what the two arms are, and what each
 * verdict means there. The thresholds and the arithmetic are the same for images and texts.
 */
export interface VerdictWording {
  /** What the dataset holds, plural ("images", "texts"). */
  items: string;
  /** The arm with pretraining. */
  probe: string;
  /** The same head without pretraining. */
  baseline: string;
  meaning: { helps: string; helpsLittle: string; doesNotHelp: string; negativeTransfer: string };
}

export const IMAGE_VERDICT_WORDING: Readonly<VerdictWording> = Object.freeze({
  items: 'images',
  probe: "a linear head on the backbone's embeddings",
  baseline: 'the same head on the raw pixels (32x32, no pretraining)',
  meaning: {
    helps: 'Pretraining helps: the backbone sees things in these images that a model learning from them alone does not.',
    helpsLittle:
      'Pretraining helps only a little: the raw pixels alone get most of the way, as happens when images are far from the photos the backbone learned from. ' +
      'A backbone pretrained closer to this domain, more labelled images, or fine-tuning the backbone may do better.',
    doesNotHelp: 'Pretraining does not help here: the backbone does no better than the raw pixels. These images are likely too far from its ImageNet photos.',
    negativeTransfer:
      'Pretraining does not help; it hurts (likely negative transfer): the raw pixels do better than the backbone. Its ImageNet features discard what matters here; use a backbone from this domain or train on the pixels.',
  },
});

export const TEXT_VERDICT_WORDING: Readonly<VerdictWording> = Object.freeze({
  items: 'texts',
  probe: "a linear head on the text encoder's embeddings",
  baseline: 'the same head on TF-IDF word and character n-grams of the texts (no pretraining)',
  meaning: {
    helps: 'Pretraining helps: the encoder knows things about these texts that a model learning from their words alone does not.',
    helpsLittle:
      'Pretraining helps only a little: word and character n-grams alone get most of the way. ' +
      'An encoder pretrained closer to this domain, a larger one, or more labelled texts may do better.',
    doesNotHelp: 'Pretraining does not help here: the encoder does no better than TF-IDF n-grams of the texts themselves.',
    negativeTransfer:
      'Pretraining does not help; it hurts (likely negative transfer): TF-IDF n-grams do better than the encoder. Its embeddings discard what tells these labels apart; train on TF-IDF or use an encoder from this domain.',
  },
});

export function decideVerdict(gain: Gain, thresholds: VerdictThresholds = DEFAULT_THRESHOLDS, wording: Readonly<VerdictWording> = IMAGE_VERDICT_WORDING): VerdictResult {
  if (!(thresholds.doesNotHelp < thresholds.helps)) throw new RangeError(`thresholds: doesNotHelp (${thresholds.doesNotHelp}) must be below helps (${thresholds.helps})`);
  const verdict = bandOf(gain.value, thresholds);
  const low = gain.value - thresholds.z * gain.standardError;
  const high = gain.value + thresholds.z * gain.standardError;
  const confident = bandOf(low, thresholds) === verdict && bandOf(high, thresholds) === verdict;
  const negativeTransfer = high < 0;

  const probe = percent(gain.probeBalancedAccuracy);
  const baseline = percent(gain.baselineBalancedAccuracy);
  const errorWith = 1 - gain.probeBalancedAccuracy;
  const errorWithout = 1 - gain.baselineBalancedAccuracy;
  const measured =
    `On ${gain.n} labelled ${wording.items}, ${wording.probe} scores ${probe} (balanced accuracy, cross-validated); ` +
    `${wording.baseline} scores ${baseline}: a gain of ${points(gain.value, true)} points ` +
    `(error ${percent(errorWithout)} -> ${percent(errorWith)}).`;
  const meaning: Record<Verdict, string> = {
    helps: wording.meaning.helps,
    'helps little': wording.meaning.helpsLittle,
    'does not help': negativeTransfer ? wording.meaning.negativeTransfer : wording.meaning.doesNotHelp,
  };
  const range = `${points(low, true)} to ${points(high, true)} points`;
  const certainty = confident
    ? `The 95% interval of the gain (${range}) lies within this verdict's band.`
    : `Not certain: with ${gain.n} images the gain could lie anywhere from ${range} (95% interval), ` +
      `which spans ${listOf([...new Set([bandOf(low, thresholds), verdict, bandOf(high, thresholds)])].map((v) => `"${v}"`))}; more labelled ${wording.items} would settle it.`;
  return {
    verdict,
    confident,
    negativeTransfer,
    gain: { ...gain, low, high },
    explanation: `${meaning[verdict]} ${measured} ${certainty}`,
    thresholds: { ...thresholds },
  };
}
