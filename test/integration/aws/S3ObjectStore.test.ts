/**
 * The ObjectStore contract against the S3 adapter on a real S3 wire protocol (moto_server), plus the
 * S3-only behaviours: pagination and error mapping.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../src/adapters/aws/S3ObjectStore.js';
import { listAll } from '../../../src/ports/ObjectStore.js';
import { createBucket, motoS3Client, startMoto, uniqueName, type MotoServer } from '../../helpers/moto.js';
import { objectStoreContract } from '../../helpers/objectStoreContract.js';

let moto: MotoServer;
let s3: S3Client;

beforeAll(async () => {
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
});
afterAll(async () => {
  s3?.destroy();
  await moto?.stop();
});

objectStoreContract('S3ObjectStore on moto_server', async () => ({ store: new S3ObjectStore(s3, await createBucket(s3)) }), {
  concurrentOverwrites: false,
});

describe('S3ObjectStore specifics', () => {
  it('follows ListObjectsV2 continuation tokens across pages', async () => {
    const bucket = await createBucket(s3);
    const store = new S3ObjectStore(s3, bucket, { pageSize: 7 });
    const keys = Array.from({ length: 30 }, (_, i) => `many/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((key) => store.put(key, 'x')));
    await store.put('other/x', 'x');
    const requests: unknown[] = [];
    const counting = { send: (command: unknown) => (requests.push(command), s3.send(command as never)) } as unknown as S3Client;
    const listed = await listAll(new S3ObjectStore(counting, bucket, { pageSize: 7 }), 'many/');
    expect(listed.map((info) => info.key)).toEqual(keys);
    expect(requests).toHaveLength(5);
  });

  it('a missing bucket is an error, not a missing object', async () => {
    const store = new S3ObjectStore(s3, uniqueName('no-such-bucket'));
    await expect(store.get('k')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(listAll(store, '')).rejects.toMatchObject({ name: 'NoSuchBucket' });
  });

  it('passes transient errors through unchanged, so the handler can retry', async () => {
    const throttled = Object.assign(new Error('Please reduce your request rate.'), {
      name: 'SlowDown',
      $metadata: { httpStatusCode: 503 },
    });
    const failing = { send: async () => Promise.reject(throttled) } as unknown as S3Client;
    const store = new S3ObjectStore(failing, 'b');
    await expect(store.get('k')).rejects.toBe(throttled);
    await expect(store.head('k')).rejects.toBe(throttled);
    await expect(store.put('k', 'x')).rejects.toBe(throttled);
    await expect(store.delete('k')).rejects.toBe(throttled);
  });

  it('reads objects that other writers put, keys and all', async () => {
    const bucket = await createBucket(s3);
    const key = 'datasets/my set/ants/ant photo (1).jpg';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: new Uint8Array([0xff, 0xd8, 0xff]), ContentType: 'image/jpeg' }));
    const store = new S3ObjectStore(s3, bucket);
    expect(await store.get(key)).toEqual(new Uint8Array([0xff, 0xd8, 0xff]));
    expect((await listAll(store, 'datasets/my set/'))[0]?.key).toBe(key);
  });
});
