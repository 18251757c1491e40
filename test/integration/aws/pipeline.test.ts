/**
 * The AWS path end to end on a real S3/SQS wire protocol (moto_server), with the real backbone:
 * PutObject -> S3 notification -> SQS -> extract Lambda handler -> embeddings in the bucket; the
 * Batch train entry run here against the same bucket -> a published version; the infer Lambda
 * handler through its API Gateway adapter -> a correct prediction. Also: a duplicate notification,
 * a poison message reaching the DLQ while the rest of its batch succeeds, and a delete.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../src/adapters/aws/S3ObjectStore.js';
import type { DynamoDatasetIndex } from '../../../src/adapters/aws/DynamoDatasetIndex.js';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { makeInferHandler } from '../../../src/edges/lambda/apiGateway.js';
import { makeExtractHandler } from '../../../src/edges/lambda/extractHandler.js';
import { runTrainJob } from '../../../src/edges/batch/trainJob.js';
import type { Embedder } from '../../../src/pipeline/extract.js';
import { Predictor } from '../../../src/pipeline/predict.js';
import { datasetStatus } from '../../../src/pipeline/status.js';
import type { JobRunner } from '../../../src/ports/JobRunner.js';
import { listAll } from '../../../src/ports/ObjectStore.js';
import { createExtractionResources, motoIndex, motoS3Client, motoSqsClient, startMoto, type ExtractionResources, type MotoServer } from '../../helpers/moto.js';
import { datasetsDir } from '../../helpers/shared.js';

const PER_LABEL = 8;
const DATASET = 'hymenoptera aws';

let moto: MotoServer;
let s3: S3Client;
let sqs: SQSClient;
let resources: ExtractionResources;
let store: S3ObjectStore;
let index: DynamoDatasetIndex;
/** The bucket and the DynamoDB index, as the Lambdas see them. */
let plane: { store: S3ObjectStore; index: DynamoDatasetIndex };
let backbone: Backbone;
/** Counts images that actually went through the backbone. */
let embeddedImages = 0;
let extract: ReturnType<typeof makeExtractHandler>;
const poisonBatches: { failed: string[]; size: number }[] = [];

const context = { functionName: 'extract', awsRequestId: 'test' } as unknown as Context;
const logger = new Logger({ serviceName: 'test', logLevel: 'ERROR' });

async function images(split: string, label: string, count: number): Promise<{ file: string; bytes: Buffer }[]> {
  const dir = path.join(datasetsDir(), 'hymenoptera', split, label);
  const files = (await readdir(dir)).sort().slice(0, count);
  return Promise.all(files.map(async (file) => ({ file, bytes: await readFile(path.join(dir, file)) })));
}

/**
 * Plays the Lambda event source mapping: receive a batch, invoke the handler, delete what
 * succeeded, and make the failed messages visible again at once (the queue's redrive policy moves
 * a message to the DLQ after maxReceiveCount receives, as SQS does).
 */
async function pollUntilEmpty(): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }),
    );
    if (Messages.length === 0) return;
    const event: SQSEvent = {
      Records: Messages.map((m) => ({ messageId: m.MessageId ?? '', receiptHandle: m.ReceiptHandle ?? '', body: m.Body ?? '', attributes: m.Attributes ?? {}, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: resources.queueArn, awsRegion: 'us-east-1' }) as unknown as SQSRecord),
    };
    const response = await extract(event, context);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    if (failed.size > 0) poisonBatches.push({ failed: [...failed], size: Messages.length });
    const done = Messages.filter((m) => !failed.has(m.MessageId ?? ''));
    const retry = Messages.filter((m) => failed.has(m.MessageId ?? ''));
    if (done.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: resources.queueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    if (retry.length > 0) {
      await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: resources.queueUrl, Entries: retry.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })) }));
    }
  }
  throw new Error('queue did not drain');
}

