/**
 * Out-of-domain detection: does an image look like anything the head was trained on?
 *
 * A head always answers with one of its labels, even for a cat photo sent to a chest X-ray model.
 * This module scores how far an embedding lies from the training embeddings and flags it when the
 * score exceeds a threshold calibrated to a stated false-alarm rate on in-domain images.
 *
 * Score (cosine distances on L2-normalised embeddings):
 * - 'knn' (default): mean cosine distance to the k nearest reference embeddings (k = 5), the
 *   training rows themselves (capped at `maxReferenceRows`, stratified by label).
 * - 'centroid': cosine distance to the nearest class mean.
 * Both are the same scoring rule over different reference rows (centroid = k-NN with k = 1 over
 * the class means), so serving needs one code path. On the shared datasets both caught every
 * image of the other datasets and every photo; k-NN's held-out false-alarm rate was closer to the
 * nominal 5% (hymenoptera val: 6.5% vs 9.8%), so it is the default (bench/ood.ts measures both).
 *
 * Calibration: every training row is scored against reference rows from the OTHER folds only
 * (TrainedHead.folds), so its score is what an unseen in-domain image would get; the threshold is
 * the (1 - falseAlarmRate) quantile of those out-of-fold scores. Served images are compared with
 * all reference rows, which only lowers in-domain scores, so the rate in use is at most nominal
 * (up to dataset shift between training and use, which is what the flag is for).
 *
 * Storage: the reference rows go to a separate file of the model version (`ood.bin`, float16
 * little-endian, row-major [rows, dims]); model.json keeps the small {@link OutOfDomainManifest}.
 * The reference is rounded to float16 BEFORE calibration, so a decoded model scores exactly like
 * the one that was calibrated.
 */
import { sha256Hex } from '../dataset/keys.js';
import { BadRequestError, HeadstartError, TrainingDataError } from '../errors.js';
import { createRandom, shuffleInPlace } from '../training/random.js';
import { knnScoresOnnx } from './knnGraph.js';

export type OutOfDomainMethod = 'knn' | 'centroid';

/** The model version file holding the reference rows. */
export const OUT_OF_DOMAIN_FILE = 'ood.bin';
export { DEFAULT_FALSE_ALARM_RATE } from './falseAlarmRate.js';
import { DEFAULT_FALSE_ALARM_RATE } from './falseAlarmRate.js';
export const DEFAULT_NEIGHBOURS = 5;
export const DEFAULT_MAX_REFERENCE_ROWS = 2000;
/**
 * Training rows scored out-of-fold to set the threshold, at most (a stratified seeded subsample
 * beyond): 10,000 scores place the 95% quantile within about 0.2 points of false-alarm rate, and
 * keep the calibration's cost bounded (10,000 x 2,000 x D) whatever N is.
 */
export const DEFAULT_MAX_CALIBRATION_ROWS = 10_000;
/** Calibration rows normalised and scored at a time (2,048 x 1,280 float32 = 10 MB). */
const QUERY_CHUNK_ROWS = 2048;

export interface OutOfDomainData {
  /** Row-major [N, D], raw backbone embeddings (normalised here). */
  embeddings: Float32Array;
  dims: readonly [number, number];
  /** Class index per row (stratifies the reference subsample; class means for 'centroid'). */
  labels: ArrayLike<number>;
  /** Cross-validation fold per row (TrainedHead.folds): calibration scores each row without its fold. */
  folds: ArrayLike<number>;
}

export interface FitOutOfDomainOptions {
  /** Share of in-domain images allowed to be flagged; the threshold is the (1 - rate) quantile. */
  falseAlarmRate?: number;
  method?: OutOfDomainMethod;
  /** Neighbours averaged by 'knn'. */
  k?: number;
  /** Cap on the stored reference rows for 'knn' (a stratified, seeded subsample beyond it). */
  maxReferenceRows?: number;
  /** Cap on the training rows scored out-of-fold for the threshold (a stratified, seeded subsample beyond it). */
  maxCalibrationRows?: number;
  seed?: number;
}

export interface ScoreQuantile {
  q: number;
  score: number;
}

