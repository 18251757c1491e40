/**
 * Decides whether bytes are an image headstart will decode, reading headers only.
 *
 * Order matters: byte length first (no parser runs on a 2 GB upload), then our own signature
 * sniffing (no SVG/PDF parser ever runs), then sharp's header read (`metadata()` does not decode
 * pixels), then the pixel budget from the header, so a decompression bomb (a tiny file that
 * declares 30000x30000 pixels) is refused before any allocation for its pixels.
 */
import sharp from 'sharp';
import { InvalidImageError } from '../errors.js';
import { ACCEPTED_FORMATS, sniffFormat, type AcceptedFormat } from './sniffFormat.js';

export interface ImageLimits {
  /** Largest accepted file, in bytes. */
  maxBytes: number;
  /** Largest accepted width*height, in pixels (also passed to sharp as `limitInputPixels`). */
  maxPixels: number;
}

export const DEFAULT_LIMITS: Readonly<ImageLimits> = Object.freeze({
  maxBytes: 50 * 1024 * 1024,
  maxPixels: 50_000_000,
});

export interface ImageInfo {
  format: AcceptedFormat;
  /** Dimensions as stored in the file (of the first page/frame). */
  width: number;
  height: number;
  /** Dimensions after applying the EXIF orientation, i.e. as the image is meant to be seen. */
  orientedWidth: number;
  orientedHeight: number;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
  channels: number;
  hasAlpha: boolean;
  /** libvips band format, e.g. 'uchar' (8-bit) or 'ushort' (16-bit). */
  depth: string;
  /** libvips interpretation, e.g. 'srgb', 'b-w', 'cmyk', 'rgb16'. */
  space: string;
  /** Frames/pages in the file; only the first is used. */
  pages: number;
  byteLength: number;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function megapixels(pixels: number): string {
  const mp = pixels / 1_000_000;
  return Number.isInteger(mp) ? String(mp) : mp.toFixed(1);
}

/** Refuses files over the byte limit; split out so callers holding only a size can check early. */
export function checkByteLength(byteLength: number, limits: ImageLimits = DEFAULT_LIMITS): void {
  if (byteLength === 0) throw new InvalidImageError('empty_file', 'image file is empty (0 bytes)', { context: { bytes: 0 } });
  if (byteLength > limits.maxBytes) {
    throw new InvalidImageError(
      'too_large',
      `image file is ${mib(byteLength)} (${byteLength} bytes); the limit is ${mib(limits.maxBytes)} (${limits.maxBytes} bytes)`,
      { context: { bytes: byteLength, maxBytes: limits.maxBytes } },
    );
  }
}

/** Refuses a width*height over the pixel budget, naming the numbers. */
export function checkPixels(width: number, height: number, limits: ImageLimits = DEFAULT_LIMITS, what = 'image'): void {
  const pixels = width * height;
  if (pixels > limits.maxPixels) {
    throw new InvalidImageError(
      'too_many_pixels',
      `${what} is ${width}x${height} = ${(pixels / 1_000_000).toFixed(1)} megapixels; the limit is ${megapixels(limits.maxPixels)} megapixels`,
      { context: { width, height, maxPixels: limits.maxPixels } },
    );
  }
}

/** EXIF orientations 5..8 swap width and height. */
function orientedSize(width: number, height: number, orientation: number): [number, number] {
  return orientation >= 5 && orientation <= 8 ? [height, width] : [width, height];
}

/**
 * Reads and checks an image's headers. Throws {@link InvalidImageError} with reason
 * `empty_file`, `too_large`, `not_an_image`, `unsupported_format` or `too_many_pixels`.
 * It does not decode pixels, so it cannot see a truncated or corrupt body: that surfaces as
 * `corrupt_image` when the image is decoded (see preprocess).
 */
export async function inspectImage(bytes: Uint8Array, limits: ImageLimits = DEFAULT_LIMITS): Promise<ImageInfo> {
  checkByteLength(bytes.byteLength, limits);

  const sniffed = sniffFormat(bytes);
  if ('refused' in sniffed) {
    throw new InvalidImageError(
      'unsupported_format',
      `${sniffed.refused} images are not accepted; accepted formats: ${ACCEPTED_FORMATS.join(', ')} (heif means AVIF)`,
      { context: { format: sniffed.refused } },
    );
  }
  if ('unknown' in sniffed) {
    throw new InvalidImageError('not_an_image', `file is not an image: its first bytes match none of ${ACCEPTED_FORMATS.join(', ')}`);
  }

  let meta: sharp.Metadata;
  try {
    // Header only. The pixel limit is enforced below with our own message, so sharp's is off here.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new InvalidImageError('not_an_image', `file looks like ${sniffed.accepted} but its header cannot be read: ${(error as Error).message}`, {
      cause: error,
      context: { format: sniffed.accepted },
    });
  }

  const format = meta.format === 'jpg' ? 'jpeg' : meta.format;
  if (format !== sniffed.accepted) {
    // Signature and decoder disagree (e.g. a TIFF-looking header libvips reads as something else).
    throw new InvalidImageError('unsupported_format', `file signature says ${sniffed.accepted} but the decoder reads it as ${String(format)}`, {
      context: { format: String(format) },
    });
  }
  if (format === 'heif' && meta.compression !== 'av1') {
    // sharp's prebuilt libvips decodes AV1 (AVIF) only; HEVC (HEIC from phones) is not licensed in.
    throw new InvalidImageError(
      'unsupported_format',
      `HEIF images coded with ${meta.compression ?? 'an unknown codec'} (e.g. HEIC from phones) are not supported; AVIF is, or convert to JPEG`,
      { context: { format: 'heif', compression: meta.compression } },
    );
  }

  const width = meta.width;
  const height = meta.height;
  if (!width || !height) {
    throw new InvalidImageError('not_an_image', `${format} header has no usable dimensions (${String(width)}x${String(height)})`, {
      context: { format },
    });
  }
  checkPixels(width, height, limits);

  const orientation = meta.orientation && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1;
  const [orientedWidth, orientedHeight] = orientedSize(width, height, orientation);
  return {
    format: sniffed.accepted,
    width,
    height,
    orientedWidth,
    orientedHeight,
    orientation,
    channels: meta.channels ?? 0,
    hasAlpha: meta.hasAlpha ?? false,
    depth: meta.depth ?? 'uchar',
    space: meta.space ?? 'srgb',
    pages: meta.pages ?? 1,
    byteLength: bytes.byteLength,
  };
}
