import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidImageError } from '../../../src/errors.js';
import { fitStandardizer, pixelFeatures, PIXEL_FEATURES, PIXEL_SIZE, standardize } from '../../../src/transfer/pixelFeatures.js';
import { imagesDir } from '../../helpers/shared.js';

/** A width x height RGB PNG: the left `split` columns red, the rest blue. */
async function twoColour(width: number, height: number, split: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (x < split) raw[o] = 255;
      else raw[o + 2] = 255;
    }
  }
  return new Uint8Array(await sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer());
}

describe('pixelFeatures', () => {
  it('turns a photo into 3072 values in [0, 1]', async () => {
    const [features] = await pixelFeatures([new Uint8Array(await readFile(path.join(imagesDir(), 'dog.jpg')))]);
    expect(features).toBeInstanceOf(Float32Array);
    const f = features as Float32Array;
    expect(f.length).toBe(PIXEL_FEATURES);
    expect(Math.min(...f)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...f)).toBeLessThanOrEqual(1);
    expect(new Set(f).size).toBeGreaterThan(100);
  });

  it('keeps the centre of a wide image (CHW order, same crop geometry as the backbone)', async () => {
    // 370 x 100: shorter side -> 37, so 136 x 37, then the centre 32 x 32 (columns 52..83 of 136,
    // about 141..229 of 370). Red up to column 185, blue after: the crop's left half is red.
    const [features] = await pixelFeatures([await twoColour(370, 100, 185)]);
    const f = features as Float32Array;
    const plane = PIXEL_SIZE * PIXEL_SIZE;
    const at = (c: number, y: number, x: number): number => f[c * plane + y * PIXEL_SIZE + x] as number;
    for (const y of [0, 16, 31]) {
      expect(at(0, y, 2)).toBeGreaterThan(0.99);
      expect(at(2, y, 2)).toBeLessThan(0.01);
      expect(at(0, y, 29)).toBeLessThan(0.01);
      expect(at(2, y, 29)).toBeGreaterThan(0.99);
    }
    // Red up to column 130 only: outside the centre crop, so the crop is all blue. Squashing the
    // whole image to 32 x 32 would have made its first 11 columns red.
    const [offCentre] = await pixelFeatures([await twoColour(370, 100, 130)]);
    const g = offCentre as Float32Array;
    expect(g[0 * plane + 16 * PIXEL_SIZE + 0]).toBeLessThan(0.01);
    expect(g[2 * plane + 16 * PIXEL_SIZE + 0]).toBeGreaterThan(0.99);
  });

  it('puts the refusal in the slot of a bad image and goes on', async () => {
    const good = await twoColour(40, 40, 20);
    const results = await pixelFeatures([new TextEncoder().encode('not an image'), good]);
    expect(results[0]).toBeInstanceOf(InvalidImageError);
    expect((results[0] as InvalidImageError).reason).toBe('not_an_image');
    expect(results[1]).toBeInstanceOf(Float32Array);
  });
});

describe('fitStandardizer / standardize', () => {
  const rows = Float32Array.from([1, 5, 0, 3, 5, 10, 5, 5, 20, 100, 5, -7]); // 4 rows x 3

  it('gives mean 0 and std 1 per feature on the rows it was fitted on; constant features get std 1', () => {
    const scaler = fitStandardizer(rows, 3, [0, 1, 2]);
    expect([...scaler.mean]).toEqual([3, 5, 10]);
    expect(scaler.std[0]).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(scaler.std[1]).toBe(1);
    const z = standardize(rows, 3, scaler, [0, 1, 2]);
    for (let j = 0; j < 3; j++) {
      const column = [0, 1, 2].map((i) => z[i * 3 + j] as number);
      expect(column.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 6);
      if (j !== 1) expect(Math.sqrt(column.reduce((a, b) => a + b * b, 0) / 3)).toBeCloseTo(1, 6);
      else expect(column).toEqual([0, 0, 0]);
    }
  });

  it('applies training statistics to other rows unchanged (no refit on them)', () => {
    const scaler = fitStandardizer(rows, 3, [0, 1, 2]);
    const held = standardize(rows, 3, scaler, [3]);
    expect(held[0]).toBeCloseTo((100 - 3) / Math.sqrt(8 / 3), 4);
    expect(held[1]).toBe(0);
    expect(standardize(rows, 3, fitStandardizer(rows, 3)).length).toBe(12);
  });

  it('refuses an empty fit', () => {
    expect(() => fitStandardizer(rows, 3, [])).toThrow(RangeError);
  });
});