export interface OutOfDomainCalibration {
  /** Training rows scored out-of-fold (all of them, or a stratified sample of at most 10,000). */
  rows: number;
  folds: number;
  /** Share of those rows above the threshold (at most the nominal rate). */
  oofFalseAlarmRate: number;
  /** Quantiles of the out-of-fold scores (q = 0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1). */
  quantiles: ScoreQuantile[];
}

interface OutOfDomainParams {
  method: OutOfDomainMethod;
  metric: 'cosine';
  /** Neighbours averaged at scoring time (1 for 'centroid'). */
  k: number;
  threshold: number;
  falseAlarmRate: number;
  calibration: OutOfDomainCalibration;
}

/** A fitted detector, in memory. */
export interface OutOfDomainModel extends OutOfDomainParams {
  dims: number;
  referenceRows: number;
  /** Row-major [referenceRows, dims], L2-normalised, float16-exact values. */
  reference: Float32Array;
}

/** What model.json stores under `outOfDomain`; the rows are in `reference.file`. */
export interface OutOfDomainManifest extends OutOfDomainParams {
  reference: { file: string; encoding: 'float16le'; rows: number; dims: number; bytes: number; sha256: string };
}

export interface OutOfDomainScore {
  /** Mean cosine distance to the nearest reference rows: 0 identical direction, 1 orthogonal. */
  score: number;
  outOfDomain: boolean;
}

const CALIBRATION_QUANTILES = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1];

// ---------------------------------------------------------------------------------------------
// float16 codec (Node 20 has no Float16Array)

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bits of a number, rounded to nearest even. */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the correct rounding (up to Inf).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function roundToFloat16(values: Float32Array): Float32Array {
  return values.map((v) => fromFloat16Bits(toFloat16Bits(v)));
}

// ---------------------------------------------------------------------------------------------
// scoring

/** L2-normalises the rows of row-major [n, d] in place; an all-zero row stays zero (distance 1 to everything). */
function normalizeRowsInPlace(x: Float32Array, n: number, d: number): Float32Array {
  for (let i = 0; i < n; i++) {
    const scale = inverseNorm(x, i * d, d);
    for (let j = 0; j < d; j++) x[i * d + j] = (x[i * d + j] as number) * scale;
  }
  return x;
}

function inverseNorm(x: Float32Array, offset: number, d: number): number {
  let sum = 0;
  for (let j = 0; j < d; j++) {
    const v = x[offset + j] as number;
    sum += v * v;
  }
  return sum > 0 ? 1 / Math.sqrt(sum) : 0;
}

/**
 * L2-normalised copies of some rows of the raw matrix: fitting copies only the rows it is about
 * to use (the reference, one chunk of queries), never a normalised copy of the whole matrix.
 */
function normalizedRows(x: Float32Array, rows: readonly number[], d: number): Float32Array {
  return normalizeRowsInPlace(gather(x, rows, d), rows.length, d);
}

/** Mean of the k smallest cosine distances from each query row to the reference rows. */
function knnScores(queries: Float32Array, queryRows: number, reference: Float32Array, referenceRows: number, d: number, k: number): Float64Array {
  const scores = new Float64Array(queryRows);
  const nearest = new Float64Array(k);
  const tail = d - (d % 4);
  for (let q = 0; q < queryRows; q++) {
    let found = 0;
    const qOffset = q * d;
    for (let r = 0; r < referenceRows; r++) {
      const rOffset = r * d;
      // Four accumulators: about 3x faster than one in V8 on 1280-wide rows.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j < tail; j += 4) {
        s0 += (queries[qOffset + j] as number) * (reference[rOffset + j] as number);
        s1 += (queries[qOffset + j + 1] as number) * (reference[rOffset + j + 1] as number);
        s2 += (queries[qOffset + j + 2] as number) * (reference[rOffset + j + 2] as number);
        s3 += (queries[qOffset + j + 3] as number) * (reference[rOffset + j + 3] as number);
      }
      for (; j < d; j++) s0 += (queries[qOffset + j] as number) * (reference[rOffset + j] as number);
      const distance = 1 - (s0 + s1 + s2 + s3);
      // Insertion into the sorted list of the k nearest so far.
      if (found < k) found++;
      else if (distance >= (nearest[k - 1] as number)) continue;
      let i = found - 1;
      while (i > 0 && (nearest[i - 1] as number) > distance) {
        nearest[i] = nearest[i - 1] as number;
        i--;
      }
      nearest[i] = distance;
    }
    let sum = 0;
    for (let i = 0; i < found; i++) sum += nearest[i] as number;
    scores[q] = found > 0 ? sum / found : NaN;
  }
  return scores;
}

