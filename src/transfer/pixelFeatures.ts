/**
 * The no-transfer baseline's features: the image itself, shrunk to 32x32 RGB and flattened to 3072
 * values. A head trained on these knows nothing but the user's labelled images, so the gap between
 * it and the same head on backbone embeddings is what pretraining buys on this dataset.
 *
 * Geometry: the backbone's own preprocessing scaled down to a 32 px crop (resize the shorter side to
 * 37 px, about 256 * 32/224 = 36.6, and centre-crop 32x32; 32/37 = 0.865 vs 224/256 = 0.875). Both
 * therefore look at the same centre region of the image, so the comparison is between
 * representations, not between what each was shown. Squashing the whole image to 32x32 would have
 * given the baseline the borders the backbone never sees and distorted the aspect ratio.
 *
 * Decoding is {@link preprocess} itself, with mean 0 and std 1: the same validation and rejections
 * (src/image/validate.ts), EXIF orientation, conversion to sRGB, alpha handling and antialiased
 * bilinear resize as everything else in headstart. Values are in [0, 1], CHW order.
 *
 * Standardisation (per-feature mean and std) is a separate step, fitted on training rows only,
 * because callers decide which rows those are (a cross-validation fold, a learning-curve sample).
 */
import { InvalidImageError } from '../errors.js';
import { preprocessBatch, type PreprocessSpec } from '../image/preprocess.js';
import type { ImageLimits } from '../image/validate.js';

export const PIXEL_SIZE = 32;
export const PIXEL_FEATURES = 3 * PIXEL_SIZE * PIXEL_SIZE;

export const PIXEL_PREPROCESSING: PreprocessSpec = Object.freeze({
  resizeShorter: 37,
  crop: PIXEL_SIZE,
  mean: Object.freeze([0, 0, 0] as const),
  std: Object.freeze([1, 1, 1] as const),
  interpolation: 'bilinear',
});

/** Names the baseline's features in reports, like a backbone id names embeddings. */
export const PIXEL_FEATURES_ID = 'pixels-32x32-rgb';

export interface PixelFeatureOptions {
  limits?: ImageLimits;
  concurrency?: number;
}

/** Image bytes -> 3072 values in [0, 1] each (CHW); an unusable image gets its error in its slot. */
export async function pixelFeatures(images: readonly Uint8Array[], options: PixelFeatureOptions = {}): Promise<Array<Float32Array | InvalidImageError>> {
  return preprocessBatch(images, PIXEL_PREPROCESSING, options);
}

export interface Standardizer {
  mean: Float64Array;
  std: Float64Array;
}

/**
 * Per-feature mean and (population) std over the given rows of a row-major [*, dim] matrix. A
 * feature constant over those rows (std at round-off level) gets std 1, as scikit-learn's
 * StandardScaler does for zero variance, so it maps to 0 on the training rows instead of dividing
 * by zero. Pixels often are constant over a few rows: a blank border, a handful of training images.
 */
export function fitStandardizer(rows: Float32Array, dim: number, which?: ArrayLike<number>): Standardizer {
  const count = which ? which.length : rows.length / dim;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`cannot fit a standardizer on ${count} rows`);
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  const rowAt = (i: number): number => (which ? (which[i] as number) : i);
  for (let i = 0; i < count; i++) {
    const base = rowAt(i) * dim;
    for (let j = 0; j < dim; j++) mean[j] = (mean[j] as number) + (rows[base + j] as number);
  }
  for (let j = 0; j < dim; j++) mean[j] = (mean[j] as number) / count;
  for (let i = 0; i < count; i++) {
    const base = rowAt(i) * dim;
    for (let j = 0; j < dim; j++) {
      const dev = (rows[base + j] as number) - (mean[j] as number);
      sq[j] = (sq[j] as number) + dev * dev;
    }
  }
  const std = Float64Array.from(sq, (s) => {
    const sd = Math.sqrt(s / count);
    return sd > 1e-7 ? sd : 1;
  });
  return { mean, std };
}

/** (x - mean) / std for the given rows (default all), as a new row-major float32 matrix. */
export function standardize(rows: Float32Array, dim: number, scaler: Standardizer, which?: ArrayLike<number>): Float32Array {
  const count = which ? which.length : rows.length / dim;
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const base = (which ? (which[i] as number) : i) * dim;
    for (let j = 0; j < dim; j++) out[i * dim + j] = ((rows[base + j] as number) - (scaler.mean[j] as number)) / (scaler.std[j] as number);
  }
  return out;
}
