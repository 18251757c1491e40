import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { CATALOGUE, DEFAULT_BACKBONE, findCatalogueEntry } from '../../../src/backbone/catalogue.js';
import { cudaAvailable, resolveDevice } from '../../../src/backend/onnx.js';
import { InvalidImageError } from '../../../src/errors.js';
import { preprocess } from '../../../src/image/preprocess.js';
import { modelsDir } from '../../helpers/shared.js';
import { makeVariants, sharedPhoto, type Variants } from '../../unit/image/variants.js';

const PHOTOS = ['chelsea.png', 'coffee.png', 'dog.jpg', 'rocket.jpg', 'motorcycle_left.png'];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

const options = { modelsDir: modelsDir() };

describe('golden ImageNet top-1 on the shared photos', () => {
  // Both shipped backbones must agree with images/README.md. int8 and float32 numbers are never
  // compared with each other (int8 kernels differ between CPUs with and without VNNI).
  describe.each(['mobilenetv2-12-fp32-embed', 'mobilenetv2-12-int8'])('%s', (name) => {
    let backbone: Backbone;
    beforeAll(async () => {
      backbone = await Backbone.load(name, options);
    });
    afterAll(async () => backbone.release());

    it.each([
      ['chelsea.png', ['Egyptian cat', 'tabby', 'tiger cat']],
      ['coffee.png', ['espresso']],
      ['dog.jpg', ['Samoyed']],
      ['motorcycle_left.png', ['moped']],
    ] as const)('%s -> %s', async (photo, expected) => {
      const top = await backbone.classify(sharedPhoto(photo), 5);
      // int8 kernels give different numbers on CPUs with and without VNNI (models/SOURCES.md): on
      // some machines coffee.png's top two (espresso, consomme) tie exactly (seen with this
      // commit's code and the previous one alike), so the expected class must be first or tied.
      const tiedWithFirst = top.filter((c) => c.probability >= top[0]!.probability - 1e-6).map((c) => c.label);
      if (name === 'mobilenetv2-12-int8') expect(tiedWithFirst.some((l) => (expected as readonly string[]).includes(l))).toBe(true);
      else expect(expected).toContain(top[0]!.label);
    });

    it('rocket.jpg -> missile or projectile', async () => {
      const top = await backbone.classify(sharedPhoto('rocket.jpg'), 5);
      // A borderline photo. With torchvision's exact crop offset (round(79.5) = 80) the float32 file
      // puts "drilling platform" (0.26) just above "missile" (0.19); PIL + torchvision agree. A crop
      // one pixel to the left (offset 79) gives "missile" first. So: missile/projectile in the top 2.
      // int8 differs by CPU (VNNI or not): on some CPUs it puts missile first, on others third
      // (drilling platform 0.42, space shuttle 0.14, missile 0.10), so int8 gets the top 3.
      const within = name === 'mobilenetv2-12-int8' ? 3 : 2;
      expect(top.slice(0, within).map((c) => c.label).some((l) => l === 'missile' || l === 'projectile')).toBe(true);
    });

    it('classify returns sorted probabilities that sum to at most 1', async () => {
      const top = await backbone.classify(sharedPhoto('coffee.png'), 1000);
      expect(top).toHaveLength(1000);
      const sum = top.reduce((s, c) => s + c.probability, 0);
      expect(sum).toBeCloseTo(1, 5);
      for (let i = 1; i < top.length; i++) expect(top[i - 1]!.probability).toBeGreaterThanOrEqual(top[i]!.probability);
    });
  });
});

describe('contract: every catalogue backbone present on this machine', () => {
  // Entries whose file is not here (the upstream float32 before `npm run fetch-models`) are not
  // contract-tested; the test below checks they fail with the message that says how to get them.
  const present = CATALOGUE.filter((spec) => existsSync(path.join(modelsDir(), spec.file)));
  const absent = CATALOGUE.filter((spec) => !present.includes(spec));

  it('covers the default backbone at least', () => {
    expect(present.map((s) => s.name)).toContain('mobilenetv2-12-fp32-embed');
  });

  it.for(absent.map((spec) => [spec.name, spec] as const))('%s, absent here, fails with a message that says how to get it', async ([, spec]) => {
    await expect(Backbone.load(spec, options)).rejects.toThrow(/fetch-models|HEADSTART_MODELS/);
  });

  it.for(present.map((spec) => [spec.name, spec] as const))('%s embeds to spec.embeddingSize', async ([, spec]) => {
    const backbone = await Backbone.load(spec, options);
    try {
      expect(backbone.embeddingSize).toBe(spec.embeddingSize);
      const results = await backbone.embedImages([sharedPhoto('dog.jpg'), sharedPhoto('astronaut.png')]);
      for (const r of results) {
        expect(r).toBeInstanceOf(Float32Array);
        expect((r as Float32Array).length).toBe(spec.embeddingSize);
        expect((r as Float32Array).every((v) => Number.isFinite(v))).toBe(true);
      }
      expect(backbone.id).toBe(`${spec.name}@${spec.sha256.slice(0, 16)}`);
    } finally {
      await backbone.release();
    }
  });
});

