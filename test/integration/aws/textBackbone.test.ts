/**
 * The Lambdas' text path on moto_server with a text backbone shipped (`-c textBackbone`), wired as
 * functions/extract/handler.ts and functions/infer/handler.ts wire it, from the environment the
 * stack sets (TEXT_BACKBONE, HEADSTART_MODELS). Extract (S3 notification -> SQS -> handler): with an
 * encoder configured a `.txt` upload is embedded by it and the vector cached under its id; without
 * one the text is only validated (the TF-IDF path), as before. Infer: an encoder version is answered
 * with the encoder found where the function's environment says, and refused by name when it is not there. The encoder is tiny-bert-random (random
 * weights, 32-d) with the real MiniLM tokenizer, from ../shared/models/text; its expected vectors
 * come from tiny-bert-reference.json (Python tokenizers + onnxruntime), not from our code.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../src/adapters/aws/S3ObjectStore.js';
import { backboneId, findTextCatalogueEntry } from '../../../src/backbone/catalogue.js';
import { lazyBackbone, lazyTextEmbedder, textPredictor } from '../../../src/edges/aws/environment.js';
import { makeInferHandler } from '../../../src/edges/lambda/apiGateway.js';
import { makeExtractHandler } from '../../../src/edges/lambda/extractHandler.js';
import { EmbeddingCache } from '../../../src/embeddings/EmbeddingCache.js';
import { datasetStatus } from '../../../src/pipeline/status.js';
import { trainTextOnEncoder } from '../../../src/pipeline/trainTextEncoder.js';
import type { JobRunner } from '../../../src/ports/JobRunner.js';
import { TextBackbone } from '../../../src/text/TextBackbone.js';
import { listAll } from '../../../src/ports/ObjectStore.js';
import { TEXT_VALIDATED_ID } from '../../../src/text/textEmbedders.js';
import { drainQueue } from '../../helpers/reliability.js';
import { createExtractionResources, motoIndex, motoS3Client, motoSqsClient, startMoto, type MotoServer } from '../../helpers/moto.js';
import { modelsDir } from '../../helpers/shared.js';

const TINY = findTextCatalogueEntry('tiny-bert-random')!;
const TINY_ID = backboneId(TINY);
const reference = JSON.parse(readFileSync(path.join(modelsDir(), 'text', 'tiny-bert-reference.json'), 'utf8')) as { cases: { text: string; embedding: number[] }[] };

let moto: MotoServer;
let s3: S3Client;
let sqs: SQSClient;
const context = { functionName: 'extract', awsRequestId: 'text' } as unknown as Context;
const logger = new Logger({ serviceName: 'extract-text', logLevel: 'CRITICAL' });

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A bucket, queue and index as the stack builds them, and the extract handler over them with the function's environment. */
async function extractionWith(env: NodeJS.ProcessEnv) {
  const resources = await createExtractionResources(s3, sqs, { visibilityTimeoutSeconds: 30, maxReceiveCount: 2 });
  const store = new S3ObjectStore(s3, resources.bucket);
  const index = await motoIndex(moto.endpoint);
  // The image backbone is wired as deployed too; it loads only if a batch holds an image (none here).
  const handler = makeExtractHandler({ store, index, embedder: lazyBackbone(env), textEmbedder: lazyTextEmbedder(env), logger });
  const drain = () => drainQueue(sqs, resources.queueUrl, resources.queueArn, (event) => handler(event, context), 60_000);
  await drain(); // the s3:TestEvent
  const put = (key: string, body: string | Uint8Array) => s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: body, ContentType: 'text/plain' }));
  return { store, index, drain, put };
}

beforeAll(async () => {
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = motoSqsClient(moto.endpoint);
});

afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

