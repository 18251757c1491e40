/**
 * Presigned uploads on a real S3 wire protocol (moto_server): the URL the console receives from
 * POST /datasets/{name}/uploads takes the bytes with a plain PUT (no AWS credentials in the
 * browser) and lands them at datasets/<name>/<label>/<file>. moto 5 accepts any presigned
 * signature and ignores expiry, so what S3 enforces (the signed content type, the lifetime) is
 * checked in the URL itself.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../src/adapters/aws/S3ObjectStore.js';
import { S3UploadTarget } from '../../../src/adapters/aws/S3UploadTarget.js';
import { route } from '../../../src/api/router.js';
import { createBucket, motoS3Client, startMoto, type MotoServer } from '../../helpers/moto.js';

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

describe('S3UploadTarget on moto_server', () => {
  it('grants a presigned PUT that stores the bytes under the dataset key, through the uploads route', async () => {
    const bucket = await createBucket(s3);
    const store = new S3ObjectStore(s3, bucket);
    const uploads = new S3UploadTarget(s3, bucket);
    const response = await route(
      {
        method: 'POST',
        path: '/datasets/bugs/uploads',
        headers: { 'content-type': 'application/json' },
        body: new TextEncoder().encode(JSON.stringify({ files: [{ label: 'ants', file: 'a 1.jpg', contentType: 'image/jpeg' }] })),
      },
      { store, uploads, jobs: { submit: async () => Promise.reject(new Error('unused')), get: async () => undefined }, predictor: async () => Promise.reject(new Error('unused')) } as never,
    );
    expect(response.status).toBe(200);
    const grant = (JSON.parse(String(response.body)) as { uploads: { key: string; url: string; headers: Record<string, string>; expiresAt: string }[] }).uploads[0]!;
    expect(grant.key).toBe('datasets/bugs/ants/a 1.jpg');
    expect(grant.url).toMatch(/X-Amz-Signature=/);
    expect(Date.parse(grant.expiresAt)).toBeGreaterThan(Date.now());

    const query = new URL(grant.url).searchParams;
    expect(query.get('X-Amz-SignedHeaders')?.split(';')).toEqual(expect.arrayContaining(['content-type', 'host']));
    expect(query.get('X-Amz-Expires')).toBe('900');
    expect(grant.headers).toEqual({ 'content-type': 'image/jpeg' });

    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]);
    const put = await fetch(grant.url, { method: 'PUT', headers: grant.headers, body: bytes });
    expect(put.status).toBe(200);
    expect(await store.get(grant.key)).toEqual(bytes);
  });

  it('signs for the lifetime it was given', async () => {
    const bucket = await createBucket(s3);
    const grant = await new S3UploadTarget(s3, bucket, 60).grant({ dataset: 'bugs', label: 'ants', file: 'x.jpg', contentType: 'image/png' });
    expect(new URL(grant.url).searchParams.get('X-Amz-Expires')).toBe('60');
    expect(Date.parse(grant.expiresAt ?? '') - Date.now()).toBeLessThanOrEqual(60_000);
    expect(new URL(grant.url).pathname).toBe(`/${bucket}/datasets/bugs/ants/x.jpg`);
  });
});
