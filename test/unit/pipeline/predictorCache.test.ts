/** The image and text predictors keep a bounded number of versions loaded (least recently used evicted). */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import { DEFAULT_BACKBONE, findCatalogueEntry } from '../../../src/backbone/catalogue.js';
import { extractObjects } from '../../../src/pipeline/extract.js';
import { Predictor } from '../../../src/pipeline/predict.js';
import { TextPredictor } from '../../../src/pipeline/predictText.js';
import { trainTextDataset } from '../../../src/pipeline/trainText.js';
import { validatedTextEmbedder } from '../../../src/text/textEmbedders.js';
import { trainDataset, type TrainingBackbone } from '../../../src/pipeline/train.js';
import { FakeEmbedder, tempStore } from '../../helpers/fakes.js';

let cleanup: () => Promise<void>;
afterEach(async () => cleanup());
let context: Awaited<ReturnType<typeof tempStore>>;
beforeEach(async () => {
  context = await tempStore();
  cleanup = context.cleanup;
});

it('holds at most maxModels versions, evicting the least recently used, and loads an evicted one again', async () => {
  const { store } = context;
  const index = new SqliteDatasetIndex(openHomeDatabase(':memory:'));
  const embedder = new FakeEmbedder();
  const keys: string[] = [];
  for (const label of ['ants', 'bees']) {
    for (let i = 0; i < 4; i++) {
      const key = `datasets/ds/${label}/${i}.jpg`;
      await store.put(key, `${label === 'ants' ? 'a' : 'zz'}${'x'.repeat(i * 7 + 1)}${i}`);
      keys.push(key);
    }
  }
  await extractObjects(keys.map((key, i) => ({ id: String(i), kind: 'created' as const, key })), { store, index, embedder });
  const spec = findCatalogueEntry(DEFAULT_BACKBONE);
  if (spec === undefined) throw new Error('no default backbone in the catalogue');
  const backbone: TrainingBackbone = { id: embedder.id, spec, embeddingOutput: 'embedding', modelBytes: async () => new Uint8Array(), embedImages: (images) => embedder.embedImages(images) };
  const versions: string[] = [];
  for (let i = 0; i < 3; i++) versions.push((await trainDataset({ store, index, backbone }, 'ds', { standalone: false, report: false, assess: false, folds: 2 })).version);

  const predictor = new Predictor(store, embedder, { maxModels: 2 });
  const [v1, v2, v3] = versions as [string, string, string];
  const first = await predictor.model('ds', v1);
  await predictor.model('ds', v2);
  await predictor.model('ds', v1); // v1 used again: v2 is now the least recently used
  await predictor.model('ds', v3);
  expect(predictor.loadedVersions).toBe(2);
  // v1 stayed loaded (the same instance); v2 was evicted and loads again.
  expect(await predictor.model('ds', v1)).toBe(first);
  expect((await predictor.model('ds', v2)).manifest.version).toBe(v2);
  expect(predictor.loadedVersions).toBe(2);
});

it('the text predictor too: at most maxModels TF-IDF versions, the least recently used evicted and loaded again', async () => {
  const { store } = context;
  const index = new SqliteDatasetIndex(openHomeDatabase(':memory:'));
  const texts: Record<string, string[]> = {
    card: ['my card has not arrived', 'where is my new card', 'card still not delivered', 'when will the card come'],
    rate: ['what is the exchange rate', 'which rate do you use for euros', 'exchange rate for dollars', 'how is the rate set'],
  };
  const keys: string[] = [];
  for (const [label, list] of Object.entries(texts)) {
    for (const [i, text] of list.entries()) {
      const key = `datasets/inquiries/${label}/${i}.txt`;
      await store.put(key, text);
      keys.push(key);
    }
  }
  await extractObjects(keys.map((key, i) => ({ id: String(i), kind: 'created' as const, key })), { store, index, embedder: validatedTextEmbedder });
  const versions: string[] = [];
  for (let i = 0; i < 3; i++) versions.push((await trainTextDataset({ store, index }, 'inquiries', { folds: 2, seed: i })).version);

  const predictor = new TextPredictor(store, { maxModels: 2 });
  const [v1, v2, v3] = versions as [string, string, string];
  for (const v of [v1, v2, v1, v3]) expect((await predictor.predict('inquiries', ['my card is late'], v))[0]).toMatchObject({ model: v, label: 'card' });
  expect(predictor.loadedVersions).toBe(2);
  expect((await predictor.predict('inquiries', ['the rate for euros'], v2))[0]).toMatchObject({ model: v2, label: 'rate' });
  expect(predictor.loadedVersions).toBe(2);
  await predictor.release();
  expect(predictor.loadedVersions).toBe(0);
});