/** Scores embeddings (raw backbone output, any norm) against the model; flagged when above the threshold. */
export function scoreOutOfDomain(model: OutOfDomainModel, embeddings: readonly Float32Array[]): OutOfDomainScore[] {
  const d = model.dims;
  const flat = new Float32Array(embeddings.length * d);
  embeddings.forEach((e, i) => {
    if (e.length !== d) {
      throw new BadRequestError(`embedding ${i} has ${e.length} values; the out-of-domain model expects ${d}`, 'bad_embedding_size', 400, {
        context: { index: i, values: e.length, dims: d },
      });
    }
    flat.set(e, i * d);
  });
  const scores = knnScores(normalizeRowsInPlace(flat, embeddings.length, d), embeddings.length, model.reference, model.referenceRows, d, Math.min(model.k, model.referenceRows));
  // A non-finite score (NaN input) is nothing like the training data: flag it rather than pass it.
  return Array.from(scores, (score) => ({ score, outOfDomain: !Number.isFinite(score) || score > model.threshold }));
}

// ---------------------------------------------------------------------------------------------
// fitting

interface Resolved {
  falseAlarmRate: number;
  method: OutOfDomainMethod;
  k: number;
  maxReferenceRows: number;
  maxCalibrationRows: number;
  seed: number;
}

function resolve(options: FitOutOfDomainOptions): Resolved {
  const resolved = {
    falseAlarmRate: options.falseAlarmRate ?? DEFAULT_FALSE_ALARM_RATE,
    method: options.method ?? 'knn',
    k: options.k ?? DEFAULT_NEIGHBOURS,
    maxReferenceRows: options.maxReferenceRows ?? DEFAULT_MAX_REFERENCE_ROWS,
    maxCalibrationRows: options.maxCalibrationRows ?? DEFAULT_MAX_CALIBRATION_ROWS,
    seed: options.seed ?? 0,
  };
  const invalid = (what: string, value: unknown): never => {
    throw new BadRequestError(`invalid out-of-domain option ${what}: ${JSON.stringify(value)}`, 'invalid_ood_option', 400, { context: { option: what } });
  };
  if (!(resolved.falseAlarmRate > 0 && resolved.falseAlarmRate < 1)) invalid('falseAlarmRate (between 0 and 1)', resolved.falseAlarmRate);
  if (resolved.method !== 'knn' && resolved.method !== 'centroid') invalid('method (knn or centroid)', resolved.method);
  if (!Number.isInteger(resolved.k) || resolved.k < 1) invalid('k (a positive integer)', resolved.k);
  if (!Number.isInteger(resolved.maxReferenceRows) || resolved.maxReferenceRows < 1) invalid('maxReferenceRows (a positive integer)', resolved.maxReferenceRows);
  if (!Number.isInteger(resolved.maxCalibrationRows) || resolved.maxCalibrationRows < 1) invalid('maxCalibrationRows (a positive integer)', resolved.maxCalibrationRows);
  if (!Number.isInteger(resolved.seed)) invalid('seed (an integer)', resolved.seed);
  return resolved;
}

function validate(data: OutOfDomainData): { n: number; d: number; foldIds: number[] } {
  const [n, d] = data.dims;
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1 || data.embeddings.length !== n * d) {
    throw new TrainingDataError(`out-of-domain fit needs embeddings of dims [N, D]; got ${data.embeddings.length} values for [${n}, ${d}]`, {
      context: { values: data.embeddings.length, dims: [n, d] },
    });
  }
  if (data.labels.length !== n || data.folds.length !== n) {
    throw new TrainingDataError(`out-of-domain fit got ${data.labels.length} labels and ${data.folds.length} folds for ${n} rows`, {
      context: { rows: n, labels: data.labels.length, folds: data.folds.length },
    });
  }
  const foldIds = [...new Set(Array.from(data.folds))].sort((a, b) => a - b);
  if (foldIds.length < 2) {
    throw new TrainingDataError('out-of-domain calibration needs at least 2 folds: each row is scored without its own fold', {
      context: { folds: foldIds.length },
    });
  }
  return { n, d, foldIds };
}

