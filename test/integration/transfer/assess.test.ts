/**
 * assessDataset end to end on real images: upload to a local bucket, extract with the default
 * backbone as the product does, then assess with the default and the int8 backbone (whose
 * embeddings are computed on demand and cached) against the pixel baseline.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { datasetObjectKey } from '../../../src/dataset/keys.js';
import { EmbeddingCache } from '../../../src/embeddings/EmbeddingCache.js';
import { extractObjects } from '../../../src/pipeline/extract.js';
import { assessDataset, pickBackbone, type TrainedArm, type TransferAssessment } from '../../../src/transfer/assess.js';
import { PIXEL_FEATURES_ID } from '../../../src/transfer/pixelFeatures.js';
import { datasetsDir, modelsDir } from '../../helpers/shared.js';
import { tempStore } from '../../helpers/fakes.js';

const PER_CLASS = 12;
const DATASET = 'bugs';

describe('assessDataset (hymenoptera, 12 images per class)', () => {
  let store: FsObjectStore;
  let index: SqliteDatasetIndex;
  let cleanup: () => Promise<void>;
  let fp32: Backbone;
  let keys: string[];
  let first: TransferAssessment;
  const arms = new Map<string, TrainedArm>();

  beforeAll(async () => {
    ({ store, cleanup } = await tempStore());
    index = new SqliteDatasetIndex(openHomeDatabase(':memory:'));
    fp32 = await Backbone.load('mobilenetv2-12-fp32-embed', { modelsDir: modelsDir() });
    keys = [];
    for (const label of ['ants', 'bees']) {
      const folder = path.join(datasetsDir(), 'hymenoptera', 'train', label);
      const files = (await readdir(folder)).sort().slice(0, PER_CLASS);
      for (const file of files) {
        const key = datasetObjectKey(DATASET, label, file);
        await store.put(key, new Uint8Array(await readFile(path.join(folder, file))));
        keys.push(key);
      }
    }
    // A byte-identical copy under the same label: kept once.
    await store.put(datasetObjectKey(DATASET, 'ants', 'copy.jpg'), (await store.get(keys[0] as string)) as Uint8Array);
    keys.push(datasetObjectKey(DATASET, 'ants', 'copy.jpg'));
    const result = await extractObjects(keys.map((key, i) => ({ id: `e${i}`, kind: 'created' as const, key })), { store, index, embedder: fp32 });
    expect(result.failedIds).toEqual([]);

    first = await assessDataset({ store, index }, DATASET, {
      backbones: [fp32, 'mobilenetv2-12-int8'],
      location: { modelsDir: modelsDir() },
      learningCurve: { seeds: 2 },
      onTrainedHead: (arm) => arms.set(arm.id, arm),
    });
  });
  afterAll(async () => {
    await fp32?.release();
    await cleanup?.();
  });

  it('scores both backbones and the pixel baseline on the same images', () => {
    expect(first.n).toBe(2 * PER_CLASS);
    expect(first.classNames).toEqual(['ants', 'bees']);
    expect(first.classCounts).toEqual([PER_CLASS, PER_CLASS]);
    expect(first.backbones.map((b) => b.name).sort()).toEqual(['mobilenetv2-12-fp32-embed', 'mobilenetv2-12-int8']);
    for (const b of first.backbones) {
      expect(Number.isFinite(b.logme)).toBe(true);
      expect(b.probeBalancedAccuracy).toBeGreaterThan(0.75);
      expect(b.gain.value).toBeCloseTo(b.probeBalancedAccuracy - first.baseline.balancedAccuracy, 12);
    }
    expect(first.baseline.features).toBe(PIXEL_FEATURES_ID);
    // Raw pixels know nothing about ants and bees; ImageNet features do.
    expect(first.baseline.logme).toBeLessThan(Math.min(...first.backbones.map((b) => b.logme)));
    expect([...arms.keys()].sort()).toEqual([...first.backbones.map((b) => b.id), PIXEL_FEATURES_ID].sort());
    expect(arms.get(PIXEL_FEATURES_ID)?.standardizer?.mean.length).toBe(3072);
  });

  it('ranks the backbones by LogME and by probe, and pickBackbone takes the best probe', () => {
    expect(first.backbones.map((b) => b.rankByLogme).sort()).toEqual([1, 2]);
    const picked = pickBackbone(first);
    expect(picked.id).toBe(first.chosen);
    expect(picked).toBe(first.backbones[0]);
    const other = first.backbones[1]!;
    expect(picked.probeBalancedAccuracy > other.probeBalancedAccuracy || (picked.probeBalancedAccuracy === other.probeBalancedAccuracy && picked.logme >= other.logme)).toBe(true);
  });

  it('gives a verdict about the chosen backbone, confident only if its whole interval is in the band', () => {
    const chosen = first.backbones.find((b) => b.id === first.chosen)!;
    expect(first.gain).toEqual(chosen.gain);
    expect(first.verdict).toBe(chosen.verdict);
    // Photos of insects: ImageNet features help, even on 24 images.
    expect(first.verdict).toBe('helps');
    expect(first.gain.value).toBeGreaterThan(0.2);
    // On 24 images the interval is wide (Agresti-Coull keeps 12/12 uncertain).
    expect(first.gain.high - first.gain.low).toBeGreaterThan(0.3);
    expect(first.confident).toBe(first.gain.low >= 0.1);
    expect(first.explanation).toContain(first.confident ? 'lies within' : 'Not certain: with 24 images');
    expect(first.thresholds).toEqual({ helps: 0.1, doesNotHelp: 0.02, z: 1.96 });
  });

  it('reports the duplicate it left out', () => {
    expect(first.excluded).toContainEqual({ key: datasetObjectKey(DATASET, 'ants', 'copy.jpg'), reason: expect.stringContaining('duplicate') });
  });

  it('computes int8 embeddings on demand and caches them under the int8 id', async () => {
    const int8 = first.backbones.find((b) => b.name === 'mobilenetv2-12-int8')!;
    const fp = first.backbones.find((b) => b.name === 'mobilenetv2-12-fp32-embed')!;
    expect(int8.embeddedNow).toBe(2 * PER_CLASS);
    expect(fp.embeddedNow).toBe(0);
    const cache = new EmbeddingCache(store);
    const records = await Promise.all(keys.slice(0, 3).map(async (k) => (await store.get(k)) as Uint8Array));
    const { sha256Hex } = await import('../../../src/dataset/keys.js');
    for (const bytes of records) expect(await cache.has(int8.id, sha256Hex(bytes))).toBe(true);
  });

  it('measures a learning curve for the chosen backbone', () => {
    const curve = first.learningCurve!;
    // 12 per class: 4 held out, pools of 8, so k = 1, 2, 5 and all.
    expect(curve.points.map((p) => p.k)).toEqual([1, 2, 5, 'all']);
    expect(curve.heldOut).toBe(8);
    expect(curve.points.every((p) => p.seeds === 2)).toBe(true);
  });

  it('is deterministic and reuses the cache on a second run, and leaves out an image replaced since extraction', async () => {
    // Replace one image's bytes without re-extracting: its record now names other content.
    const replaced = keys[1] as string;
    await store.put(replaced, (await store.get(keys[2] as string)) as Uint8Array);
    const again = await assessDataset({ store, index }, DATASET, { backbones: [fp32, 'mobilenetv2-12-int8'], location: { modelsDir: modelsDir() } });
    expect(again.backbones.every((b) => b.embeddedNow === 0)).toBe(true);
    expect(again.n).toBe(2 * PER_CLASS - 1);
    expect(again.excluded).toContainEqual({ key: replaced, reason: expect.stringContaining('changed since it was extracted') });
    await store.put(replaced, (await readFile(path.join(datasetsDir(), 'hymenoptera', 'train', 'ants', (await readdir(path.join(datasetsDir(), 'hymenoptera', 'train', 'ants'))).sort()[1]!))));
    const restored = await assessDataset({ store, index }, DATASET, { backbones: [fp32, 'mobilenetv2-12-int8'], location: { modelsDir: modelsDir() } });
    expect(restored.n).toBe(first.n);
    expect(restored.backbones.map((b) => [b.id, b.logme, b.probeBalancedAccuracy])).toEqual(first.backbones.map((b) => [b.id, b.logme, b.probeBalancedAccuracy]));
    expect(restored.baseline.balancedAccuracy).toBe(first.baseline.balancedAccuracy);
  });
});
