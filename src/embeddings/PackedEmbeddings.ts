/**
 * Packed embeddings: a dataset's cached embeddings for one backbone, gathered into a few large
 * shards so that training reads O(N / rows-per-shard) objects instead of one per image. The
 * content-addressed per-image cache stays the source (it deduplicates across datasets); shards are
 * derived from it by {@link compactEmbeddings}, incrementally: a run packs only contents not yet in
 * a shard.
 *
 * Layout under packed/<dataset>/<backboneId>/ (a user opens it in one line of numpy each):
 *
 *   manifest.json          {"format": "headstart-packed-v1", "backbone", "dims", "shards": [{"name", "rows"}]}
 *   <name>.npy             float32 [rows, dims], little-endian, C order: np.load("<name>.npy")
 *   <name>.json            {"sha256": [...]}: the content hash of each row, in row order
 *
 * The manifest is written last, so a reader sees the old set of shards or the new one. A shard is
 * never rewritten in place: topping up a part-filled last shard writes a new one and drops the old
 * name from the manifest before deleting its files. Only one training per dataset runs at a time
 * (the job runners refuse a second), so one compaction per dataset runs at a time.
 */
import { packedPrefix } from '../dataset/keys.js';
import { getJson, putJson, type ObjectStore } from '../ports/ObjectStore.js';
import { mapLimit } from '../util/mapLimit.js';
import { EmbeddingCache } from './EmbeddingCache.js';
import { encodeNpy, parseNpyHeader } from './npy.js';

export const PACKED_FORMAT = 'headstart-packed-v1';
/** 4,096 rows of 1,280 float32 is a 20 MiB shard: few objects, and one shard in memory at a time. */
export const DEFAULT_ROWS_PER_SHARD = 4_096;

export interface PackedManifest {
  format: typeof PACKED_FORMAT;
  backbone: string;
  dims: number;
  shards: Array<{ name: string; rows: number }>;
}

export interface CompactionResult {
  /** Contents already packed before this run. */
  packedBefore: number;
  /** Contents packed by this run. */
  added: number;
  /** Contents the per-image cache did not have (not embedded with this backbone yet). */
  missing: number;
  shards: number;
}

export class PackedEmbeddings {
  private readonly prefix: string;

  constructor(
    private readonly store: ObjectStore,
    readonly dataset: string,
    readonly backboneId: string,
    private readonly rowsPerShard = DEFAULT_ROWS_PER_SHARD,
  ) {
    if (!(Number.isInteger(rowsPerShard) && rowsPerShard > 0)) throw new RangeError(`rowsPerShard must be a positive integer, got ${rowsPerShard}`);
    this.prefix = packedPrefix(dataset, backboneId);
  }

  async manifest(): Promise<PackedManifest | undefined> {
    const manifest = await getJson<PackedManifest>(this.store, `${this.prefix}manifest.json`);
    if (manifest !== undefined && manifest.format !== PACKED_FORMAT) throw new Error(`${this.prefix}manifest.json has format ${JSON.stringify(manifest.format)}, expected ${PACKED_FORMAT}`);
    return manifest;
  }

  /** The content hashes of each shard's rows, in manifest order. */
  async shardRows(manifest: PackedManifest): Promise<string[][]> {
    return mapLimit(manifest.shards, 8, async (shard) => {
      const rows = await getJson<{ sha256: string[] }>(this.store, `${this.prefix}${shard.name}.json`);
      if (rows === undefined || rows.sha256.length !== shard.rows) throw new Error(`packed shard ${this.prefix}${shard.name} is missing or does not match the manifest`);
      return rows.sha256;
    });
  }

