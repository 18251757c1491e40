import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import { extractObjects } from '../../../src/pipeline/extract.js';
import { datasetStatus } from '../../../src/pipeline/status.js';
import { collectEntries, type DatasetIndex } from '../../../src/ports/DatasetIndex.js';
import type { ObjectEvent } from '../../../src/ports/ObjectEvent.js';
import { listAll } from '../../../src/ports/ObjectStore.js';
import { FakeEmbedder, tempStore } from '../../helpers/fakes.js';

let n = 0;
const created = (key: string): ObjectEvent => ({ id: `e${n++}`, kind: 'created', key });
const removed = (key: string): ObjectEvent => ({ id: `e${n++}`, kind: 'removed', key });

const memoryIndex = (): SqliteDatasetIndex => new SqliteDatasetIndex(openHomeDatabase(':memory:'));

/** Everything extraction wrote (index entries and counters, cached embeddings), minus timestamps: the state two deliveries must agree on. */
async function snapshot(store: FsObjectStore, index: DatasetIndex): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const { updatedAt: _ignored, ...entry } of [...(await collectEntries(index, undefined)), ...(await collectEntries(index, 'ds'))]) out[`entry ${entry.key}`] = entry;
  out.counts = await index.counts('ds');
  for (const o of await listAll(store, 'embeddings/')) out[o.key] = Buffer.from((await store.get(o.key)) ?? []).toString('hex');
  return out;
}

