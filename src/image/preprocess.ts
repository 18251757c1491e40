/**
 * The one preprocessing function: extraction, training and inference all call {@link preprocess},
 * so an image is turned into exactly the same tensor wherever it is seen (train/serve skew is the
 * most reported bug in this field).
 *
 * Numerics follow torchvision's ImageNet evaluation transform on a PIL image, which is how the
 * catalogue's backbones were trained:
 *   EXIF orientation -> RGB (alpha dropped, like PIL `convert('RGB')`) -> Resize(shorter side)
 *   with the other side truncated like torchvision -> CenterCrop with Python's round-half-even
 *   offsets -> /255 -> (x - mean) / std -> CHW float32.
 *
 * Deliberate choices (each measured against PIL + numpy on the shared photos, see the tests):
 * - `ignoreIcc: true`: PIL ignores embedded ICC profiles, so ImageNet models learned from the
 *   stored pixel values. Colour-managing them (sharp's default) moved one photo by 0.09 on average
 *   in normalised units; ignoring them keeps every photo within about 0.013 of torchvision.
 * - `kernel: 'linear'` with `fastShrinkOnLoad: false`: PIL's antialiased bilinear. JPEG
 *   shrink-on-load would change the numbers with the file's size.
 * - `failOn: 'error'`: decoding stops on real errors (truncated JPEG, PNG CRC mismatch, broken
 *   streams: such images would train on grey or garbage rows) but not on libjpeg/libpng
 *   *warnings* such as "extraneous bytes before marker", which are common in scraped
 *   photo sets and leave the pixels intact.
 * - GIF, WebP and TIFF use their first frame/page only.
 * - Alpha is removed after decoding and before resizing (two sharp passes for images with alpha):
 *   resizing with alpha would premultiply it and change the colour of transparent regions.
 */
import os from 'node:os';
import sharp from 'sharp';
import { HeadstartError, InvalidImageError } from '../errors.js';
import { mapLimit } from '../util/mapLimit.js';
import { checkPixels, DEFAULT_LIMITS, inspectImage, type ImageInfo, type ImageLimits } from './validate.js';

export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

/** How a backbone wants its input; always taken from the backbone's catalogue entry. */
export interface PreprocessSpec {
  /** The shorter side is resized to this many pixels (torchvision `Resize(int)`). */
  resizeShorter: number;
  /** Square centre crop, pixels (torchvision `CenterCrop`). */
  crop: number;
  /** Per-channel RGB mean and std applied to values in [0,1]. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  interpolation: Interpolation;
}

/**
 * Bumped whenever this module's numerics change, so cached embeddings made by an older version can
 * be told apart (it is part of {@link preprocessKey}).
 */
export const PREPROCESS_VERSION = 1;

const KERNELS: Record<Interpolation, keyof sharp.KernelEnum> = {
  bilinear: 'linear',
  bicubic: 'cubic',
  nearest: 'nearest',
};

/** A stable one-line description of a spec, for records and manifests. */
export function preprocessKey(spec: PreprocessSpec): string {
  return `v${PREPROCESS_VERSION}:resize${spec.resizeShorter}-${spec.interpolation}:crop${spec.crop}:mean${spec.mean.join(',')}:std${spec.std.join(',')}`;
}

export function validatePreprocessSpec(spec: PreprocessSpec): void {
  const problems: string[] = [];
  if (!Number.isInteger(spec.resizeShorter) || spec.resizeShorter < 1) problems.push(`resizeShorter must be a positive integer (got ${spec.resizeShorter})`);
  if (!Number.isInteger(spec.crop) || spec.crop < 1) problems.push(`crop must be a positive integer (got ${spec.crop})`);
  if (spec.crop > spec.resizeShorter) problems.push(`crop ${spec.crop} is larger than resizeShorter ${spec.resizeShorter}`);
  if (spec.mean.length !== 3 || spec.mean.some((m) => !Number.isFinite(m))) problems.push('mean must be 3 finite numbers');
  if (spec.std.length !== 3 || spec.std.some((s) => !Number.isFinite(s) || s <= 0)) problems.push('std must be 3 positive numbers');
  if (!(spec.interpolation in KERNELS)) problems.push(`interpolation must be one of ${Object.keys(KERNELS).join(', ')} (got ${String(spec.interpolation)})`);
  if (problems.length > 0) throw new HeadstartError(`invalid preprocessing spec: ${problems.join('; ')}`, 'invalid_preprocessing', 500, { context: { spec } });
}

/** Python's round(): halves go to the even neighbour (torchvision computes crop offsets with it). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface ResizePlan {
  /** Size after resizing the shorter side; equal to the input when no resize is needed. */
  width: number;
  height: number;
  left: number;
  top: number;
}

/** torchvision's Resize(int) + CenterCrop(int) geometry for an upright image of the given size. */
export function planResizeAndCrop(width: number, height: number, spec: PreprocessSpec): ResizePlan {
  const s = spec.resizeShorter;
  // torchvision: new_long = int(size * long / short), i.e. truncation; a side already equal to
  // `size` on the short edge means no resize at all.
  const [w, h] = width <= height ? [s, Math.floor((s * height) / width)] : [Math.floor((s * width) / height), s];
  return { width: w, height: h, left: roundHalfEven((w - spec.crop) / 2), top: roundHalfEven((h - spec.crop) / 2) };
}

function decodeOptions(limits: ImageLimits): sharp.SharpOptions {
  return { failOn: 'error', limitInputPixels: limits.maxPixels, ignoreIcc: true, autoOrient: true, pages: 1, page: 0 };
}

