/** Racing promotes against real S3 conditional writes (If-Match / If-None-Match on moto_server). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../src/adapters/aws/S3ObjectStore.js';
import { PreconditionFailedError } from '../../../src/errors.js';
import { ModelRegistry } from '../../../src/registry/ModelRegistry.js';
import { createBucket, motoS3Client, startMoto, type MotoServer } from '../../helpers/moto.js';

describe('ModelRegistry on S3 (moto_server)', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => moto?.stop());

  it('loses no history entry when promotes race', async () => {
    const s3 = motoS3Client(moto.endpoint);
    const bucket = await createBucket(s3);
    const registry = new ModelRegistry(new S3ObjectStore(s3, bucket));
    const versions = Array.from({ length: 6 }, (_, i) => `v${i}`);
    const manifest = {
      labels: ['a', 'b'],
      backbone: { id: 'bb@0', name: 'bb', sha256: '0'.repeat(64), embeddingSize: 4 },
      preprocessing: {},
      head: { kind: 'linear' as const, lambda: 1, file: 'head.onnx' },
      metrics: { accuracy: 1, macroF1: 1, n: 2, labels: ['a', 'b'], perClass: {}, confusion: [[1, 0], [0, 1]] },
      training: { seed: 0, folds: 2, lambdas: [1], device: 'cpu' as const, durationMs: 1, imagesPerLabel: { a: 1, b: 1 }, curve: [] },
      data: { fingerprint: 'f', images: 2, excluded: [] },
      files: { head: 'head.onnx' },
    };
    for (const version of versions) await registry.publish('ds', manifest, { 'head.onnx': version }, { version, promote: false });
    await Promise.all(versions.map((version) => new ModelRegistry(new S3ObjectStore(motoS3Client(moto.endpoint), bucket)).promote('ds', version)));
    const pointer = await registry.pointer('ds');
    expect([...(pointer?.history ?? []), pointer?.version].sort()).toEqual(versions);

    const store = new S3ObjectStore(s3, bucket);
    const info = await store.head('models/ds/current.json');
    await store.put('models/ds/current.json', JSON.stringify(pointer), { ifMatch: info?.etag as string });
    await expect(store.put('models/ds/current.json', '{}', { ifMatch: info?.etag as string })).rejects.toBeInstanceOf(PreconditionFailedError);
  });
});
