/**
 * Embeds a dataset's accepted images with a backbone other than the one extraction used (training
 * with `--backbone <name>`): every content hash the cache lacks for that backbone is read from its
 * source object once, embedded in batches, and cached. Content already cached costs nothing.
 */
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import type { DataPlane } from './status.js';
import { mapLimit } from '../util/mapLimit.js';
import type { Embedder } from './extract.js';

const CHUNK = 32;

export interface BackfillResult {
  embedded: number;
  cached: number;
  /** Objects gone or no longer readable as images since extraction accepted them. */
  failed: { key: string; reason: string }[];
}

export async function backfillEmbeddings(plane: Pick<DataPlane, 'store' | 'index'>, dataset: string, embedder: Embedder): Promise<BackfillResult> {
  const { store, index } = plane;
  const cache = new EmbeddingCache(store);
  const keyBySha = new Map<string, string>();
  for await (const entry of index.entries(dataset, { state: 'embedded' })) if (entry.sha256 && !keyBySha.has(entry.sha256)) keyBySha.set(entry.sha256, entry.key);
  // The index knows what is cached; the cache itself is asked only about the rest (it may hold
  // embeddings made before they were noted, e.g. by another dataset).
  const noted = await index.embeddedWith(embedder.id, [...keyBySha.keys()]);
  const unnoted = [...keyBySha.entries()].filter(([sha]) => !noted.has(sha));
  const present = await mapLimit(unnoted, 16, ([sha]) => cache.has(embedder.id, sha));
  await index.noteEmbedded(embedder.id, unnoted.filter((_, i) => present[i]).map(([sha]) => sha));
  const missing = unnoted.filter((_, i) => !present[i]);
  const result: BackfillResult = { embedded: 0, cached: keyBySha.size - missing.length, failed: [] };
  for (let start = 0; start < missing.length; start += CHUNK) {
    const chunk = missing.slice(start, start + CHUNK);
    const bytes = await mapLimit(chunk, 8, ([, key]) => store.get(key));
    const readable = chunk.filter((_, i) => bytes[i] !== undefined);
    for (const [i, [, key]] of chunk.entries()) if (bytes[i] === undefined) result.failed.push({ key, reason: 'object no longer exists' });
    const embedded = await embedder.embedImages(bytes.filter((b): b is Uint8Array => b !== undefined));
    await mapLimit(readable, 8, async ([sha, key], i) => {
      const e = embedded[i];
      if (!(e instanceof Float32Array)) result.failed.push({ key, reason: e?.message ?? 'not embedded' });
      else {
        await cache.put(embedder.id, sha, e);
        await index.noteEmbedded(embedder.id, [sha]);
        result.embedded++;
      }
    });
  }
  return result;
}