async function put(key: string, body: Uint8Array | string, contentType = 'image/jpeg'): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: body, ContentType: contentType }));
}

function apiEvent(method: string, rawPath: string, body?: Buffer, contentType?: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: contentType ? { 'Content-Type': contentType } : {},
    requestContext: { http: { method, path: rawPath } },
    ...(body ? { body: body.toString('base64'), isBase64Encoded: true } : { isBase64Encoded: false }),
  } as unknown as APIGatewayProxyEventV2;
}

beforeAll(async () => {
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = motoSqsClient(moto.endpoint);
  resources = await createExtractionResources(s3, sqs, { maxReceiveCount: 5, visibilityTimeoutSeconds: 30 });
  store = new S3ObjectStore(s3, resources.bucket);
  index = await motoIndex(moto.endpoint);
  plane = { store, index };
  backbone = await Backbone.load();
  const counting: Embedder = {
    id: backbone.id,
    embedImages: async (batch) => {
      embeddedImages += batch.length;
      return backbone.embedImages(batch);
    },
  };
  extract = makeExtractHandler({ store, index, embedder: async () => counting, logger });
  // The s3:TestEvent S3 sends when the notification is configured must be skipped, not fail.
  await pollUntilEmpty();
});

afterAll(async () => {
  await backbone?.release();
  s3?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

describe('AWS pipeline on moto_server', () => {
  it('extracts uploaded images into the bucket; a poison message goes to the DLQ, its batch-mates succeed', async () => {
    for (const label of ['ants', 'bees']) {
      for (const { file, bytes } of await images('train', label, PER_LABEL)) await put(`datasets/${DATASET}/${label}/${file}`, bytes);
    }
    await put(`datasets/${DATASET}/ants/notes.jpg`, 'this is not a JPEG', 'text/plain');
    await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: '{"not": "an S3 notification"}' }));
    await pollUntilEmpty();

    const status = await datasetStatus(plane, DATASET);
    expect(status.labels).toEqual({ ants: PER_LABEL, bees: PER_LABEL });
    expect(status.pending).toBe(0);
    expect(status.failures).toEqual([expect.objectContaining({ key: `datasets/${DATASET}/ants/notes.jpg`, code: 'not_an_image' })]);
    expect(await listAll(store, `embeddings/${backbone.id}/`)).toHaveLength(2 * PER_LABEL);
    expect(embeddedImages).toBe(2 * PER_LABEL + 1); // the text file was tried once and recorded, never retried

    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.dlqUrl, MaxNumberOfMessages: 10 }));
    expect(Messages.map((m) => m.Body)).toEqual(['{"not": "an S3 notification"}']);
    // The poison message reached the DLQ by failing: it was reported failed at least once, each
    // time alone (whatever batch-mates it had were not failed with it), and always the same message.
    expect(poisonBatches.length).toBeGreaterThan(0);
    expect(poisonBatches.map((b) => b.failed.length)).toEqual(poisonBatches.map(() => 1));
    expect(new Set(poisonBatches.flatMap((b) => b.failed)).size).toBe(1);
  });

  it('a duplicate notification changes nothing and embeds nothing', async () => {
    const before = await datasetStatus(plane, DATASET);
    const embedded = embeddedImages;
    const [first] = await images('train', 'ants', 1);
    await put(`datasets/${DATASET}/ants/${first?.file}`, first?.bytes ?? ''); // same bytes again: a new notification
    await pollUntilEmpty();
    expect(embeddedImages).toBe(embedded);
    expect(await datasetStatus(plane, DATASET)).toEqual(before);
  });

  it('a delete removes the image from the dataset', async () => {
    await put(`datasets/${DATASET}/bees/extra.jpg`, (await images('val', 'bees', 1))[0]?.bytes ?? '');
    await pollUntilEmpty();
    expect((await datasetStatus(plane, DATASET)).labels['bees']).toBe(PER_LABEL + 1);
    await s3.send(new DeleteObjectCommand({ Bucket: resources.bucket, Key: `datasets/${DATASET}/bees/extra.jpg` }));
    await pollUntilEmpty();
    expect((await datasetStatus(plane, DATASET)).labels['bees']).toBe(PER_LABEL);
  });

  it('trains with the Batch entry point, publishes a version, and the infer handler predicts correctly', async () => {
    const job = await runTrainJob({ store, index, backbone, dataset: DATASET, jobId: 'job-moto-1', device: 'cpu' });
    expect(job).toMatchObject({ status: 'succeeded', version: expect.stringMatching(/^v/) });

    const noJobs: JobRunner = { submit: async () => Promise.reject(new Error('not used')), get: async () => undefined };
    const infer = makeInferHandler({ store, index, jobs: noJobs, predictor: async () => new Predictor(store, backbone) });
    const encoded = `/datasets/${encodeURIComponent(DATASET)}`;

    const datasetResponse = await infer(apiEvent('GET', encoded));
    expect(datasetResponse.statusCode).toBe(200);
    expect(JSON.parse(datasetResponse.body ?? '{}')).toMatchObject({ model: { version: job.version } });

    const [ant] = await images('val', 'ants', 1);
    const predicted = await infer(apiEvent('POST', `${encoded}/predict`, ant?.bytes, 'image/jpeg'));
    expect(predicted.statusCode).toBe(200);
    expect(JSON.parse(predicted.body ?? '{}')).toMatchObject({ label: 'ants', model: job.version });

    const asJson = await infer({ ...apiEvent('POST', `${encoded}/predict`), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: ant?.bytes.toString('base64') }), isBase64Encoded: false });
    expect(JSON.parse(asJson.body ?? '{}')).toMatchObject({ label: 'ants' });

    const bad = await infer(apiEvent('POST', `${encoded}/predict`, Buffer.from('not an image'), 'image/png'));
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body ?? '{}')).toMatchObject({ code: 'not_an_image' });
  });

  it('texts go through the same AWS path: extracted by the Lambda, trained by the Batch entry, answered by infer', async () => {
    const texts: Record<string, string[]> = {
      card: ['my card was declined at the shop', 'card payment declined again', 'why is my card not working', 'the card got blocked', 'card stopped working abroad', 'my card is broken'],
      transfer: ['how long does a bank transfer take', 'transfer to another account', 'send money to my friend by transfer', 'my transfer has not arrived', 'cancel a transfer I made', 'transfer limit per day'],
    };
    for (const [label, lines] of Object.entries(texts)) for (const [i, line] of lines.entries()) await put(`datasets/inquiries/${label}/${i}.txt`, line, 'text/plain');
    await put('datasets/inquiries/card/empty.txt', '   ', 'text/plain');
    await pollUntilEmpty();
    const status = await datasetStatus(plane, 'inquiries');
    expect(status).toMatchObject({ labels: { card: 6, transfer: 6 }, images: 12, refused: 1 });
    expect(status.failures[0]).toMatchObject({ key: 'datasets/inquiries/card/empty.txt' });

    const job = await runTrainJob({ store, index, backbone, dataset: 'inquiries', jobId: 'job-moto-text', device: 'cpu' });
    expect(job).toMatchObject({ status: 'succeeded', version: expect.stringMatching(/^v/) });
    const noJobs: JobRunner = { submit: async () => Promise.reject(new Error('not used')), get: async () => undefined };
    const infer = makeInferHandler({ store, index, jobs: noJobs, predictor: async () => new Predictor(store, backbone) });
    const answer = await infer({ ...apiEvent('POST', '/datasets/inquiries/predict'), headers: { 'content-type': 'text/plain' }, body: 'my transfer is late', isBase64Encoded: false });
    expect(answer.statusCode, answer.body).toBe(200);
    expect(JSON.parse(answer.body ?? '{}')).toMatchObject({ label: 'transfer', model: job.version });
  });
});
