/**
 * The embedding cache: one raw little-endian float32 vector per (backbone, image content). Keyed by
 * content, so the same bytes are embedded once however many keys, labels or datasets hold them,
 * and a re-upload of unchanged bytes costs nothing.
 */
import { embeddingKey } from '../dataset/keys.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { mapLimit } from '../util/mapLimit.js';

export class EmbeddingCache {
  constructor(
    private readonly store: ObjectStore,
    private readonly concurrency = 16,
  ) {}

  async has(backboneId: string, sha256: string): Promise<boolean> {
    return (await this.store.head(embeddingKey(backboneId, sha256))) !== undefined;
  }

  async put(backboneId: string, sha256: string, embedding: Float32Array): Promise<void> {
    const bytes = new Uint8Array(embedding.buffer, embedding.byteOffset, embedding.byteLength);
    await this.store.put(embeddingKey(backboneId, sha256), bytes, { contentType: 'application/octet-stream' });
  }

  async get(backboneId: string, sha256: string): Promise<Float32Array | undefined> {
    const bytes = await this.store.get(embeddingKey(backboneId, sha256));
    if (bytes === undefined) return undefined;
    // Copy into a fresh, aligned buffer: the store's bytes may sit at any offset of a shared buffer.
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new Float32Array(copy.buffer);
  }

  /** Fetches many embeddings; a missing one is undefined in its slot. */
  async getMany(backboneId: string, sha256s: readonly string[]): Promise<Array<Float32Array | undefined>> {
    return mapLimit(sha256s, this.concurrency, (sha) => this.get(backboneId, sha));
  }
}