describe('extractObjects', () => {
  let store: FsObjectStore;
  let cleanup: () => Promise<void>;
  let embedder: FakeEmbedder;
  let index: SqliteDatasetIndex;
  beforeEach(async () => {
    ({ store, cleanup } = await tempStore());
    embedder = new FakeEmbedder();
    index = memoryIndex();
  });
  afterEach(async () => cleanup());

  it('embeds each new object once, in one backbone run, and records its label', async () => {
    await store.put('datasets/ds/ants/a.jpg', 'aaa');
    await store.put('datasets/ds/bees/b.jpg', 'bbb');
    const result = await extractObjects([created('datasets/ds/ants/a.jpg'), created('datasets/ds/bees/b.jpg')], { store, index, embedder });
    expect(result.failedIds).toEqual([]);
    expect(result.outcomes.map((o) => o.status).sort()).toEqual(['embedded', 'embedded']);
    expect(embedder.calls).toBe(1);
    const status = await datasetStatus({ store, index }, 'ds');
    expect(status.labels).toEqual({ ants: 1, bees: 1 });
    expect(status.pending).toBe(0);
  });

  it('never embeds the same bytes twice, across keys and deliveries', async () => {
    await store.put('datasets/ds/ants/a.jpg', 'same');
    await store.put('datasets/ds/ants/copy.jpg', 'same');
    await extractObjects([created('datasets/ds/ants/a.jpg'), created('datasets/ds/ants/copy.jpg')], { store, index, embedder });
    const again = await extractObjects([created('datasets/ds/ants/a.jpg')], { store, index, embedder });
    expect(embedder.embedded).toBe(1);
    expect(again.outcomes[0]?.status).toBe('cached');
  });

  it('converges on the same state whatever the order and number of deliveries', async () => {
    const keys = ['datasets/ds/ants/a.jpg', 'datasets/ds/bees/b.jpg', 'datasets/ds/bees/gone.jpg'];
    const clean = await tempStore();
    const cleanIndex = memoryIndex();
    try {
      for (const [i, key] of keys.entries()) {
        await store.put(key, `img${i}`);
        await clean.store.put(key, `img${i}`);
      }
      await store.delete(keys[2]!);
      await clean.store.delete(keys[2]!);
      await extractObjects([created(keys[0]!), created(keys[1]!)], { store: clean.store, index: cleanIndex, embedder: new FakeEmbedder() });
      // Duplicated and reversed, with the stale created event of the deleted key after its removal.
      const noisy = [removed(keys[2]!), created(keys[1]!), created(keys[2]!), created(keys[0]!), created(keys[1]!), created(keys[2]!)];
      await extractObjects(noisy, { store, index, embedder });
      await extractObjects(noisy.slice().reverse(), { store, index, embedder });
      expect(await snapshot(store, index)).toEqual(await snapshot(clean.store, cleanIndex));
    } finally {
      await clean.cleanup();
    }
  });

  it('follows an overwrite: the record describes the bytes that are there now', async () => {
    const key = 'datasets/ds/ants/a.jpg';
    await store.put(key, 'v1');
    const firstEvent = created(key);
    await store.put(key, 'v2 is longer');
    await extractObjects([firstEvent], { store, index, embedder });
    const [record] = await collectEntries(index, 'ds');
    expect(record?.size).toBe('v2 is longer'.length);
  });

  it('drops the record when the object is deleted, even if a created event arrives afterwards', async () => {
    const key = 'datasets/ds/ants/a.jpg';
    await store.put(key, 'x');
    await extractObjects([created(key)], { store, index, embedder });
    await store.delete(key);
    await extractObjects([removed(key), created(key)], { store, index, embedder });
    expect(await collectEntries(index, 'ds')).toEqual([]);
    expect(await index.counts('ds')).toBeUndefined();
  });

  it('records a rejected image with its reason and does not retry it', async () => {
    await store.put('datasets/ds/ants/notes.jpg', 'BAD text pretending to be a JPEG');
    await store.put('datasets/ds/ants/ok.jpg', 'fine');
    const result = await extractObjects([created('datasets/ds/ants/notes.jpg'), created('datasets/ds/ants/ok.jpg')], { store, index, embedder });
    expect(result.failedIds).toEqual([]);
    const status = await datasetStatus({ store, index }, 'ds');
    expect(status.labels).toEqual({ ants: 1 });
    expect(status.failures).toEqual([{ key: 'datasets/ds/ants/notes.jpg', code: 'not_an_image', error: expect.stringContaining('not an image') }]);
  });

  it('records keys of the wrong shape, and ignores keys outside datasets/', async () => {
    await store.put('datasets/ds/no-label.jpg', 'x');
    await store.put('datasets/_bad/a/b.jpg', 'y');
    const result = await extractObjects([created('datasets/ds/no-label.jpg'), created('datasets/_bad/a/b.jpg'), created('models/x.json')], { store, index, embedder });
    expect(result.outcomes.map((o) => o.status).sort()).toEqual(['ignored', 'rejected', 'rejected']);
    expect((await datasetStatus({ store, index }, 'ds')).failures[0]?.error).toContain('datasets/<dataset>/<label>/<file>');
    expect((await collectEntries(index, undefined)).map((r) => r.key)).toEqual(['datasets/_bad/a/b.jpg']);
  });

  it('rewrites a refusal whose reason changed, for the very same object', async () => {
    const key = 'datasets/ds/no-label.jpg';
    await store.put(key, 'x');
    const info = (await store.head(key))!;
    // What an earlier version recorded for these bytes, with another reason than today's.
    await index.put([{ key, dataset: 'ds', etag: info.etag, size: info.size, state: 'refused', error: { code: 'old_reason', message: 'an outdated reason' }, updatedAt: new Date(0).toISOString() }]);
    await extractObjects([created(key)], { store, index, embedder });
    const entry = await index.get('ds', key);
    expect(entry?.error?.code).not.toBe('old_reason');
    expect(entry?.error?.message).toContain('datasets/<dataset>/<label>/<file>');
  });

  it('hands back only the failing events when the embedder breaks', async () => {
    await store.put('datasets/ds/ants/a.jpg', 'a');
    const broken = { id: embedder.id, embedImages: async () => Promise.reject(new Error('session crashed')) };
    const event = created('datasets/ds/ants/a.jpg');
    const result = await extractObjects([event, created('models/ignored')], { store, index, embedder: broken });
    expect(result.failedIds).toEqual([event.id]);
  });
});