/** Rows kept as the k-NN reference: all of them, or a stratified seeded subsample of `cap`. */
function referenceSubset(labels: ArrayLike<number>, n: number, cap: number, seed: number): number[] {
  if (n <= cap) return Array.from({ length: n }, (_, i) => i);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = labels[i] as number;
    const rows = byClass.get(c) ?? [];
    rows.push(i);
    byClass.set(c, rows);
  }
  const random = createRandom(seed);
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  // Largest-remainder quotas: proportional to class size, summing to exactly `cap`.
  const exact = classes.map((c) => ((byClass.get(c) as number[]).length * cap) / n);
  const quota = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, rest: e - Math.floor(e) })).sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (let left = cap - quota.reduce((a, b) => a + b, 0), j = 0; left > 0; left--, j++) {
    const slot = order[j % order.length]!.i;
    quota[slot] = (quota[slot] as number) + 1;
  }
  const kept: number[] = [];
  classes.forEach((c, i) => kept.push(...shuffleInPlace([...(byClass.get(c) as number[])], random).slice(0, quota[i])));
  return kept.sort((a, b) => a - b);
}

/** Normalised mean of the normalised rows of each class (rows of the raw matrix selected by `use`), float16-rounded. */
function classMeans(x: Float32Array, labels: ArrayLike<number>, n: number, d: number, use: (row: number) => boolean): Float32Array {
  const classes = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  const sums = new Float64Array(classes.length * d);
  const present = new Array<boolean>(classes.length).fill(false);
  for (let i = 0; i < n; i++) {
    if (!use(i)) continue;
    const c = classes.indexOf(labels[i] as number);
    present[c] = true;
    const scale = inverseNorm(x, i * d, d);
    for (let j = 0; j < d; j++) sums[c * d + j] = (sums[c * d + j] as number) + (x[i * d + j] as number) * scale;
  }
  const kept = classes.map((_, c) => c).filter((c) => present[c]);
  const means = new Float32Array(kept.length * d);
  kept.forEach((c, row) => {
    for (let j = 0; j < d; j++) means[row * d + j] = sums[c * d + j] as number;
  });
  return roundToFloat16(normalizeRowsInPlace(means, kept.length, d));
}

function gather(x: Float32Array, rows: readonly number[], d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(x.subarray(r * d, (r + 1) * d), i * d));
  return out;
}

/** The smallest score s with at most `rate` of the scores above it. */
export function thresholdAt(scores: ArrayLike<number>, rate: number): number {
  const sorted = Float64Array.from(scores).sort();
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((1 - rate) * sorted.length) - 1));
  return sorted[index] as number;
}

function quantile(sorted: Float64Array, q: number): number {
  const position = q * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.ceil(position);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (position - lo);
}

/**
 * Fits a detector on training embeddings and calibrates its threshold on out-of-fold scores.
 * Cost: calibration rows x reference rows x D multiply-adds, at most 10,000 x 2,000 x D, as a
 * float32 matrix product in onnxruntime (knnGraph.ts; about 1 s at D = 1280 on 2 cores). Scores at
 * serving time use the float64 JS loop below; the two agree to about 1e-7, far below any threshold.
 */
