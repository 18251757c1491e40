import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidImageError } from '../../../src/errors.js';
import {
  planResizeAndCrop,
  preprocess,
  preprocessBatch,
  preprocessKey,
  roundHalfEven,
  type PreprocessSpec,
} from '../../../src/image/preprocess.js';
import { corruptPngCrc, makeVariants, pngDeclaring, sharedPhoto, type Variants } from './variants.js';

// The catalogue's ImageNet spec, restated here on purpose: the test pins the numbers.
const SPEC: PreprocessSpec = { resizeShorter: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bilinear' };
const PLANE = 224 * 224;

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

/** Back from normalised CHW to 0..255 for one pixel and channel. */
function pixel(x: Float32Array, c: number, y: number, col: number): number {
  return ((x[c * PLANE + y * 224 + col] as number) * (SPEC.std[c] as number) + (SPEC.mean[c] as number)) * 255;
}

let variants: Variants;
let base: Float32Array;
beforeAll(async () => {
  variants = await makeVariants();
  base = await preprocess(variants.png, SPEC);
});

describe('geometry (torchvision Resize + CenterCrop)', () => {
  it('truncates the long side and rounds crop offsets half to even, like Python', () => {
    expect(planResizeAndCrop(451, 300, SPEC)).toEqual({ width: 384, height: 256, left: 80, top: 16 });
    expect(planResizeAndCrop(1546, 1213, SPEC)).toEqual({ width: 326, height: 256, left: 51, top: 16 });
    // 256 * 683 / 512 = 341.5 -> 341; (341 - 224) / 2 = 58.5 -> 58 (even), not 59.
    expect(planResizeAndCrop(512, 683, SPEC)).toEqual({ width: 256, height: 341, left: 16, top: 58 });
    expect(planResizeAndCrop(256, 256, SPEC)).toEqual({ width: 256, height: 256, left: 16, top: 16 });
    expect([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(59.5), roundHalfEven(2.4)]).toEqual([0, 2, 2, 60, 2]);
  });
});

describe('preprocess numerics', () => {
  it('returns CHW float32 of 3*crop*crop finite values in the normalised range', () => {
    expect(base).toBeInstanceOf(Float32Array);
    expect(base.length).toBe(3 * PLANE);
    const outOfRange = base.filter((v) => !(Number.isFinite(v) && v > -2.2 && v < 2.7));
    expect(outOfRange.length).toBe(0);
  });

  it('matches PIL + numpy (torchvision) on the shared photos', async () => {
    const reference = JSON.parse(readFileSync(new URL('./fixtures/pil-reference.json', import.meta.url), 'utf8')) as {
      grid: number[];
      images: Record<string, { channelMeans: number[]; samples: number[][][] }>;
    };
    for (const [name, ref] of Object.entries(reference.images)) {
      const x = await preprocess(sharedPhoto(name), SPEC);
      let sum = 0;
      let n = 0;
      for (let c = 0; c < 3; c++) {
        let mean = 0;
        for (let i = 0; i < PLANE; i++) mean += x[c * PLANE + i] as number;
        expect(Math.abs(mean / PLANE - (ref.channelMeans[c] as number)), `${name} channel ${c} mean`).toBeLessThan(0.01);
        reference.grid.forEach((y, gy) =>
          reference.grid.forEach((col, gx) => {
            sum += Math.abs((x[c * PLANE + y * 224 + col] as number) - (ref.samples[c]?.[gy]?.[gx] as number));
            n++;
          }),
        );
      }
      // Measured: 0.002-0.004 for PNGs, about 0.013 for dog.jpg (libvips box-shrinks before a 4.7x reduction).
      expect(sum / n, `${name} mean abs difference from PIL`).toBeLessThan(0.03);
    }
  });

  it('is deterministic', async () => {
    expect(meanAbsDiff(await preprocess(variants.png, SPEC), base)).toBe(0);
  });

  it('takes mean and std from the spec, not from constants', async () => {
    const plain: PreprocessSpec = { ...SPEC, mean: [0, 0, 0], std: [1, 1, 1] };
    const x = await preprocess(variants.png, plain);
    for (let i = 0; i < x.length; i += 997) {
      const c = Math.floor(i / PLANE);
      expect(x[i]).toBeCloseTo((base[i] as number) * (SPEC.std[c] as number) + (SPEC.mean[c] as number), 5);
    }
    expect((await preprocess(variants.png, { ...SPEC, resizeShorter: 160, crop: 128 })).length).toBe(3 * 128 * 128);
  });

  it('refuses an impossible spec', async () => {
    await expect(preprocess(variants.png, { ...SPEC, crop: 300 })).rejects.toThrow(/crop 300 is larger than resizeShorter 256/);
  });

  it('gives a stable key naming every number', () => {
    expect(preprocessKey(SPEC)).toBe('v1:resize256-bilinear:crop224:mean0.485,0.456,0.406:std0.229,0.224,0.225');
  });
});

describe('preprocess accepts every container and pixel layout', () => {
  it.each([
    ['tiff', 0],
    ['png16', 0.01],
    ['jpeg', 0.04],
    ['webp', 0.04],
    ['avif', 0.04],
    ['gifAnimated', 0.05],
    ['cmykJpeg', 0.15],
  ] as const)('%s gives nearly the PNG tensor (mean abs diff <= %f)', async (variant, tolerance) => {
    const x = await preprocess(variants[variant], SPEC);
    expect(meanAbsDiff(x, base)).toBeLessThanOrEqual(tolerance);
  });

  it('uses only the first GIF frame (the second is solid red)', async () => {
    const x = await preprocess(variants.gifAnimated, SPEC);
    expect(pixel(x, 0, 112, 112)).not.toBeCloseTo(255, 0);
    expect(meanAbsDiff(x, base)).toBeLessThan(0.05);
  });

  it('turns greyscale and grey+alpha into three equal channels', async () => {
    for (const variant of ['grey', 'greyAlpha'] as const) {
      const x = await preprocess(variants[variant], SPEC);
      for (const [y, col] of [[0, 0], [100, 50], [223, 223], [112, 200]] as const) {
        expect(pixel(x, 0, y, col)).toBeCloseTo(pixel(x, 1, y, col), 2);
        expect(pixel(x, 1, y, col)).toBeCloseTo(pixel(x, 2, y, col), 2);
      }
    }
  });

  it('drops alpha without compositing, like PIL convert("RGB")', async () => {
    // Solid orange with alpha 0 everywhere: compositing would give black or white, dropping gives orange.
    const transparent = await sharp({ create: { width: 300, height: 300, channels: 4, background: { r: 255, g: 128, b: 0, alpha: 0 } } }).png().toBuffer();
    const x = await preprocess(transparent, SPEC);
    expect(pixel(x, 0, 112, 112)).toBeCloseTo(255, 1);
    expect(pixel(x, 1, 112, 112)).toBeCloseTo(128, 1);
    expect(pixel(x, 2, 112, 112)).toBeCloseTo(0, 1);
  });

  it('applies the EXIF orientation: a rotated-and-tagged photo gives the original tensor', async () => {
    expect(meanAbsDiff(await preprocess(variants.exifRotated, SPEC), base)).toBeLessThan(1e-6);
    // Without honouring the tag, the tensor would be very different.
    const ignored = await sharp(variants.exifRotated).png().toBuffer(); // metadata stripped, pixels still rotated
    expect(meanAbsDiff(await preprocess(ignored, SPEC), base)).toBeGreaterThan(0.3);
  });

  it('upsamples images smaller than the crop', async () => {
    const tiny = await sharp(variants.png).resize(28, 28).png().toBuffer();
    expect((await preprocess(tiny, SPEC)).length).toBe(3 * PLANE);
  });
});

describe('preprocess rejects', () => {
  it('a truncated JPEG as corrupt (sharp would otherwise pad it with grey)', async () => {
    const truncated = variants.jpeg.subarray(0, Math.floor(variants.jpeg.length * 0.6));
    const error = await preprocess(truncated, SPEC).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidImageError);
    expect((error as InvalidImageError).reason).toBe('corrupt_image');
    expect((error as InvalidImageError).message).toMatch(/^jpeg image could not be decoded/);
  });

  it('a PNG whose data CRC does not match as corrupt', async () => {
    const error = await preprocess(corruptPngCrc(variants.png), SPEC).catch((e: unknown) => e);
    expect((error as InvalidImageError).reason).toBe('corrupt_image');
  });

  it('a decompression bomb before decoding it', async () => {
    const error = await preprocess(await pngDeclaring(30000, 30000), SPEC).catch((e: unknown) => e);
    expect((error as InvalidImageError).reason).toBe('too_many_pixels');
  });

  it('a strip that fits the pixel budget but would explode when its shorter side is resized', async () => {
    const error = await preprocess(await pngDeclaring(1, 40_000_000), SPEC).catch((e: unknown) => e);
    expect((error as InvalidImageError).reason).toBe('too_many_pixels');
    expect((error as InvalidImageError).message).toMatch(/^image resized to shorter side 256 is 256x10240000000/);
  });
});

describe('preprocessBatch', () => {
  it('returns per-image results in order; a bad image does not spoil the batch', async () => {
    const results = await preprocessBatch([variants.png, new Uint8Array(0), variants.jpeg, new TextEncoder().encode('hello')], SPEC, { concurrency: 2 });
    expect(results).toHaveLength(4);
    expect(results[0]).toBeInstanceOf(Float32Array);
    expect(meanAbsDiff(results[0] as Float32Array, base)).toBe(0);
    expect((results[1] as InvalidImageError).reason).toBe('empty_file');
    expect(results[2]).toBeInstanceOf(Float32Array);
    expect((results[3] as InvalidImageError).reason).toBe('not_an_image');
  });
});