  /**
   * Packs the given contents that no shard holds yet, reading each from the per-image cache once.
   * Contents the cache lacks are counted as missing and left for a later run.
   */
  async compact(sha256s: Iterable<string>): Promise<CompactionResult> {
    let manifest = await this.manifest();
    const packed = new Set<string>();
    const rowsByShard = manifest ? await this.shardRows(manifest) : [];
    for (const rows of rowsByShard) for (const sha of rows) packed.add(sha);
    const wanted = [...new Set(sha256s)].filter((sha) => !packed.has(sha));
    const result: CompactionResult = { packedBefore: packed.size, added: 0, missing: 0, shards: manifest?.shards.length ?? 0 };
    if (wanted.length === 0) return result;

    const cache = new EmbeddingCache(this.store);
    // Top up a part-filled last shard first, so repeated small compactions do not leave many small shards.
    const last = manifest?.shards.at(-1);
    let carry: { name: string; rows: string[]; matrix: Float32Array } | undefined;
    if (manifest !== undefined && last !== undefined && last.rows < this.rowsPerShard) {
      const bytes = await this.store.get(`${this.prefix}${last.name}.npy`);
      if (bytes === undefined) throw new Error(`packed shard ${this.prefix}${last.name}.npy is missing`);
      const header = parseNpyHeader(bytes);
      const copy = new Uint8Array(header.rows * header.cols * 4);
      copy.set(bytes.subarray(header.dataOffset));
      carry = { name: last.name, rows: rowsByShard.at(-1) ?? [], matrix: new Float32Array(copy.buffer) };
    }

    let dims = manifest?.dims;
    const written: Array<{ name: string; rows: number }> = [];
    let nextSeq = (manifest?.shards ?? []).reduce((max, s) => Math.max(max, Number.parseInt(s.name.slice('shard-'.length), 10) + 1), 0);
    let pendingRows: string[] = carry?.rows ?? [];
    let pendingVectors: Float32Array[] = [];
    const flush = async (): Promise<void> => {
      if (dims === undefined || pendingVectors.length === 0) return;
      const rows = pendingRows.length;
      const matrix = new Float32Array(rows * dims);
      let offset = 0;
      if (carry !== undefined) {
        matrix.set(carry.matrix);
        offset = carry.matrix.length;
      }
      for (const v of pendingVectors) {
        matrix.set(v, offset);
        offset += dims;
      }
      const name = `shard-${String(nextSeq++).padStart(6, '0')}`;
      await this.store.put(`${this.prefix}${name}.npy`, encodeNpy(matrix, rows, dims), { contentType: 'application/octet-stream' });
      await putJson(this.store, `${this.prefix}${name}.json`, { sha256: pendingRows });
      written.push({ name, rows });
      carry = undefined;
      pendingRows = [];
      pendingVectors = [];
    };

    const replaced = carry?.name;
    const chunk = 256;
    for (let start = 0; start < wanted.length; start += chunk) {
      const shas = wanted.slice(start, start + chunk);
      const vectors = await cache.getMany(this.backboneId, shas);
      for (const [i, vector] of vectors.entries()) {
        if (vector === undefined) {
          result.missing++;
          continue;
        }
        dims ??= vector.length;
        if (vector.length !== dims) throw new Error(`embedding ${shas[i]} of backbone ${this.backboneId} has ${vector.length} values, expected ${dims}`);
        pendingRows.push(shas[i] as string);
        pendingVectors.push(vector);
        result.added++;
        if (pendingRows.length >= this.rowsPerShard) await flush();
      }
    }
    await flush();
    if (written.length === 0 || dims === undefined) return result;

    const kept = (manifest?.shards ?? []).filter((s) => s.name !== replaced);
    manifest = { format: PACKED_FORMAT, backbone: this.backboneId, dims, shards: [...kept, ...written] };
    await putJson(this.store, `${this.prefix}manifest.json`, manifest);
    if (replaced !== undefined) await Promise.all([this.store.delete(`${this.prefix}${replaced}.npy`), this.store.delete(`${this.prefix}${replaced}.json`)]);
    result.shards = manifest.shards.length;
    return result;
  }

  /**
   * Copies the packed vectors of the wanted contents into `out` (row-major, `dims` wide) at the row
   * each maps to; returns the contents found. One shard's bytes are held at a time.
   */
  async fill(rowOf: ReadonlyMap<string, number>, out: Float32Array, dims: number): Promise<Set<string>> {
    const found = new Set<string>();
    const manifest = await this.manifest();
    if (manifest === undefined || manifest.dims !== dims) return found;
    const rowsByShard = await this.shardRows(manifest);
    for (const [s, shard] of manifest.shards.entries()) {
      const rows = rowsByShard[s] ?? [];
      if (!rows.some((sha) => rowOf.has(sha) && !found.has(sha))) continue;
      const bytes = await this.store.get(`${this.prefix}${shard.name}.npy`);
      if (bytes === undefined) throw new Error(`packed shard ${this.prefix}${shard.name}.npy is missing`);
      const header = parseNpyHeader(bytes);
      const aligned = (bytes.byteOffset + header.dataOffset) % 4 === 0 ? bytes : bytes.slice();
      const base = aligned === bytes ? bytes.byteOffset + header.dataOffset : header.dataOffset;
      for (const [r, sha] of rows.entries()) {
        const row = rowOf.get(sha);
        if (row === undefined || found.has(sha)) continue;
        out.set(new Float32Array(aligned.buffer, base + r * dims * 4, dims), row * dims);
        found.add(sha);
      }
    }
    return found;
  }
}
