/**
 * Image variants made on the fly from the shared photos (nothing is checked in): every container
 * and pixel layout preprocessing must accept, plus crafted hostile inputs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { imagesDir } from '../../helpers/shared.js';

export function sharedPhoto(name: string): Buffer {
  return readFileSync(path.join(imagesDir(), name));
}

/** A photo without an embedded ICC profile or EXIF, as plain 8-bit sRGB PNG: the base of the variants. */
export async function basePng(name = 'chelsea.png'): Promise<Buffer> {
  return sharp(sharedPhoto(name)).png().toBuffer();
}

export interface Variants {
  png: Buffer;
  jpeg: Buffer;
  webp: Buffer;
  avif: Buffer;
  tiff: Buffer;
  gifAnimated: Buffer;
  grey: Buffer;
  greyAlpha: Buffer;
  png16: Buffer;
  cmykJpeg: Buffer;
  /** The photo stored rotated 90° counter-clockwise, tagged EXIF orientation 6 (display rotates it back). */
  exifRotated: Buffer;
}

export async function makeVariants(name = 'chelsea.png'): Promise<Variants> {
  const png = await basePng(name);
  const img = () => sharp(png);
  const { width, height } = await img().metadata();
  const red = await sharp({ create: { width: width!, height: height!, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const [jpeg, webp, avif, tiff, gifAnimated, grey, greyAlpha, png16, cmykJpeg, exifRotated] = await Promise.all([
    img().jpeg({ quality: 95 }).toBuffer(),
    img().webp({ quality: 95 }).toBuffer(),
    img().avif({ quality: 80 }).toBuffer(),
    img().tiff({ compression: 'lzw' }).toBuffer(),
    // Two frames: the photo first, then solid red; only the first may be used.
    sharp([png, red], { join: { animated: true } }).gif().toBuffer(),
    img().toColourspace('b-w').png().toBuffer(),
    img().toColourspace('b-w').ensureAlpha(0.5).png().toBuffer(),
    img().toColourspace('rgb16').png({ compressionLevel: 1 }).toBuffer(),
    img().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(),
    img().rotate(-90).withMetadata({ orientation: 6 }).png().toBuffer(),
  ]);
  return { png, jpeg, webp, avif, tiff, gifAnimated, grey, greyAlpha, png16, cmykJpeg, exifRotated };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A decompression bomb: a tiny valid PNG whose IHDR (with a correct CRC) declares
 * width x height. Decoding it would need width*height*3 bytes.
 */
export async function pngDeclaring(width: number, height: number): Promise<Buffer> {
  const small = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
  const bomb = Buffer.from(small);
  // Signature (8) + length (4) + "IHDR" (4) + data (13) + CRC (4).
  if (bomb.toString('latin1', 12, 16) !== 'IHDR') throw new Error('unexpected PNG layout');
  bomb.writeUInt32BE(width, 16);
  bomb.writeUInt32BE(height, 20);
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
  return bomb;
}

/** A PNG whose first IDAT chunk has one byte flipped, so its CRC no longer matches. */
export function corruptPngCrc(png: Buffer): Buffer {
  const bad = Buffer.from(png);
  const idat = bad.indexOf(Buffer.from('IDAT'));
  if (idat < 0) throw new Error('no IDAT chunk');
  bad[idat + 40] = (bad[idat + 40] as number) ^ 0xff;
  return bad;
}

/** A minimal BITMAPINFOHEADER BMP (2x2, 24-bit): a real format we refuse. */
export function tinyBmp(): Buffer {
  const rowBytes = 8; // 2 px * 3 bytes, padded to 4
  const pixels = Buffer.alloc(rowBytes * 2, 0x7f);
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + pixels.length, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(2, 18);
  header.writeInt32LE(2, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  header.writeUInt32LE(pixels.length, 34);
  return Buffer.concat([header, pixels]);
}
