/**
 * Small JPEG thumbnails as data: URIs, so the report carries its images inside the one HTML file.
 * The source is the uploaded image from the store: already validated at extraction, but the pixel
 * limit is passed to sharp again, since a report must never be the place a decompression bomb
 * finally gets decoded.
 */
import sharp from 'sharp';
import { DEFAULT_LIMITS } from '../image/validate.js';

export const DEFAULT_THUMBNAIL_SIZE = 64;

/** A square, EXIF-oriented, centre-cropped JPEG of `size` pixels (transparent areas on white). */
export async function thumbnailDataUri(bytes: Uint8Array, size = DEFAULT_THUMBNAIL_SIZE): Promise<string> {
  const jpeg = await sharp(bytes, { limitInputPixels: DEFAULT_LIMITS.maxPixels, pages: 1 })
    .rotate()
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 72, mozjpeg: true })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
