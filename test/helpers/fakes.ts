/**
 * Test doubles for the core's ports, built on the real local adapters where possible.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidImageError } from '../../src/errors.js';
import { FsObjectStore } from '../../src/adapters/local/FsObjectStore.js';
import type { Embedder } from '../../src/pipeline/extract.js';

/**
 * A deterministic embedder for pipeline tests that do not need a real backbone: the embedding is
 * derived from the bytes, and bytes starting with "BAD" are refused like a non-image.
 */
export class FakeEmbedder implements Embedder {
  readonly id = 'fake@0000000000000000';
  calls = 0;
  embedded = 0;

  async embedImages(images: Uint8Array[]): Promise<Array<Float32Array | InvalidImageError>> {
    this.calls++;
    return images.map((bytes) => {
      if (new TextDecoder().decode(bytes.subarray(0, 3)) === 'BAD') return new InvalidImageError('not_an_image', 'not an image: unknown format');
      this.embedded++;
      const v = new Float32Array(4);
      bytes.forEach((b, i) => (v[i % 4] = (v[i % 4] ?? 0) + b));
      return v;
    });
  }
}

export async function tempStore(): Promise<{ store: FsObjectStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hs-store-'));
  return { store: new FsObjectStore(dir), dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
