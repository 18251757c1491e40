/**
 * The console's routes through the shared router on a real folder store: labels and their images
 * with real thumbnails, upload, delete, move (whose object events, run through extraction, leave
 * the status right), upload grants, promote/rollback, misclassified, and bad input in each.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import { route, type ApiContext, type HttpRequest } from '../../../src/api/router.js';
import { ThumbnailCache } from '../../../src/api/thumbnailCache.js';
import { extractObjects } from '../../../src/pipeline/extract.js';
import { datasetStatus } from '../../../src/pipeline/status.js';
import type { ObjectEvent } from '../../../src/ports/ObjectEvent.js';
import type { JobRunner } from '../../../src/ports/JobRunner.js';
import { putJson } from '../../../src/ports/ObjectStore.js';
import { ModelRegistry } from '../../../src/registry/ModelRegistry.js';
import type { ModelManifest } from '../../../src/registry/ModelManifest.js';
import { MISCLASSIFIED_FILE } from '../../../src/registry/misclassified.js';
import { FakeEmbedder, tempStore } from '../../helpers/fakes.js';
import { imagesDir } from '../../helpers/shared.js';

const noJobs: JobRunner = {
  submit: async () => {
    throw new Error('no training in these tests');
  },
  get: async () => undefined,
};

function request(method: string, url: string, body: string | Uint8Array = '', contentType?: string): HttpRequest {
  const [p = '/', query] = url.split('?');
  return {
    method,
    path: p,
    ...(query === undefined ? {} : { query }),
    headers: contentType ? { 'content-type': contentType } : {},
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
  };
}

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('object, label and version routes', () => {
  let store: FsObjectStore;
  let cleanup: () => Promise<void>;
  let context: ApiContext;
  let events: ObjectEvent[];
  let index: SqliteDatasetIndex;
  let png: Uint8Array;
  const embedder = new FakeEmbedder();

  const call = async (method: string, url: string, body?: string | Uint8Array, contentType?: string): Promise<{ status: number; body: Body }> => {
    const res = await route(request(method, url, body, contentType), context);
    return { status: res.status, body: JSON.parse(String(res.body)) as Body };
  };
  /** Runs extraction over the events the store emitted so far, as the queue would. */
  const extract = async (): Promise<void> => {
    const batch = events.splice(0);
    if (batch.length > 0) await extractObjects(batch, { store, index, embedder });
  };

  beforeEach(async () => {
    ({ store, cleanup } = await tempStore());
    index = new SqliteDatasetIndex(openHomeDatabase(':memory:'));
    events = [];
    store.onEvent((event) => {
      events.push(event);
      return Promise.resolve();
    });
    context = { store, index, jobs: noJobs, predictor: async () => Promise.reject(new Error('no predictions here')), thumbnails: new ThumbnailCache(10) };
    png = new Uint8Array(await readFile(path.join(imagesDir(), 'coffee.png')));
  });
  afterEach(async () => cleanup());

  it('PUT stores the bytes under datasets/<name>/<label>/<file>, which emits the event extraction runs on', async () => {
    const put = await call('PUT', '/datasets/bugs/labels/ants/objects/a%201.png', png, 'image/png');
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ key: 'datasets/bugs/ants/a 1.png', size: png.byteLength });
    expect(events.map((e) => [e.kind, e.key])).toEqual([['created', 'datasets/bugs/ants/a 1.png']]);
    await call('PUT', '/datasets/bugs/labels/ants/objects/notes.txt', 'BAD not an image', 'text/plain');
    await extract();
    const status = await datasetStatus({ store, index }, 'bugs');
    expect(status.labels).toEqual({ ants: 1 });
    expect(status.failures).toEqual([expect.objectContaining({ key: 'datasets/bugs/ants/notes.txt', code: 'not_an_image' })]);
  });

  it('lists labels with counts, and a label page with thumbnails, a total and a cursor', async () => {
    for (const name of ['a.png', 'b.png', 'c.png']) await store.put(`datasets/bugs/ants/${name}`, png);
    await store.put('datasets/bugs/bees/x.txt', 'BAD');
    await extract(); // the dataset exists once its uploads are extracted (the index knows it)
    const labels = await call('GET', '/datasets/bugs/labels');
    expect(labels.body).toEqual({ dataset: 'bugs', labels: [{ label: 'ants', objects: 3 }, { label: 'bees', objects: 1 }] });

    const first = await call('GET', '/datasets/bugs/labels/ants/objects?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(3);
    expect(first.body.objects.map((o: Body) => o.file)).toEqual(['a.png', 'b.png']);
    expect(first.body.objects[0].thumbnail).toMatch(/^data:image\/jpeg;base64,\/9j\//); // a real JPEG
    expect(first.body.next).toBe('b.png');
    const second = await call('GET', `/datasets/bugs/labels/ants/objects?limit=2&after=${first.body.next}`);
    expect(second.body.objects.map((o: Body) => o.file)).toEqual(['c.png']);
    expect(second.body.next).toBeNull();
    // A non-image is listed without a thumbnail (extraction says why it was refused).
    const bees = await call('GET', '/datasets/bugs/labels/bees/objects');
    expect(bees.body.objects).toEqual([expect.objectContaining({ file: 'x.txt', thumbnail: null })]);
    // An existing dataset's unknown label is an empty page, not an error.
    expect((await call('GET', '/datasets/bugs/labels/wasps/objects')).body).toMatchObject({ total: 0, objects: [], next: null });
  });

  it('moves an image to another label (copy, then delete) and extraction of both events keeps the counts right', async () => {
    await store.put('datasets/bugs/ants/a.png', png);
    await store.put('datasets/bugs/ants/b.png', 'bbbb');
    await store.put('datasets/bugs/bees/c.png', 'cccc');
    await extract();
    const moved = await call('POST', '/datasets/bugs/labels/ants/objects/b.png/move', JSON.stringify({ label: 'bees' }), 'application/json');
    expect(moved).toEqual({ status: 200, body: { from: 'datasets/bugs/ants/b.png', to: 'datasets/bugs/bees/b.png' } });
    expect(events.map((e) => [e.kind, e.key])).toEqual([
      ['created', 'datasets/bugs/bees/b.png'],
      ['removed', 'datasets/bugs/ants/b.png'],
    ]);
    await extract();
    expect(await datasetStatus({ store, index }, 'bugs')).toMatchObject({ labels: { ants: 1, bees: 2 }, pending: 0, failures: [] });
  });

  it('deletes an image and a whole label', async () => {
    await store.put('datasets/bugs/ants/a.png', 'aaaa');
    await store.put('datasets/bugs/bees/b.png', 'bbbb');
    await store.put('datasets/bugs/bees/c.png', 'cccc');
    await extract();
    expect(await call('DELETE', '/datasets/bugs/labels/ants/objects/a.png')).toEqual({ status: 200, body: { deleted: 'datasets/bugs/ants/a.png' } });
    expect(await call('DELETE', '/datasets/bugs/labels/bees')).toEqual({ status: 200, body: { dataset: 'bugs', label: 'bees', deleted: 2 } });
    await extract();
    expect(await store.head('datasets/bugs/bees/b.png')).toBeUndefined();
    expect((await call('GET', '/datasets/bugs')).status).toBe(404); // nothing left: the dataset is gone
  });

  it('grants uploads: local PUT URLs, with a per-file error for a badly named file', async () => {
    const res = await call(
      'POST',
      '/datasets/bugs/uploads',
      JSON.stringify({ files: [{ label: 'ants', file: 'a b.jpg', contentType: 'image/jpeg' }, { label: 'ants', file: '.DS_Store' }] }),
      'application/json',
    );
    expect(res.status).toBe(200);
    expect(res.body.uploads[0]).toEqual({
      label: 'ants',
      file: 'a b.jpg',
      key: 'datasets/bugs/ants/a b.jpg',
      method: 'PUT',
      url: '/datasets/bugs/labels/ants/objects/a%20b.jpg',
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(res.body.uploads[1]).toMatchObject({ file: '.DS_Store', code: 'invalid_name', error: expect.stringContaining('hidden file') });
  });

  it('promotes a version and rolls back, and lists the current version\'s mistakes with thumbnails', async () => {
    await store.put('datasets/bugs/ants/a.png', png);
    const registry = new ModelRegistry(store);
    const manifest = { labels: ['ants', 'bees'], metrics: { accuracy: 0.5 }, backbone: { id: 'fake' }, files: { head: 'head.onnx' } } as unknown as ModelManifest;
    const one = await registry.publish('bugs', manifest, { 'head.onnx': 'h', [MISCLASSIFIED_FILE]: JSON.stringify({ total: 2, items: [
      { key: 'datasets/bugs/ants/a.png', trueLabel: 'ants', predictedLabel: 'bees', probability: 0.8 },
      { key: 'datasets/bugs/ants/gone.png', trueLabel: 'ants', predictedLabel: 'bees', probability: 0.6 },
    ] }) }, { version: 'v1' });
    await registry.publish('bugs', manifest, { 'head.onnx': 'h' }, { version: 'v2' });
    expect((await call('POST', '/datasets/bugs/rollback')).body).toEqual({ dataset: 'bugs', current: one.version, history: [] });
    const wrong = await call('GET', '/datasets/bugs/misclassified');
    expect(wrong.body).toMatchObject({ version: 'v1', total: 2 });
    expect(wrong.body.items[0]).toMatchObject({ key: 'datasets/bugs/ants/a.png', exists: true, thumbnail: expect.stringMatching(/^data:image\/jpeg/) });
    expect(wrong.body.items[1]).toMatchObject({ exists: false, thumbnail: null });
    expect((await call('POST', '/datasets/bugs/promote', JSON.stringify({ version: 'v2' }), 'application/json')).body).toEqual({ dataset: 'bugs', current: 'v2', history: ['v1'] });
    // v2 was published without the list (as versions trained before it existed were).
    expect(await call('GET', '/datasets/bugs/misclassified')).toMatchObject({ status: 404, body: { code: 'misclassified_not_found' } });
    await putJson(store, 'models/bugs/current.json', { version: 'v2', history: [], updatedAt: '' });
    expect(await call('POST', '/datasets/bugs/rollback')).toMatchObject({ status: 409, body: { code: 'no_previous_version' } });
  });

  describe('bad input gets a 4xx naming the problem', () => {
    beforeEach(async () => {
      await store.put('datasets/bugs/ants/a.png', 'aaaa');
      await store.put('datasets/bugs/bees/b.png', 'bbbb');
      await extract(); // "bugs" is a known dataset (in the index); "nope" is not
    });
    const json = 'application/json';
    it.each([
      ['PUT', '/datasets/bugs/labels/ants/objects/a.png', '', undefined, 400, 'empty_body', /empty/],
      ['PUT', '/datasets/bugs/labels/ants/objects/..', 'x', undefined, 400, 'invalid_name', /path segment/],
      ['PUT', '/datasets/_x/labels/ants/objects/a.png', 'x', undefined, 400, 'invalid_name', /reserved/],
      ['PUT', '/datasets/bugs/labels/ants/objects/.hidden', 'x', undefined, 400, 'invalid_name', /hidden file/],
      ['GET', '/datasets/nope/labels', '', undefined, 404, 'dataset_not_found', /nope/],
      ['GET', '/datasets/nope/labels/ants/objects', '', undefined, 404, 'dataset_not_found', /nope/],
      ['GET', '/datasets/bugs/labels/ants/objects?limit=0', '', undefined, 400, 'invalid_limit', /limit/],
      ['GET', '/datasets/bugs/labels/ants/objects?limit=abc', '', undefined, 400, 'invalid_limit', /limit/],
      ['GET', '/datasets/bugs/labels/ants/objects?after=..', '', undefined, 400, 'invalid_name', /after|file name/],
      ['DELETE', '/datasets/bugs/labels/ants/objects/missing.png', '', undefined, 404, 'object_not_found', /missing\.png/],
      ['DELETE', '/datasets/bugs/labels/wasps', '', undefined, 404, 'label_not_found', /wasps/],
      ['POST', '/datasets/bugs/labels/ants/objects/a.png/move', '{"label":"ants"}', json, 400, 'same_label', /already/],
      ['POST', '/datasets/bugs/labels/ants/objects/a.png/move', '{}', json, 400, 'missing_label', /label/],
      ['POST', '/datasets/bugs/labels/ants/objects/a.png/move', '{"label":"bees"', json, 400, 'invalid_json', /JSON/],
      ['POST', '/datasets/bugs/labels/ants/objects/a.png/move', '{"label":"bees"}', 'text/plain', 415, 'unsupported_media_type', /application\/json/],
      ['POST', '/datasets/bugs/labels/ants/objects/a.png/move', '{"label":"a/b"}', json, 400, 'invalid_name', /separator/],
      ['POST', '/datasets/bugs/labels/ants/objects/zz.png/move', '{"label":"bees"}', json, 404, 'object_not_found', /zz\.png/],
      ['POST', '/datasets/bugs/uploads', '{"files":[]}', json, 400, 'missing_files', /files/],
      ['POST', '/datasets/bugs/uploads', JSON.stringify({ files: Array.from({ length: 101 }, (_, i) => ({ label: 'a', file: `${i}` })) }), json, 400, 'too_many_files', /101/],
      ['POST', '/datasets/bugs/uploads', '[1]', json, 400, 'invalid_json', /object/],
      ['POST', '/datasets/bugs/promote', '{}', json, 400, 'missing_version', /version/],
      ['POST', '/datasets/bugs/promote', '{"version":"v9"}', json, 404, 'model_not_found', /v9/],
      ['POST', '/datasets/nope/rollback', '', undefined, 404, 'dataset_not_found', /nope/],
      ['POST', '/datasets/bugs/rollback', '', undefined, 404, 'model_not_found', /no model/],
      ['GET', '/datasets/bugs/misclassified', '', undefined, 404, 'model_not_found', /no trained model/],
      ['PATCH', '/datasets/bugs/labels/ants/objects/a.png', '', undefined, 405, 'method_not_allowed', /PUT, DELETE/],
    ])('%s %s %s -> %i %s', async (method, url, body, contentType, status, code, message) => {
      const res = await call(method, url, body, contentType);
      expect(res.status).toBe(status);
      expect(res.body.code).toBe(code);
      expect(res.body.error).toMatch(message);
    });

    it('refuses a move onto an existing file with 409 and leaves both images', async () => {
      await store.put('datasets/bugs/bees/a.png', 'other');
      const res = await call('POST', '/datasets/bugs/labels/ants/objects/a.png/move', '{"label":"bees"}', json);
      expect(res).toMatchObject({ status: 409, body: { code: 'target_exists', key: 'datasets/bugs/bees/a.png' } });
      expect(new TextDecoder().decode(await store.get('datasets/bugs/ants/a.png'))).toBe('aaaa');
    });

    it('gives a per-file error for a grant with a bad content type', async () => {
      const res = await call('POST', '/datasets/bugs/uploads', JSON.stringify({ files: [{ label: 'ants', file: 'a.jpg', contentType: 'not a type' }] }), json);
      expect(res.body.uploads[0]).toMatchObject({ code: 'invalid_content_type', error: expect.stringContaining('not a media type') });
    });
  });
});
