/**
 * Faults on the AWS path, on a real S3/SQS wire protocol (moto_server) with the real extract
 * Lambda handler and Batch train entry: duplicated and reordered notifications with an overwrite
 * and a delete in between, an extract invocation that dies mid-batch (its messages come back after
 * the visibility timeout), and a training job that dies while it publishes. Outcomes are added to
 * test-results/reliability-faults-aws.md.
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDatasetIndex } from '../../src/adapters/aws/DynamoDatasetIndex.js';
import { S3ObjectStore } from '../../src/adapters/aws/S3ObjectStore.js';
import { Backbone } from '../../src/backbone/Backbone.js';
import { currentPointerKey, datasetObjectKey, embeddingKey } from '../../src/dataset/keys.js';
import { runTrainJob } from '../../src/edges/batch/trainJob.js';
import { makeExtractHandler } from '../../src/edges/lambda/extractHandler.js';
import { Predictor } from '../../src/pipeline/predict.js';
import { readJob } from '../../src/pipeline/jobs.js';
import { collectEntries } from '../../src/ports/DatasetIndex.js';
import type { ObjectStore } from '../../src/ports/ObjectStore.js';
import { listAll } from '../../src/ports/ObjectStore.js';
import { ModelRegistry } from '../../src/registry/ModelRegistry.js';
import { createExtractionResources, motoIndex, motoS3Client, motoSqsClient, startMoto, type ExtractionResources, type MotoServer } from '../helpers/moto.js';
import {
  drainQueue,
  hymenoptera,
  mortalIndex,
  mortalStore,
  OutcomeTable,
  pipelineState,
  receiveBatch,
  sha256,
  shuffled,
  sqsEvent,
  stateDifferences,
  type SharedImage,
} from '../helpers/reliability.js';

const table = new OutcomeTable(
  'Reliability: faults on the AWS path (moto_server)',
  'reliability-faults-aws.md',
  'Written by `npx vitest run test/reliability/faults.moto.test.ts`: S3 notifications -> SQS -> the extract Lambda handler, and the Batch train entry, on moto_server. "lost"/"duplicated" as in reliability-faults.md.',
);

let moto: MotoServer;
let s3: S3Client;
let sqs: SQSClient;
let backbone: Backbone;
const context = { functionName: 'extract', awsRequestId: 'faults' } as unknown as Context;
const logger = new Logger({ serviceName: 'faults', logLevel: 'CRITICAL' });

interface Bucket {
  resources: ExtractionResources;
  store: S3ObjectStore;
  /** The bucket's own dataset index (a fresh DynamoDB table on the same moto server). */
  index: DynamoDatasetIndex;
  drain: (handlerStore?: ObjectStore) => Promise<number>;
  put: (key: string, body: Uint8Array) => Promise<void>;
}

async function bucket(visibilityTimeoutSeconds = 2): Promise<Bucket> {
  const resources = await createExtractionResources(s3, sqs, { visibilityTimeoutSeconds, maxReceiveCount: 5 });
  const store = new S3ObjectStore(s3, resources.bucket);
  const index = await motoIndex(moto.endpoint);
  const drain = async (handlerStore: ObjectStore = store): Promise<number> => {
    const handler = makeExtractHandler({ store: handlerStore, index, embedder: async () => backbone, logger });
    return drainQueue(sqs, resources.queueUrl, resources.queueArn, (event) => handler(event, context), 90_000);
  };
  const put = async (key: string, body: Uint8Array): Promise<void> => {
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: body, ContentType: 'image/jpeg' }));
  };
  return { resources, store, index, drain, put };
}

beforeAll(async () => {
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = motoSqsClient(moto.endpoint);
  backbone = await Backbone.load();
});