function asCorrupt(error: unknown, info: ImageInfo): InvalidImageError {
  if (error instanceof InvalidImageError) return error;
  return new InvalidImageError('corrupt_image', `${info.format} image could not be decoded: ${(error as Error).message}`, {
    cause: error,
    context: { format: info.format, width: info.width, height: info.height },
  });
}

/** Decoded, oriented, resized and cropped RGB bytes (HWC, 8-bit) for one image. */
async function cropRgb(bytes: Uint8Array, info: ImageInfo, spec: PreprocessSpec, limits: ImageLimits): Promise<Buffer> {
  const plan = planResizeAndCrop(info.orientedWidth, info.orientedHeight, spec);
  // A 1x40000000 strip passes the pixel budget but would resize to 256 x 10^10.
  checkPixels(plan.width, plan.height, limits, `image resized to shorter side ${spec.resizeShorter}`);

  let source: sharp.Sharp;
  if (info.hasAlpha) {
    // Drop alpha at full size first so the resize never premultiplies (PIL convert('RGB') semantics).
    const { data, info: raw } = await sharp(bytes, decodeOptions(limits))
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    source = sharp(data, { raw: { width: raw.width, height: raw.height, channels: raw.channels }, limitInputPixels: limits.maxPixels });
  } else {
    source = sharp(bytes, decodeOptions(limits));
  }

  const resized = plan.width === info.orientedWidth && plan.height === info.orientedHeight
    ? source
    : source.resize(plan.width, plan.height, { kernel: KERNELS[spec.interpolation], fit: 'fill', fastShrinkOnLoad: false });
  const { data, info: out } = await resized
    .extract({ left: plan.left, top: plan.top, width: spec.crop, height: spec.crop })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (out.width !== spec.crop || out.height !== spec.crop || out.channels !== 3 || data.length !== 3 * spec.crop * spec.crop) {
    throw new HeadstartError(`preprocessing produced ${out.width}x${out.height}x${out.channels}, expected ${spec.crop}x${spec.crop}x3`, 'preprocess_shape');
  }
  return data;
}

/**
 * HWC uint8 RGB -> CHW float32 normalised with the spec's mean and std, written into `out` from
 * `at` (a row of a batch tensor the caller preallocated) or into a new array. One pass over the
 * pixels; each value is the same per-channel multiply-add, (v/255 - m)/s = v*scale + offset.
 */
export function normalizeToChw(rgb: Uint8Array, size: number, spec: PreprocessSpec, out: Float32Array = new Float32Array(3 * size * size), at = 0): Float32Array {
  const plane = size * size;
  if (out.length < at + 3 * plane) throw new HeadstartError(`normalizeToChw: output of ${out.length} values has no room for ${3 * plane} at ${at}`, 'preprocess_shape');
  const [s0, s1, s2] = spec.std;
  const [m0, m1, m2] = spec.mean;
  const scale0 = 1 / (255 * s0), scale1 = 1 / (255 * s1), scale2 = 1 / (255 * s2);
  const offset0 = -m0 / s0, offset1 = -m1 / s1, offset2 = -m2 / s2;
  const g = at + plane;
  const b = at + 2 * plane;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[at + i] = (rgb[j] as number) * scale0 + offset0;
    out[g + i] = (rgb[j + 1] as number) * scale1 + offset1;
    out[b + i] = (rgb[j + 2] as number) * scale2 + offset2;
  }
  return out;
}

/**
 * Image bytes -> CHW float32 of length 3*crop*crop, ready to be one row of the backbone's input.
 * Throws {@link InvalidImageError} for anything wrong with the image itself.
 */
export async function preprocess(bytes: Uint8Array, spec: PreprocessSpec, limits: ImageLimits = DEFAULT_LIMITS): Promise<Float32Array> {
  validatePreprocessSpec(spec);
  return preprocessInto(bytes, spec, new Float32Array(3 * spec.crop * spec.crop), 0, limits);
}

/**
 * {@link preprocess} writing its tensor into `out` from `at`: the backbone decodes straight into
 * the batch it is about to run, with no per-image array and no copy. Same numerics, same errors.
 * The caller has validated `spec`.
 */
export async function preprocessInto(bytes: Uint8Array, spec: PreprocessSpec, out: Float32Array, at: number, limits: ImageLimits = DEFAULT_LIMITS): Promise<Float32Array> {
  const info = await inspectImage(bytes, limits);
  let rgb: Buffer;
  try {
    rgb = await cropRgb(bytes, info, spec, limits);
  } catch (error) {
    if (error instanceof HeadstartError && !(error instanceof InvalidImageError)) throw error;
    throw asCorrupt(error, info);
  }
  return normalizeToChw(rgb, spec.crop, spec, out, at);
}

export interface BatchOptions {
  limits?: ImageLimits;
  /** Images decoded at once; each decode already uses libvips threads, so a few is enough. */
  concurrency?: number;
}

export function defaultConcurrency(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/**
 * Preprocesses many images; a bad image yields its {@link InvalidImageError} in its slot instead
 * of failing the batch. Any other error (a bug, out of memory) still rejects the whole call.
 */
export async function preprocessBatch(
  images: readonly Uint8Array[],
  spec: PreprocessSpec,
  options: BatchOptions = {},
): Promise<Array<Float32Array | InvalidImageError>> {
  validatePreprocessSpec(spec);
  return mapLimit(images, options.concurrency ?? defaultConcurrency(), async (bytes) => {
    try {
      return await preprocess(bytes, spec, options.limits ?? DEFAULT_LIMITS);
    } catch (error) {
      if (error instanceof InvalidImageError) return error;
      throw error;
    }
  });
}
