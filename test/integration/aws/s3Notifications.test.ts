/**
 * The cloud extraction path's storage half on a real wire protocol (moto_server): a PutObject under
 * datasets/ produces an S3 notification on the SQS queue, which parseS3EventMessages reads back to
 * the exact key; a message that cannot be read fails until the redrive policy moves it to the DLQ.
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseS3EventMessages } from '../../../src/adapters/aws/s3Events.js';
import type { ObjectEvent } from '../../../src/ports/ObjectEvent.js';
import {
  createExtractionResources,
  motoS3Client,
  motoSqsClient,
  startMoto,
  type ExtractionResources,
  type MotoServer,
} from '../../helpers/moto.js';
import { AWKWARD_KEYS } from '../../helpers/objectStoreContract.js';

let moto: MotoServer;
let s3: S3Client;
let sqs: SQSClient;

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

async function receive(queueUrl: string): Promise<Message[]> {
  const response = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }),
  );
  return response.Messages ?? [];
}

async function deleteMessages(queueUrl: string, messages: Message[]): Promise<void> {
  if (messages.length === 0) return;
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
    }),
  );
}

const asRecords = (messages: Message[]) => ({ Records: messages.map((m) => ({ messageId: m.MessageId ?? '', body: m.Body ?? '' })) });

/** Receives and deletes until the queue has nothing visible; returns the parsed events. */
async function drainEvents(resources: ExtractionResources): Promise<{ events: ObjectEvent[]; messages: number }> {
  const events: ObjectEvent[] = [];
  let messages = 0;
  for (;;) {
    const batch = await receive(resources.queueUrl);
    if (batch.length === 0) return { events, messages };
    messages += batch.length;
    const parsed = parseS3EventMessages(asRecords(batch));
    expect(parsed.unreadable).toEqual([]);
    events.push(...parsed.events);
    await deleteMessages(resources.queueUrl, batch);
  }
}

describe('S3 notifications to SQS on moto_server', () => {
  it('a put and a delete under datasets/ arrive as created and removed events with the exact key', async () => {
    const resources = await createExtractionResources(s3, sqs);
    // Configuring the notification sends an s3:TestEvent first; it must parse to nothing.
    const setup = await drainEvents(resources);
    expect(setup).toEqual({ events: [], messages: 1 });

    const key = 'datasets/my set/ants/ant photo (1).jpg';
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: new Uint8Array([1, 2, 3]), ContentType: 'image/jpeg' }));
    const created = await drainEvents(resources);
    expect(created.events).toHaveLength(1);
    expect(created.events[0]).toMatchObject({ kind: 'created', key });

    await s3.send(new DeleteObjectCommand({ Bucket: resources.bucket, Key: key }));
    const removed = await drainEvents(resources);
    expect(removed.events.map(({ kind, key: k }) => ({ kind, key: k }))).toEqual([{ kind: 'removed', key }]);
    // Each event carries its SQS message id, the handle for a partial batch failure.
    expect(removed.events[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(removed.events[0]?.id).not.toBe(created.events[0]?.id);
  });

  it('decodes every awkward key exactly, and says nothing about keys outside datasets/', async () => {
    const resources = await createExtractionResources(s3, sqs);
    await drainEvents(resources);
    for (const key of AWKWARD_KEYS) await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: 'x' }));
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: 'models/d/v1/model.json', Body: '{}' }));
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: 'embeddings/b/x.f32', Body: 'x' }));
    const { events } = await drainEvents(resources);
    expect(events.map((e) => e.key).sort()).toEqual([...AWKWARD_KEYS].sort());
    expect(events.every((e) => e.kind === 'created')).toBe(true);
  });

  it('a message that cannot be read fails on every delivery and lands in the DLQ after maxReceiveCount (5)', async () => {
    // Visibility timeout 0: a failed (undeleted) message is visible again at once, so five
    // deliveries take milliseconds instead of five timeouts.
    const resources = await createExtractionResources(s3, sqs, { maxReceiveCount: 5, visibilityTimeoutSeconds: 0 });
    await drainEvents(resources);
    await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: 'not an S3 notification {' }));
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: 'datasets/d/l/fine.jpg', Body: 'x' }));

    // A Lambda-like consumer: delete what was handled, leave what was reported as failed.
    let poisonDeliveries = 0;
    const handled: string[] = [];
    for (let round = 0; round < 20; round++) {
      const batch = await receive(resources.queueUrl);
      if (batch.length === 0) break;
      const parsed = parseS3EventMessages(asRecords(batch));
      poisonDeliveries += parsed.unreadable.length;
      handled.push(...parsed.events.map((e) => e.key));
      const failed = new Set(parsed.unreadable.map((u) => u.id));
      await deleteMessages(resources.queueUrl, batch.filter((m) => !failed.has(m.MessageId ?? '')));
    }
    expect(handled).toEqual(['datasets/d/l/fine.jpg']);
    expect(poisonDeliveries).toBe(5);
    const dead = await receive(resources.dlqUrl);
    expect(dead.map((m) => m.Body)).toEqual(['not an S3 notification {']);
    expect(await receive(resources.queueUrl)).toEqual([]);
  });
});