export async function fitOutOfDomain(data: OutOfDomainData, options: FitOutOfDomainOptions = {}): Promise<OutOfDomainModel> {
  const opts = resolve(options);
  const { n, d, foldIds } = validate(data);
  const x = data.embeddings;
  // The rows whose out-of-fold scores set the threshold (another seed than the reference's).
  const calibration = referenceSubset(data.labels, n, opts.maxCalibrationRows, opts.seed + 1);

  let reference: Float32Array;
  let k: number;
  const oof = new Float64Array(calibration.length);
  const membersOf = (fold: number): number[] => calibration.flatMap((row, i) => (data.folds[row] === fold ? [i] : []));
  // Scores a fold's calibration rows against its reference a chunk at a time, so the normalised
  // query rows held at once stay at QUERY_CHUNK_ROWS whatever N is.
  const scoreFold = async (members: number[], against: Float32Array, againstRows: number, neighbours: number): Promise<void> => {
    for (let start = 0; start < members.length; start += QUERY_CHUNK_ROWS) {
      const slots = members.slice(start, start + QUERY_CHUNK_ROWS);
      const queries = normalizedRows(x, slots.map((i) => calibration[i] as number), d);
      const scores = await knnScoresOnnx(queries, slots.length, against, againstRows, d, neighbours);
      slots.forEach((slot, i) => (oof[slot] = scores[i] as number));
    }
  };
  if (opts.method === 'knn') {
    const rows = referenceSubset(data.labels, n, opts.maxReferenceRows, opts.seed);
    reference = roundToFloat16(normalizedRows(x, rows, d));
    k = opts.k;
    for (const fold of foldIds) {
      const others = rows.flatMap((r, i) => (data.folds[r] === fold ? [] : [i]));
      await scoreFold(membersOf(fold), gather(reference, others, d), others.length, k);
    }
  } else {
    reference = classMeans(x, data.labels, n, d, () => true);
    k = 1;
    for (const fold of foldIds) {
      const means = classMeans(x, data.labels, n, d, (row) => data.folds[row] !== fold);
      await scoreFold(membersOf(fold), means, means.length / d, 1);
    }
  }
  if (oof.some((s) => !Number.isFinite(s))) {
    throw new TrainingDataError('out-of-domain calibration produced non-finite scores (non-finite embeddings?)', { context: { rows: n } });
  }

  const threshold = thresholdAt(oof, opts.falseAlarmRate);
  const sorted = Float64Array.from(oof).sort();
  return {
    method: opts.method,
    metric: 'cosine',
    k,
    threshold,
    falseAlarmRate: opts.falseAlarmRate,
    calibration: {
      rows: calibration.length,
      folds: foldIds.length,
      oofFalseAlarmRate: oof.filter((s) => s > threshold).length / calibration.length,
      quantiles: CALIBRATION_QUANTILES.map((q) => ({ q, score: quantile(sorted, q) })),
    },
    dims: d,
    referenceRows: reference.length / d,
    reference,
  };
}

// ---------------------------------------------------------------------------------------------
// storage

/** The model.json part and the `ood.bin` bytes of a fitted detector. */
export function encodeOutOfDomain(model: OutOfDomainModel, file = OUT_OF_DOMAIN_FILE): { manifest: OutOfDomainManifest; bytes: Uint8Array } {
  const bytes = new Uint8Array(model.reference.length * 2);
  const view = new DataView(bytes.buffer);
  model.reference.forEach((v, i) => view.setUint16(i * 2, toFloat16Bits(v), true));
  const { reference: _r, referenceRows, dims, ...params } = model;
  return {
    manifest: {
      ...params,
      reference: { file, encoding: 'float16le', rows: referenceRows, dims, bytes: bytes.length, sha256: sha256Hex(bytes) },
    },
    bytes,
  };
}

/** Rebuilds a detector from model.json's `outOfDomain` and the bytes of its reference file, checking both agree. */
export function decodeOutOfDomain(manifest: OutOfDomainManifest, bytes: Uint8Array): OutOfDomainModel {
  const { reference, ...params } = manifest;
  const fail = (why: string): never => {
    throw new HeadstartError(`out-of-domain reference ${reference.file} does not match model.json: ${why}`, 'invalid_ood_model', 500, {
      context: { file: reference.file, rows: reference.rows, dims: reference.dims },
    });
  };
  if (reference.encoding !== 'float16le') fail(`unknown encoding ${JSON.stringify(reference.encoding)}`);
  if (bytes.length !== reference.rows * reference.dims * 2 || bytes.length !== reference.bytes) fail(`${bytes.length} bytes for ${reference.rows} x ${reference.dims} float16`);
  if (sha256Hex(bytes) !== reference.sha256) fail('sha256 differs');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(reference.rows * reference.dims);
  for (let i = 0; i < values.length; i++) values[i] = fromFloat16Bits(view.getUint16(i * 2, true));
  return { ...params, dims: reference.dims, referenceRows: reference.rows, reference: values };
}
