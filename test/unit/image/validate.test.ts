import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidImageError, type ImageRejection } from '../../../src/errors.js';
import { DEFAULT_LIMITS, inspectImage } from '../../../src/image/validate.js';
import { sniffFormat } from '../../../src/image/sniffFormat.js';
import { makeVariants, pngDeclaring, sharedPhoto, tinyBmp, type Variants } from './variants.js';

async function rejection(promise: Promise<unknown>): Promise<InvalidImageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidImageError);
    return error as InvalidImageError;
  }
  throw new Error('expected the image to be rejected');
}

async function expectReason(bytes: Uint8Array, reason: ImageRejection): Promise<InvalidImageError> {
  const error = await rejection(inspectImage(bytes));
  expect(error.reason).toBe(reason);
  expect(error.code).toBe(reason);
  return error;
}

let variants: Variants;
beforeAll(async () => {
  variants = await makeVariants();
});

describe('inspectImage accepts', () => {
  it.each([
    ['png', 'png'],
    ['jpeg', 'jpeg'],
    ['webp', 'webp'],
    ['avif', 'heif'],
    ['tiff', 'tiff'],
    ['gifAnimated', 'gif'],
    ['grey', 'png'],
    ['greyAlpha', 'png'],
    ['png16', 'png'],
    ['cmykJpeg', 'jpeg'],
  ] as const)('%s as %s with the header dimensions', async (variant, format) => {
    const info = await inspectImage(variants[variant]);
    expect(info.format).toBe(format);
    expect([info.width, info.height]).toEqual([451, 300]);
    expect(info.byteLength).toBe(variants[variant].byteLength);
  });

  it('reports pixel layouts from the header', async () => {
    expect((await inspectImage(variants.grey)).channels).toBe(1);
    expect((await inspectImage(variants.greyAlpha)).hasAlpha).toBe(true);
    expect((await inspectImage(variants.png16)).depth).toBe('ushort');
    expect((await inspectImage(variants.cmykJpeg)).space).toBe('cmyk');
    expect((await inspectImage(variants.gifAnimated)).pages).toBe(2);
  });

  it('swaps the oriented size for EXIF orientation 6', async () => {
    const info = await inspectImage(variants.exifRotated);
    expect(info.orientation).toBe(6);
    expect([info.width, info.height]).toEqual([300, 451]);
    expect([info.orientedWidth, info.orientedHeight]).toEqual([451, 300]);
  });

  it('accepts the shared photos, JPEG with EXIF included', async () => {
    for (const name of ['dog.jpg', 'rocket.jpg', 'coffee.png']) expect((await inspectImage(sharedPhoto(name))).width).toBeGreaterThan(0);
  });
});

describe('inspectImage rejects', () => {
  it('an empty file', async () => {
    const error = await expectReason(new Uint8Array(0), 'empty_file');
    expect(error.status).toBe(400);
  });

  it('a text file as not an image', async () => {
    await expectReason(new TextEncoder().encode('label,file\ncat,cat1.jpg\n'), 'not_an_image');
  });

  it('a PNG signature followed by garbage as an unreadable header', async () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 0x41)]);
    const error = await expectReason(bytes, 'not_an_image');
    expect(error.message).toMatch(/png.*header/);
  });

  it('a file over 50 MB by its length, naming both sizes', async () => {
    const bytes = new Uint8Array(DEFAULT_LIMITS.maxBytes + 1);
    bytes.set(sharedPhoto('rocket.jpg').subarray(0, 1024)); // a real JPEG header: size alone must decide
    const error = await expectReason(bytes, 'too_large');
    expect(error.status).toBe(413);
    expect(error.message).toContain(`${DEFAULT_LIMITS.maxBytes + 1} bytes`);
    expect(error.message).toContain(`${DEFAULT_LIMITS.maxBytes} bytes`);
  });

  it('a 30000x30000 PNG header (decompression bomb) from its header alone', async () => {
    const bomb = await pngDeclaring(30000, 30000);
    expect(bomb.byteLength).toBeLessThan(1000);
    const error = await expectReason(bomb, 'too_many_pixels');
    expect(error.message).toBe('image is 30000x30000 = 900.0 megapixels; the limit is 50 megapixels');
    expect(error.status).toBe(413);
  });

  it('honours custom limits', async () => {
    const error = await rejection(inspectImage(variants.png, { maxBytes: DEFAULT_LIMITS.maxBytes, maxPixels: 100_000 }));
    expect(error.reason).toBe('too_many_pixels');
    expect(error.message).toContain('451x300 = 0.1 megapixels; the limit is 0.1 megapixels');
    expect((await rejection(inspectImage(variants.png, { maxBytes: 1000, maxPixels: 1e9 }))).reason).toBe('too_large');
  });

  it('BMP, PDF and gzip as unsupported formats, by name', async () => {
    expect((await expectReason(tinyBmp(), 'unsupported_format')).message).toMatch(/^BMP images are not accepted/);
    expect((await expectReason(new TextEncoder().encode('%PDF-1.7\n%...'), 'unsupported_format')).message).toMatch(/^PDF/);
    expect((await expectReason(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 'unsupported_format')).status).toBe(415);
  });

  describe('SVG', () => {
    let server: http.Server;
    let requests = 0;
    let url = '';
    beforeAll(async () => {
      server = http.createServer((_req, res) => {
        requests++;
        res.end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pixel.png`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('is refused without ever being parsed, so external references are never fetched', async () => {
      const svg = `<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">` +
        `<image xlink:href="${url}" href="${url}" width="64" height="64"/></svg>`;
      const error = await expectReason(new TextEncoder().encode(svg), 'unsupported_format');
      expect(error.message).toMatch(/^SVG images are not accepted/);
      // Also with leading whitespace and a BOM, and without the XML declaration.
      await expectReason(new TextEncoder().encode(`\uFEFF  <svg xmlns="http://www.w3.org/2000/svg"><image href="${url}"/></svg>`), 'unsupported_format');
      expect(requests).toBe(0);
    });
  });
});

describe('sniffFormat', () => {
  it('recognises the accepted containers by signature', () => {
    expect(sniffFormat(variants.png)).toEqual({ accepted: 'png' });
    expect(sniffFormat(variants.jpeg)).toEqual({ accepted: 'jpeg' });
    expect(sniffFormat(variants.webp)).toEqual({ accepted: 'webp' });
    expect(sniffFormat(variants.avif)).toEqual({ accepted: 'heif' });
    expect(sniffFormat(variants.tiff)).toEqual({ accepted: 'tiff' });
    expect(sniffFormat(variants.gifAnimated)).toEqual({ accepted: 'gif' });
    expect(sniffFormat(Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]))).toEqual({ accepted: 'tiff' });
  });

  it('does not take plain text for an image', () => {
    expect(sniffFormat(new TextEncoder().encode('BM is not a bitmap'))).toEqual({ unknown: true });
    expect(sniffFormat(new TextEncoder().encode('<html><body>hi</body></html>'))).toEqual({ unknown: true });
  });
});