describe('the extract Lambda with a text backbone (TEXT_BACKBONE)', () => {
  it('embeds .txt uploads with the configured encoder and caches its 32-d vectors; a bad text is refused with its reason', async () => {
    const { store, index, drain, put } = await extractionWith({ TEXT_BACKBONE: 'tiny-bert-random', HEADSTART_MODELS: modelsDir() });
    const [first, second] = reference.cases;
    await put('datasets/inquiries/card/0.txt', first!.text);
    await put('datasets/inquiries/card/1.txt', second!.text);
    await put('datasets/inquiries/card/binary.txt', new Uint8Array([0x00, 0xff, 0x00, 0x01]));
    await drain();

    const status = await datasetStatus({ store, index }, 'inquiries');
    expect(status).toMatchObject({ labels: { card: 2 }, refused: 1 });
    expect(status.failures).toEqual([expect.objectContaining({ key: 'datasets/inquiries/card/binary.txt' })]);

    const cache = new EmbeddingCache(store);
    for (const { text, embedding } of [first!, second!]) {
      const vector = await cache.get(TINY_ID, sha256(text));
      expect(vector?.length).toBe(TINY.embeddingSize);
      expect(TINY.embeddingSize).toBe(32);
      vector!.forEach((v, k) => expect(Math.abs(v - embedding[k]!), `${text} [${k}]`).toBeLessThan(1e-5));
    }
    expect((await index.embeddedWith(TINY_ID, [sha256(first!.text), sha256(second!.text)])).size).toBe(2);
    expect(await listAll(store, `embeddings/${TEXT_VALIDATED_ID}/`)).toEqual([]);
  });

  it('fails the batch (so SQS retries it) when the configured encoder is not in the models folder, naming the missing file', async () => {
    const missing = path.join(modelsDir(), 'text', 'no-such-folder');
    const load = lazyTextEmbedder({ TEXT_BACKBONE: 'tiny-bert-random', HEADSTART_MODELS: missing });
    await expect(load()).rejects.toThrow(`its encoder ${path.join(missing, 'text', 'tiny-bert-random.onnx')} is missing`);
    // Not cached as failed: the next invocation tries again (and here finds the same problem).
    await expect(load()).rejects.toThrow(/tiny-bert-random\.onnx is missing/);
  });
});

describe('the extract Lambda without a text backbone', () => {
  it('only validates .txt uploads (the TF-IDF path): an empty vector under the validated id, nothing from an encoder', async () => {
    const { store, index, drain, put } = await extractionWith({ HEADSTART_MODELS: modelsDir() });
    await put('datasets/plain/card/0.txt', 'my card has not arrived');
    await drain();
    expect(await datasetStatus({ store, index }, 'plain')).toMatchObject({ labels: { card: 1 }, refused: 0 });
    expect((await new EmbeddingCache(store).get(TEXT_VALIDATED_ID, sha256('my card has not arrived')))?.length).toBe(0);
    expect(await listAll(store, `embeddings/${TINY_ID}/`)).toEqual([]);
  });
});

describe('the infer Lambda with a text backbone', () => {
  const CARD = ['my card was declined at the shop', 'card payment declined again', 'why is my card not working', 'the card got blocked', 'card stopped working abroad', 'my card is broken'];
  const TRANSFER = ['how long does a bank transfer take', 'transfer to another account', 'send money to my friend by transfer', 'my transfer has not arrived', 'cancel a transfer I made', 'transfer limit per day'];
  const noJobs: JobRunner = { submit: async () => Promise.reject(new Error('not used')), get: async () => undefined };
  const predictText = (text: string): APIGatewayProxyEventV2 =>
    ({ version: '2.0', routeKey: '$default', rawPath: '/datasets/intents/predict', rawQueryString: '', headers: { 'content-type': 'text/plain' }, requestContext: { http: { method: 'POST', path: '/datasets/intents/predict' } }, body: text, isBase64Encoded: false }) as unknown as APIGatewayProxyEventV2;

  it('answers text requests of an encoder version with the shipped encoder, and refuses them by name where it is missing', async () => {
    const env = { TEXT_BACKBONE: 'tiny-bert-random', HEADSTART_MODELS: modelsDir() };
    const { store, index, drain, put } = await extractionWith(env);
    for (const [label, lines] of Object.entries({ card: CARD, transfer: TRANSFER })) for (const [i, line] of lines.entries()) await put(`datasets/intents/${label}/${i}.txt`, line);
    await drain();
    const encoder = await TextBackbone.load('tiny-bert-random', { modelsDir: modelsDir() });
    let version: string;
    try {
      version = (await trainTextOnEncoder({ store, index }, encoder, 'intents', { choice: 'named', seed: 0 })).version;
    } finally {
      await encoder.release();
    }

    const inferWith = (environment: NodeJS.ProcessEnv) => {
      const texts = textPredictor(store, environment);
      return makeInferHandler({ store, index, jobs: noJobs, predictor: () => Promise.reject(new Error('no image requests here')), textPredictor: () => texts });
    };
    const answer = await inferWith(env)(predictText('my card was declined at the shop'));
    expect(answer.statusCode, answer.body).toBe(200);
    const body = JSON.parse(answer.body ?? '{}');
    // A training text: even random encoder weights keep enough of the tokens for the head to fit it.
    expect(body).toMatchObject({ model: version, label: 'card', outOfDomain: expect.any(Boolean) });
    expect(body.top.map((t: { label: string }) => t.label).sort()).toEqual(['card', 'transfer']);

    const elsewhere = await inferWith({ ...env, HEADSTART_MODELS: path.join(modelsDir(), 'text', 'no-such-folder') })(predictText('my card'));
    expect(elsewhere.statusCode).toBe(409);
    expect(JSON.parse(elsewhere.body ?? '{}').error).toMatch(/text encoder "tiny-bert-random".*cannot load.*tiny-bert-random\.onnx is missing/);
  });
});
