import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import { route, type ApiContext, type HttpRequest } from '../../../src/api/router.js';
import { extractObjects } from '../../../src/pipeline/extract.js';
import { Predictor } from '../../../src/pipeline/predict.js';
import type { JobRunner, JobState } from '../../../src/ports/JobRunner.js';
import { FakeEmbedder, tempStore } from '../../helpers/fakes.js';

class RecordingJobs implements JobRunner {
  submitted: string[] = [];
  async submit(dataset: string): Promise<JobState> {
    this.submitted.push(dataset);
    const now = new Date().toISOString();
    return { id: 'job-1', dataset, status: 'queued', submittedAt: now, updatedAt: now };
  }
  async get(id: string): Promise<JobState | undefined> {
    return id === 'job-1' ? { id, dataset: 'ds', status: 'running', submittedAt: '', updatedAt: '' } : undefined;
  }
}

function request(method: string, path: string, body: string | Uint8Array = '', contentType?: string): HttpRequest {
  return { method, path, headers: contentType ? { 'content-type': contentType } : {}, body: typeof body === 'string' ? new TextEncoder().encode(body) : body };
}

async function call(context: ApiContext, req: HttpRequest): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await route(req, context);
  return { status: res.status, body: JSON.parse(String(res.body)) as Record<string, unknown> };
}

describe('HTTP router', () => {
  let store: FsObjectStore;
  let cleanup: () => Promise<void>;
  let context: ApiContext;
  let jobs: RecordingJobs;
  let embedder: FakeEmbedder;
  let index: SqliteDatasetIndex;
  beforeEach(async () => {
    ({ store, cleanup } = await tempStore());
    embedder = new FakeEmbedder();
    index = new SqliteDatasetIndex(openHomeDatabase(':memory:'));
    jobs = new RecordingJobs();
    context = { store, index, jobs, predictor: async () => new Predictor(store, embedder), maxBodyBytes: 1000 };
    await store.put('datasets/ds/ants/a.jpg', 'aaa');
    await store.put('datasets/ds/bees/b.jpg', 'bbb');
    await extractObjects(
      [
        { id: '1', kind: 'created', key: 'datasets/ds/ants/a.jpg' },
        { id: '2', kind: 'created', key: 'datasets/ds/bees/b.jpg' },
      ],
      { store, index, embedder },
    );
  });
  afterEach(async () => cleanup());

  it('GET /datasets/{name} shows counts per label and no model yet', async () => {
    const { status, body } = await call(context, request('GET', '/datasets/ds'));
    expect(status).toBe(200);
    expect(body).toMatchObject({ dataset: 'ds', labels: { ants: 1, bees: 1 }, pending: 0, failures: [], model: null });
  });

  it('decodes percent-encoded dataset names', async () => {
    await store.put('datasets/my set/x/a.jpg', 'z');
    await extractObjects([{ id: '3', kind: 'created', key: 'datasets/my set/x/a.jpg' }], { store, index, embedder });
    const { status } = await call(context, request('GET', '/datasets/my%20set'));
    expect(status).toBe(200);
  });

  it.each([
    ['unknown dataset', request('GET', '/datasets/nope'), 404, 'dataset_not_found'],
    ['unknown route', request('GET', '/nothing/here'), 404, 'route_not_found'],
    ['wrong method', request('DELETE', '/datasets/ds'), 405, 'method_not_allowed'],
    ['bad percent-encoding', request('GET', '/datasets/%E0%A4%A'), 400, 'bad_request'],
    ['path trick as a name', request('GET', '/datasets/..'), 400, 'invalid_name'],
    ['no model yet', request('POST', '/datasets/ds/predict', 'xyz', 'image/png'), 404, 'model_not_found'],
    ['empty body', request('POST', '/datasets/ds/predict', '', 'image/png'), 400, 'empty_body'],
    ['wrong content type', request('POST', '/datasets/ds/predict', 'abc', 'application/xml'), 415, 'unsupported_media_type'],
    ['no content type', request('POST', '/datasets/ds/predict', 'abc'), 415, 'unsupported_media_type'],
    ['bad JSON', request('POST', '/datasets/ds/predict', '{"image":', 'application/json'), 400, 'invalid_json'],
    ['JSON without image', request('POST', '/datasets/ds/predict', '{"picture":"aGk="}', 'application/json'), 400, 'missing_image'],
    ['bad base64', request('POST', '/datasets/ds/predict', '{"image":"not base64!"}', 'application/json'), 400, 'invalid_base64'],
    ['over the size limit', request('POST', '/datasets/ds/predict', new Uint8Array(2000), 'image/jpeg'), 413, 'payload_too_large'],
    ['unknown job', request('GET', '/jobs/job-2'), 404, 'job_not_found'],
    ['train an unknown dataset', request('POST', '/datasets/nope/train'), 404, 'dataset_not_found'],
  ])('answers %s with a JSON 4xx naming the problem', async (_name, req, status, code) => {
    const res = await call(context, req);
    expect(res.status).toBe(status);
    expect(res.body['code']).toBe(code);
    expect(typeof res.body['error']).toBe('string');
  });

  it('POST /datasets/{name}/train submits a job and answers 202', async () => {
    const { status, body } = await call(context, request('POST', '/datasets/ds/train'));
    expect(status).toBe(202);
    expect(body).toMatchObject({ jobId: 'job-1', status: 'queued', dataset: 'ds' });
    expect(jobs.submitted).toEqual(['ds']);
    expect((await call(context, request('GET', '/jobs/job-1'))).body['status']).toBe('running');
  });

  it('turns unexpected errors into a 500 without leaking internals', async () => {
    const broken: ApiContext = { ...context, predictor: async () => Promise.reject(new Error('disk on fire at /secret/path')) };
    const seen: unknown[] = [];
    const res = await call({ ...broken, onError: (e) => seen.push(e) }, request('POST', '/datasets/ds/predict', 'xyz', 'image/png'));
    expect(res.status).toBe(500);
    expect(res.body['error']).toBe('internal error');
    expect(seen).toHaveLength(1);
  });
});