afterAll(async () => {
  const file = await table.write();
  console.log(`AWS faults table: ${file}`);
  await backbone?.release();
  s3?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

describe('at-least-once S3 notifications', () => {
  const DATASET = 'twice';
  const keyOf = (i: number): string => datasetObjectKey(DATASET, i % 2 === 0 ? 'ants' : 'bees', `p${i}.jpg`);
  const doomedKey = datasetObjectKey(DATASET, 'ants', 'doomed.jpg');

  it('real notifications plus a shuffled duplicate of each, an overwrite and a delete in between: same state as a clean single delivery', async () => {
    const photos: SharedImage[] = [...(await hymenoptera('val', 'ants', 4, 62)), ...(await hymenoptera('val', 'bees', 4, 62))];
    const [replacement, doomed] = [...(await hymenoptera('val', 'bees', 1, 70)), ...(await hymenoptera('val', 'ants', 1, 66))] as [SharedImage, SharedImage];

    const clean = await bucket();
    for (const [i, photo] of photos.entries()) await clean.put(keyOf(i), i === 0 ? replacement.bytes : photo.bytes);
    await clean.drain();

    const faulty = await bucket();
    await drainQueue(sqs, faulty.resources.queueUrl, faulty.resources.queueArn, async () => ({ batchItemFailures: [] })); // the s3:TestEvent
    for (const [i, photo] of photos.entries()) await faulty.put(keyOf(i), photo.bytes);
    await faulty.put(doomedKey, doomed.bytes);
    await faulty.put(keyOf(0), replacement.bytes); // overwritten while its first notification waits
    await s3.send(new DeleteObjectCommand({ Bucket: faulty.resources.bucket, Key: doomedKey })); // deleted while its created notification waits
    // Read every real notification (they stay in the queue and come back after the visibility
    // timeout), then send each body once more, in shuffled order: every event twice, out of order.
    const bodies: string[] = [];
    for (let round = 0; round < 10 && bodies.length < 11; round++) bodies.push(...(await receiveBatch(sqs, faulty.resources.queueUrl)).map((m) => m.Body ?? ''));
    expect(bodies).toHaveLength(11);
    for (const body of shuffled(bodies, 3)) await sqs.send(new SendMessageCommand({ QueueUrl: faulty.resources.queueUrl, MessageBody: body }));
    const invocations = await faulty.drain();
    const dead = await receiveBatch(sqs, faulty.resources.dlqUrl);

    const [state, reference] = await Promise.all([pipelineState(faulty, [DATASET]), pipelineState(clean, [DATASET])]);
    const differences = stateDifferences(state, reference);
    const lost = photos.filter((_, i) => !state.records[keyOf(i)]?.sha256).length;
    const duplicated = Object.keys(state.records).length - photos.length;
    const row = table.record({
      area: 'at-least-once (moto)',
      input: `${2 * bodies.length} deliveries of ${bodies.length} real notifications (8 puts, an overwrite, a put and a delete), duplicates shuffled`,
      expected: 'same records, embeddings and status as one clean delivery; 0 lost, 0 duplicated; DLQ empty',
      observed: differences.length === 0 && dead.length === 0 ? `same records, embeddings and status as one clean delivery; ${lost} lost, ${duplicated} duplicated; DLQ empty` : `differences: ${differences.join('; ')}; ${dead.length} dead letters`,
      detail: `${invocations} handler invocations; ${Object.keys(state.records).length} records, ${state.embeddings.size} embeddings compared`,
    });
    expect(differences).toEqual([]);
    expect(row.observed).toBe(row.expected);
  });
});

describe('processes that die', () => {
  const DATASET = 'dying';
  let faulty: Bucket;
  let photos: SharedImage[];

  beforeAll(async () => {
    photos = [...(await hymenoptera('train', 'ants', 4, 100)), ...(await hymenoptera('train', 'bees', 4, 100))];
    faulty = await bucket(2);
  });

  it('an extract invocation dying mid-batch: its messages come back after the visibility timeout and the state converges', async () => {
    const keys = photos.map((p, i) => datasetObjectKey(DATASET, i < 4 ? 'ants' : 'bees', p.name));
    await drainQueue(sqs, faulty.resources.queueUrl, faulty.resources.queueArn, async () => ({ batchItemFailures: [] })); // the s3:TestEvent
    for (const [i, photo] of photos.entries()) await faulty.put(keys[i]!, photo.bytes);
    const messages = await receiveBatch(sqs, faulty.resources.queueUrl);
    expect(messages.length).toBeGreaterThan(4);

    // The process dies at its 4th index entry write: embeddings and 3 entries written, nothing deleted from the queue.
    let recordWrites = 0;
    const mortal = mortalIndex(faulty.index, (op, entries) => op === 'put' && entries.some((e) => e.dataset === DATASET) && ++recordWrites > 3);
    // The process's S3 calls die with it.
    const mortalBucket = mortalStore(faulty.store, () => mortal.isDead());
    const dying = makeExtractHandler({ store: mortalBucket.store, index: mortal.index, embedder: async () => backbone, logger });
    void dying(sqsEvent(messages, faulty.resources.queueArn), context);
    await mortal.died;
    // the requests it had already sent land (or not) before anything else looks
    await Promise.all([mortal.settled(), mortalBucket.settled()]);
    const recordsAtDeath = (await collectEntries(faulty.index, DATASET)).length;

    const invocations = await faulty.drain();
    const clean = await bucket();
    for (const [i, photo] of photos.entries()) await clean.put(keys[i]!, photo.bytes);
    await clean.drain();
    const [state, reference] = await Promise.all([pipelineState(faulty, [DATASET]), pipelineState(clean, [DATASET])]);
    const differences = stateDifferences(state, reference);
    const dead = await receiveBatch(sqs, faulty.resources.dlqUrl);
    const lost = keys.filter((k, i) => state.records[k]?.sha256 !== sha256(photos[i]!.bytes) || !state.embeddings.has(embeddingKey(backbone.id, sha256(photos[i]!.bytes)))).length;
    const row = table.record({
      area: 'crash (moto)',
      input: `extract handler dies at its 4th index entry write in a batch of ${messages.length} (no message deleted)`,
      expected: 'redelivered after the visibility timeout; same state as a clean run; 0 lost, 0 duplicated',
      observed: differences.length === 0 && dead.length === 0 ? `redelivered after the visibility timeout; same state as a clean run; ${lost} lost, ${Object.keys(state.records).length - keys.length} duplicated` : `differences: ${differences.join('; ')}; ${dead.length} dead letters`,
      detail: `${recordsAtDeath} index entries written before it died; ${invocations} invocations to drain`,
    });
    expect(recordsAtDeath).toBe(3);
    expect(row.observed).toBe(row.expected);
  });

  it('the Batch train entry dying while it publishes: current unchanged, the partial version invisible, the next job succeeds', async () => {
    const registry = new ModelRegistry(faulty.store);
    const first = await runTrainJob({ store: faulty.store, index: faulty.index, backbone, dataset: DATASET, jobId: 'job-first', device: 'cpu' });
    expect(first.status).toBe('succeeded');
    const pointerBefore = Buffer.from((await faulty.store.get(currentPointerKey(DATASET)))!).toString('utf8');
    const versionsBefore = (await registry.list(DATASET)).map((m) => m.version);

    // Dies on its second version file: head.onnx is in the bucket, model.json never will be.
    let versionFiles = 0;
    let partial = '';
    const mortal = mortalStore(faulty.store, (op, key) => {
      const m = /^models\/[^/]+\/(v[^/]+)\//.exec(key);
      if (op !== 'put' || !m || versionsBefore.includes(m[1]!)) return false;
      partial = m[1]!;
      return ++versionFiles > 1;
    });
    void runTrainJob({ store: mortal.store, index: faulty.index, backbone, dataset: DATASET, jobId: 'job-killed', device: 'cpu' });
    await mortal.died;
    await mortal.settled();

    const leftovers = (await listAll(faulty.store, `models/${DATASET}/${partial}/`)).map((o) => o.key.split('/').at(-1));
    const pointerAfter = Buffer.from((await faulty.store.get(currentPointerKey(DATASET)))!).toString('utf8');
    const versionsAfter = (await registry.list(DATASET)).map((m) => m.version);
    const promoteRefused = await registry.promote(DATASET, partial).then(() => false, () => true);
    const [served] = await new Predictor(faulty.store, backbone).predict(DATASET, [photos[0]!.bytes]);
    const killedJob = await readJob(faulty.store, 'job-killed');

    const next = await runTrainJob({ store: faulty.store, index: faulty.index, backbone, dataset: DATASET, jobId: 'job-next', device: 'cpu' });
    const finalVersions = (await registry.list(DATASET)).map((m) => m.version);
    const invisible = !versionsAfter.includes(partial) && promoteRefused;
    const unchanged = pointerAfter === pointerBefore && JSON.stringify(versionsAfter) === JSON.stringify(versionsBefore) && (served as { model?: string }).model === first.version;
    const row = table.record({
      area: 'crash (moto)',
      input: `Batch train entry dies after writing ${leftovers.join(', ')} of version ${partial}`,
      expected: 'partial version invisible; current unchanged and served; next job succeeds',
      observed: `partial version ${invisible ? 'invisible' : 'VISIBLE'}; current ${unchanged ? 'unchanged and served' : 'changed'}; next job ${next.status === 'succeeded' && finalVersions.at(-1) === next.version ? 'succeeds' : next.status}`,
      detail: `jobs/job-killed.json still says ${killedJob?.status}; GET /jobs/{id} takes the status from Batch, which reports a killed container FAILED; versions now ${finalVersions.length}`,
    });
    expect(leftovers).toEqual(['head.onnx']);
    expect(row.observed).toBe(row.expected);
    expect(finalVersions).toEqual([...versionsBefore, next.version]);
  });
});
