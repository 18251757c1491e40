/**
 * Embeds a dataset's accepted images with a backbone other than the one extraction used (training
 * with `--backbone <name>`): every content hash the cache lacks for that backbone is read from its
 * source object once, embedded in batches, and cached. Content already cached costs nothing.
 */
import { InvalidImageError } from '../errors.js';
import { isAccepted, readDatasetRecords } from '../dataset/records.js';
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { mapLimit } from '../util/mapLimit.js';
import type { Embedder } from './extract.js';

const CHUNK = 32;

export interface BackfillResult {
  embedded: number;
  cached: number;
  /** Objects gone or no longer readable as images since extraction accepted them. */
  failed: { key: string; reason: string }[];
}

export async function backfillEmbeddings(store: ObjectStore, dataset: string, embedder: Embedder): Promise<BackfillResult> {
  const cache = new EmbeddingCache(store);
  const keyBySha = new Map<string, string>();
  for (const record of (await readDatasetRecords(store, dataset)).filter(isAccepted)) if (!keyBySha.has(record.sha256)) keyBySha.set(record.sha256, record.key);
  const present = await mapLimit([...keyBySha.keys()], 16, (sha) => cache.has(embedder.id, sha));
  const missing = [...keyBySha.entries()].filter((_, i) => !present[i]);
  const result: BackfillResult = { embedded: 0, cached: keyBySha.size - missing.length, failed: [] };
  for (let start = 0; start < missing.length; start += CHUNK) {
    const chunk = missing.slice(start, start + CHUNK);
    const bytes = await mapLimit(chunk, 8, ([, key]) => store.get(key));
    const readable = chunk.filter((_, i) => bytes[i] !== undefined);
    for (const [i, [, key]] of chunk.entries()) if (bytes[i] === undefined) result.failed.push({ key, reason: 'object no longer exists' });
    const embedded = await embedder.embedImages(bytes.filter((b): b is Uint8Array => b !== undefined));
    await mapLimit(readable, 8, async ([sha, key], i) => {
      const e = embedded[i];
      if (e instanceof InvalidImageError || e === undefined) result.failed.push({ key, reason: e?.message ?? 'not embedded' });
      else {
        await cache.put(embedder.id, sha, e);
        result.embedded++;
      }
    });
  }
  return result;
}
