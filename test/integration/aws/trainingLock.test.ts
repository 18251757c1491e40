/**
 * One training per dataset on AWS: the Batch job runner's lock in DynamoDB (moto_server), with a
 * stand-in for Batch (moto cannot run Batch jobs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchJobRunner } from '../../../src/adapters/aws/BatchJobRunner.js';
import { DynamoTrainingLock } from '../../../src/adapters/aws/DynamoTrainingLock.js';
import { S3ObjectStore } from '../../../src/adapters/aws/S3ObjectStore.js';
import { TrainingInProgressError } from '../../../src/errors.js';
import { FakeBatch } from '../../helpers/fakes.js';
import { createBucket, createIndexTable, motoDynamoClient, motoS3Client, startMoto, type MotoServer } from '../../helpers/moto.js';

describe('BatchJobRunner with its DynamoDB training lock', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => moto?.stop());

  it('runs one training per dataset: a second submit gets 409 naming the first job, until it ends', async () => {
    const dynamo = motoDynamoClient(moto.endpoint);
    const table = await createIndexTable(dynamo);
    const s3 = motoS3Client(moto.endpoint);
    const store = new S3ObjectStore(s3, await createBucket(s3));
    const batch = new FakeBatch();
    const runner = () => new BatchJobRunner({ client: batch.asClient(), jobQueue: 'q', jobDefinition: 'd', store, lock: new DynamoTrainingLock(dynamo, table) });

    batch.nextId = 'job-1';
    const results = await Promise.allSettled([runner().submit('bugs'), runner().submit('bugs')]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(TrainingInProgressError);
    expect((lost[0] as TrainingInProgressError).status).toBe(409);
    // Another dataset is not held up.
    batch.nextId = 'job-other';
    await expect(runner().submit('ants')).resolves.toMatchObject({ id: 'job-other' });

    // Still running per Batch: refused, naming job-1.
    batch.jobs.set('job-1', { jobId: 'job-1', jobName: 'train-bugs', jobQueue: 'q', jobDefinition: 'd', status: 'RUNNING', createdAt: Date.now(), startedAt: Date.now() });
    batch.nextId = 'job-2';
    await expect(runner().submit('bugs')).rejects.toThrow(/already being trained by job job-1/);
    // Batch killed it (the trainer never released the lock): the next submit takes the lock over.
    batch.jobs.set('job-1', { ...batch.jobs.get('job-1')!, status: 'FAILED', statusReason: 'Host EC2 terminated' });
    await expect(runner().submit('bugs')).resolves.toMatchObject({ id: 'job-2', status: 'queued' });
    expect(await runner().get('job-1')).toMatchObject({ status: 'failed', error: 'Host EC2 terminated' });
    // The trainer of job-2 ends and releases: a new submit runs at once.
    await new DynamoTrainingLock(dynamo, table).release('bugs', { jobId: 'job-2' });
    batch.nextId = 'job-3';
    await expect(runner().submit('bugs')).resolves.toMatchObject({ id: 'job-3' });
  });
});
