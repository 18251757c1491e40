import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { ModelNotFoundError, PreconditionFailedError } from '../../../src/errors.js';
import { listAll } from '../../../src/ports/ObjectStore.js';
import { ModelRegistry } from '../../../src/registry/ModelRegistry.js';
import type { ModelManifest } from '../../../src/registry/ModelManifest.js';

function manifest(accuracy: number): Omit<ModelManifest, 'version' | 'dataset' | 'createdAt'> {
  return {
    labels: ['a', 'b'],
    backbone: { id: 'bb@0123456789abcdef', name: 'bb', sha256: '0'.repeat(64), embeddingSize: 4 },
    preprocessing: {},
    head: { kind: 'linear', lambda: 1, file: 'head.onnx' },
    metrics: { accuracy, macroF1: accuracy, n: 2, labels: ['a', 'b'], perClass: {}, confusion: [[1, 0], [0, 1]] },
    training: { seed: 0, folds: 2, lambdas: [1], device: 'cpu', durationMs: 1, imagesPerLabel: { a: 1, b: 1 }, curve: [] },
    data: { fingerprint: 'f', images: 2, excluded: [] },
    files: { head: 'head.onnx' },
  };
}

describe('ModelRegistry', () => {
  let dir: string;
  let store: FsObjectStore;
  let registry: ModelRegistry;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hs-registry-'));
    store = new FsObjectStore(dir);
    registry = new ModelRegistry(store);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('publishes a version with its files and makes it current', async () => {
    const v1 = await registry.publish('ds', manifest(0.9), { 'head.onnx': new Uint8Array([1, 2, 3]) }, { version: 'v1' });
    expect(v1.version).toBe('v1');
    expect((await registry.current('ds'))?.version).toBe('v1');
    expect(await registry.file('ds', 'v1', 'head.onnx')).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('never lists, serves or promotes a version whose model.json is missing (half written)', async () => {
    await registry.publish('ds', manifest(0.9), { 'head.onnx': new Uint8Array([1]) }, { version: 'v1' });
    await store.put('models/ds/v2/head.onnx', new Uint8Array([9])); // a crash before model.json
    expect((await registry.list('ds')).map((m) => m.version)).toEqual(['v1']);
    await expect(registry.promote('ds', 'v2')).rejects.toThrow(ModelNotFoundError);
    expect((await registry.current('ds'))?.version).toBe('v1');
  });

  it('promotes and rolls back through the history', async () => {
    await registry.publish('ds', manifest(0.8), { 'head.onnx': 'a' }, { version: 'v1' });
    await registry.publish('ds', manifest(0.9), { 'head.onnx': 'b' }, { version: 'v2' });
    expect((await registry.pointer('ds'))?.version).toBe('v2');
    expect((await registry.rollback('ds')).version).toBe('v1');
    await expect(registry.rollback('ds')).rejects.toThrow('no version before v1');
    expect((await registry.promote('ds', 'v2')).history).toEqual(['v1']);
  });

  it('keeps every history entry when promotes race (each from its own store, as separate processes would)', async () => {
    const versions = Array.from({ length: 8 }, (_, i) => `v${i}`);
    for (const version of versions) await registry.publish('ds', manifest(0.8), { 'head.onnx': version }, { version, promote: false });
    await Promise.all(versions.map((version) => new ModelRegistry(new FsObjectStore(dir)).promote('ds', version)));
    const pointer = await registry.pointer('ds');
    // Whichever landed last is current; every other one is in the history exactly once.
    expect([...(pointer?.history ?? []), pointer?.version].sort()).toEqual(versions);
    expect((await listAll(store, 'models/ds/')).filter((o) => o.key.includes('lock'))).toEqual([]);
  });

  it('refuses a conditional write whose ETag is stale, and a create-only write over an object', async () => {
    await store.put('k.json', '1');
    const info = await store.head('k.json');
    await store.put('k.json', '2', { ifMatch: info?.etag as string });
    await expect(store.put('k.json', '3', { ifMatch: info?.etag as string })).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(store.put('k.json', '4', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(new TextDecoder().decode(await store.get('k.json'))).toBe('2');
  });

  it('publishes without promoting when asked', async () => {
    await registry.publish('ds', manifest(0.8), { 'head.onnx': 'a' }, { version: 'v1' });
    await registry.publish('ds', manifest(0.7), { 'head.onnx': 'b' }, { version: 'v2', promote: false });
    expect((await registry.current('ds'))?.version).toBe('v1');
    expect((await registry.list('ds')).map((m) => m.version)).toEqual(['v1', 'v2']);
  });
});