describe(`${DEFAULT_BACKBONE} embeddings`, () => {
  let backbone: Backbone;
  let variants: Variants;
  let reference: Float32Array;
  beforeAll(async () => {
    backbone = await Backbone.load(undefined, { ...options, batchSize: 4 });
    variants = await makeVariants();
    reference = (await backbone.embedImages([variants.png]))[0] as Float32Array;
  });
  afterAll(async () => backbone.release());

  it('is the default, with its id and the shared file\'s documented shape (non-negative, L2 norm 20-40)', () => {
    expect(backbone.id).toBe('mobilenetv2-12-fp32-embed@0a4188c54960d764');
    expect(backbone.ref).toEqual({ id: backbone.id, name: DEFAULT_BACKBONE, sha256: findCatalogueEntry(DEFAULT_BACKBONE)!.sha256, embeddingSize: 1280 });
    expect(reference.every((v) => v >= 0)).toBe(true);
    const norm = Math.hypot(...reference);
    expect(norm).toBeGreaterThan(20);
    expect(norm).toBeLessThan(40);
  });

  it('gives the same embedding in a batch (chunked by 4) as alone, within 1e-5', async () => {
    const images = PHOTOS.map(sharedPhoto);
    const batched = await backbone.embedImages(images);
    for (let i = 0; i < images.length; i++) {
      const [alone] = await backbone.embedImages([images[i]!]);
      expect(maxAbsDiff(batched[i] as Float32Array, alone as Float32Array)).toBeLessThan(1e-5);
    }
  });

  it('embed(preprocessed) equals embedImages(bytes)', async () => {
    const x = await preprocess(sharedPhoto('dog.jpg'), backbone.spec.preprocessing);
    const [a] = await backbone.embed([x]);
    const [b] = await backbone.embedImages([sharedPhoto('dog.jpg')]);
    expect(maxAbsDiff(a!, b as Float32Array)).toBe(0);
  });

  it('honours EXIF orientation: the rotated-and-tagged photo embeds like the upright one', async () => {
    const [rotated] = await backbone.embedImages([variants.exifRotated]);
    expect(maxAbsDiff(rotated as Float32Array, reference)).toBeLessThan(1e-4);
  });

  it.each([
    ['tiff', 0.9999],
    ['png16', 0.999],
    ['jpeg', 0.98],
    ['webp', 0.98],
    ['avif', 0.97],
    ['gifAnimated', 0.95],
    ['cmykJpeg', 0.95],
    ['grey', 0.8],
    ['greyAlpha', 0.8],
  ] as const)('%s embeds close to the PNG (cosine >= %f)', async (variant, minCosine) => {
    const [e] = await backbone.embedImages([variants[variant]]);
    expect(cosine(e as Float32Array, reference)).toBeGreaterThanOrEqual(minCosine);
  });

  it('reports bad images per image and embeds the rest', async () => {
    const results = await backbone.embedImages([
      new Uint8Array(0),
      sharedPhoto('coffee.png'),
      new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      variants.jpeg.subarray(0, 2000),
    ]);
    expect((results[0] as InvalidImageError).reason).toBe('empty_file');
    expect((results[1] as Float32Array).length).toBe(1280);
    expect((results[2] as InvalidImageError).reason).toBe('unsupported_format');
    expect((results[3] as InvalidImageError).reason).toBe('corrupt_image');
  });

  it('hands out the graph it runs: the pinned file as is, with the embedding output', async () => {
    const bytes = await backbone.modelBytes();
    expect(bytes.length).toBe(13_970_073);
    expect(backbone.embeddingOutput).toBe('embedding');
  });

  it('refuses inputs of the wrong size', async () => {
    await expect(backbone.embed([new Float32Array(10)])).rejects.toThrow(/input 0 has 10 values; .* takes 150528/);
  });

  it('cannot classify without labels', async () => {
    const spec = { ...findCatalogueEntry(DEFAULT_BACKBONE)!, labelsFile: 'no-such-labels.txt' };
    const unlabelled = await Backbone.load(spec, options);
    try {
      expect(unlabelled.canClassify).toBe(false);
      await expect(unlabelled.classify(sharedPhoto('dog.jpg'))).rejects.toMatchObject({ code: 'cannot_classify' });
    } finally {
      await unlabelled.release();
    }
  });

  it('a session asked for CUDA runs, on the GPU where one is usable and else on the CPU, with the CPU numbers', async () => {
    // The CUDA numbers themselves are checked on a GPU machine by scripts/gpu-check.ts; CI has none.
    // Here the request goes through resolveDevice into a real session, whose device and embeddings are checked.
    const asked = await Backbone.load(DEFAULT_BACKBONE, { ...options, device: resolveDevice('cuda') });
    try {
      expect(asked.device).toBe(cudaAvailable() ? 'cuda' : 'cpu');
      const x = await preprocess(sharedPhoto('dog.jpg'), asked.spec.preprocessing);
      const [onAsked] = await asked.embed([x]);
      const [onCpu] = await backbone.embed([x]);
      expect(maxAbsDiff(onAsked!, onCpu!)).toBeLessThan(asked.device === 'cpu' ? 1e-6 : 1e-3);
    } finally {
      await asked.release();
    }
    expect(resolveDevice(undefined)).toBe('cpu');
  });
});
