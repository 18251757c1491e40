import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DescribeJobsCommand, SubmitJobCommand, type JobDetail } from '@aws-sdk/client-batch';
import { FakeBatch } from '../../helpers/fakes.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchJobRunner, batchJobName } from '../../../src/adapters/aws/BatchJobRunner.js';
import { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { InvalidNameError } from '../../../src/errors.js';
import { putJson } from '../../../src/ports/ObjectStore.js';

const JOB = 'c4f1a0de-6b0e-4a57-9a5e-1f2d3c4b5a69';
const CREATED = Date.parse('2025-03-14T10:00:00.000Z');

function detail(status: JobDetail['status'], extra: Partial<JobDetail> = {}): JobDetail {
  return {
    jobId: JOB,
    jobName: 'train-ants',
    jobQueue: 'arn:aws:batch:eu-west-1:123456789012:job-queue/headstart-train',
    jobDefinition: 'arn:aws:batch:eu-west-1:123456789012:job-definition/headstart-trainer:3',
    status,
    createdAt: CREATED,
    startedAt: undefined,
    container: { environment: [{ name: 'BUCKET', value: 'b' }, { name: 'DATASET', value: 'my ants' }] },
    ...extra,
  };
}

describe('BatchJobRunner', () => {
  let dir: string;
  let store: FsObjectStore;
  let batch: FakeBatch;
  let runner: BatchJobRunner;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'headstart-batch-'));
    store = new FsObjectStore(dir);
    batch = new FakeBatch();
    runner = new BatchJobRunner({
      client: batch.asClient(),
      jobQueue: 'headstart-train',
      jobDefinition: 'arn:aws:batch:eu-west-1:123456789012:job-definition/headstart-trainer:3',
      store,
      now: () => new Date('2025-03-14T10:00:00.000Z'),
    });
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('submits one job with the dataset in its environment, and writes nothing', async () => {
    const job = await runner.submit('my ants');
    expect(job).toEqual({
      id: JOB,
      dataset: 'my ants',
      status: 'queued',
      submittedAt: '2025-03-14T10:00:00.000Z',
      updatedAt: '2025-03-14T10:00:00.000Z',
    });
    expect(batch.sent).toHaveLength(1);
    const command = batch.sent[0] as SubmitJobCommand;
    expect(command).toBeInstanceOf(SubmitJobCommand);
    expect(command.input).toEqual({
      jobName: 'train-my_ants',
      jobQueue: 'headstart-train',
      jobDefinition: 'arn:aws:batch:eu-west-1:123456789012:job-definition/headstart-trainer:3',
      containerOverrides: { environment: [{ name: 'DATASET', value: 'my ants' }] },
    });
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('refuses a bad dataset name before calling Batch', async () => {
    await expect(runner.submit('../etc')).rejects.toBeInstanceOf(InvalidNameError);
    await expect(runner.submit('')).rejects.toBeInstanceOf(InvalidNameError);
    expect(batch.sent).toEqual([]);
  });

  it('makes job names Batch accepts from any dataset name', () => {
    expect(batchJobName('ants')).toBe('train-ants');
    expect(batchJobName('Fourmis été (2025)')).toBe('train-Fourmis__t___2025_');
    expect(batchJobName('日本語')).toBe('train-___');
    const long = batchJobName('x'.repeat(300));
    expect(long).toHaveLength(128);
    expect(long).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
  });

  it.each([
    ['SUBMITTED', 'queued'],
    ['PENDING', 'queued'],
    ['RUNNABLE', 'queued'],
    ['STARTING', 'queued'],
    ['RUNNING', 'running'],
  ] as const)('maps Batch status %s to %s', async (batchStatus, status) => {
    batch.jobs.set(JOB, detail(batchStatus));
    const job = await runner.get(JOB);
    expect(job).toEqual({
      id: JOB,
      dataset: 'my ants',
      status,
      submittedAt: '2025-03-14T10:00:00.000Z',
      updatedAt: '2025-03-14T10:00:00.000Z',
    });
    const describe = batch.sent.at(-1) as DescribeJobsCommand;
    expect(describe).toBeInstanceOf(DescribeJobsCommand);
    expect(describe.input).toEqual({ jobs: [JOB] });
  });

  it('a succeeded job reports the version from the record the trainer wrote', async () => {
    batch.jobs.set(JOB, detail('SUCCEEDED', { startedAt: CREATED + 60_000, stoppedAt: CREATED + 180_000 }));
    expect(await runner.get(JOB)).toMatchObject({ status: 'succeeded', updatedAt: '2025-03-14T10:03:00.000Z' });
    expect((await runner.get(JOB))?.version).toBeUndefined();
    await putJson(store, `jobs/${JOB}.json`, {
      id: JOB,
      dataset: 'my ants',
      status: 'succeeded',
      version: 'v20250314-100250-ab12cd',
      submittedAt: '2025-03-14T10:00:00.000Z',
      updatedAt: '2025-03-14T10:02:50.000Z',
    });
    expect(await runner.get(JOB)).toEqual({
      id: JOB,
      dataset: 'my ants',
      status: 'succeeded',
      version: 'v20250314-100250-ab12cd',
      submittedAt: '2025-03-14T10:00:00.000Z',
      updatedAt: '2025-03-14T10:03:00.000Z',
    });
  });

  it('a failed job reports why: the trainer’s own error if it wrote one, else Batch’s statusReason', async () => {
    batch.jobs.set(JOB, detail('FAILED', { statusReason: 'Essential container in task exited', stoppedAt: CREATED + 5_000 }));
    expect(await runner.get(JOB)).toMatchObject({ status: 'failed', error: 'Essential container in task exited' });
    await putJson(store, `jobs/${JOB}.json`, {
      id: JOB,
      dataset: 'my ants',
      status: 'failed',
      error: 'dataset "my ants" has only one label',
      submittedAt: '',
      updatedAt: '',
    });
    const job = await runner.get(JOB);
    expect(job).toMatchObject({ status: 'failed', error: 'dataset "my ants" has only one label' });
    expect(job?.version).toBeUndefined();
  });

  it('answers from the record alone once Batch has forgotten the job, and undefined for unknown ids', async () => {
    expect(await runner.get(JOB)).toBeUndefined();
    const record = {
      id: JOB,
      dataset: 'my ants',
      status: 'succeeded' as const,
      version: 'v1',
      submittedAt: '2025-03-01T00:00:00.000Z',
      updatedAt: '2025-03-01T00:05:00.000Z',
    };
    await putJson(store, `jobs/${JOB}.json`, record);
    expect(await runner.get(JOB)).toEqual(record);
  });

  it('never sends a malformed id to Batch or into a store key', async () => {
    for (const id of ['../models/x', 'a/b', '', 'x'.repeat(65), 'job id']) expect(await runner.get(id)).toBeUndefined();
    expect(batch.sent).toEqual([]);
  });

  it('passes Batch errors through unchanged', async () => {
    const throttled = Object.assign(new Error('Too Many Requests'), { name: 'TooManyRequestsException' });
    batch.failWith = throttled;
    await expect(runner.submit('ants')).rejects.toBe(throttled);
    await expect(runner.get(JOB)).rejects.toBe(throttled);
  });
});
