import { describe, expect, it } from 'vitest';
import { backboneId, CATALOGUE, DEFAULT_BACKBONE, findCatalogueEntry, IMAGENET_PREPROCESSING } from '../../../src/backbone/catalogue.js';
import { validateBackboneName } from '../../../src/backbone/registeredBackbones.js';
import { validatePreprocessSpec } from '../../../src/image/preprocess.js';

describe('backbone catalogue', () => {
  it('has the default entry and unique names', () => {
    expect(findCatalogueEntry(DEFAULT_BACKBONE)?.file).toBe('mobilenetv2-12-fp32-embed.onnx');
    expect(new Set(CATALOGUE.map((s) => s.name)).size).toBe(CATALOGUE.length);
    expect(findCatalogueEntry('nope')).toBeUndefined();
  });

  it.each(CATALOGUE.map((s) => [s.name, s] as const))('%s is self-consistent', (_name, spec) => {
    expect(() => validateBackboneName(spec.name)).not.toThrow();
    expect(spec.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(() => validatePreprocessSpec(spec.preprocessing)).not.toThrow();
    expect(spec.inputShape).toEqual([3, spec.preprocessing.crop, spec.preprocessing.crop]);
    expect(spec.embeddingSize).toBeGreaterThan(0);
    if (spec.source) expect(spec.source.sha256).toBe(spec.sha256);
    // An id names the network and the exact file, and is safe in S3 keys and file names.
    expect(backboneId(spec)).toBe(`${spec.name}@${spec.sha256.slice(0, 16)}`);
    expect(backboneId(spec)).toMatch(/^[a-z0-9._-]+@[0-9a-f]{16}$/);
  });

  it('keeps the ImageNet numbers in one frozen place', () => {
    expect(IMAGENET_PREPROCESSING).toEqual({ resizeShorter: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bilinear' });
    expect(Object.isFrozen(IMAGENET_PREPROCESSING) && Object.isFrozen(IMAGENET_PREPROCESSING.mean)).toBe(true);
    for (const spec of CATALOGUE) expect(spec.preprocessing).toBe(IMAGENET_PREPROCESSING);
  });

  it('only the derived default cannot be downloaded', () => {
    expect(CATALOGUE.filter((s) => !s.source).map((s) => s.name)).toEqual([DEFAULT_BACKBONE]);
  });
});
