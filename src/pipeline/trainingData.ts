/**
 * Gathers a dataset's training matrix, and says what it left out and why: content uploaded under two
 * labels (a conflict), byte-identical copies within a label (kept once, so they cannot leak across
 * validation folds), and images not embedded yet.
 *
 * The rows come from the dataset index (its embedded entries, in key order); the vectors from the
 * packed shards (see PackedEmbeddings.ts), straight into the one float32 matrix, and only contents
 * the shards lack from the per-image cache. {@link compactTrainingEmbeddings} packs those first,
 * so a training reads O(N / rows-per-shard) objects.
 */
import { TrainingDataError } from '../errors.js';
import { sha256Hex } from '../dataset/keys.js';
import { isAccepted, type ObjectRecord } from '../dataset/records.js';
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import { PackedEmbeddings, type CompactionResult } from '../embeddings/PackedEmbeddings.js';
import { collectEntries, type IndexEntry } from '../ports/DatasetIndex.js';
import { textModality } from './datasetModality.js';
import { usableRows } from './usableRows.js';
import { sampleRows } from '../transfer/sampleRows.js';
import type { DataPlane } from './status.js';
import type { ExcludedImage } from '../registry/ModelManifest.js';

export interface TrainingData {
  /** Row-major [n, d]. */
  embeddings: Float32Array;
  dims: [number, number];
  /** Class index per row, into `classNames`. */
  labels: Int32Array;
  classNames: string[];
  /** Object key and content hash per row (for reports and audits). */
  keys: string[];
  sha256s: string[];
  excluded: ExcludedImage[];
  fingerprint: string;
}

/**
 * The dataset's embedded rows, in key order: what a training reads once and hands to
 * {@link compactTrainingEmbeddings} and {@link loadTrainingData} (each reads them itself when not
 * given them; on DynamoDB a scan of 1,000,000 rows is hundreds of requests).
 */
export function readTrainingRows(plane: Pick<DataPlane, 'index'>, dataset: string): Promise<IndexEntry[]> {
  return collectEntries(plane.index, dataset, { state: 'embedded' });
}

/** Packs the dataset's embedded contents that no shard holds yet (incremental; cheap when nothing is new). */
export async function compactTrainingEmbeddings(plane: Pick<DataPlane, 'store' | 'index'>, dataset: string, backboneId: string, rows?: readonly IndexEntry[]): Promise<CompactionResult> {
  const shas = (rows ?? (await readTrainingRows(plane, dataset))).flatMap((e) => (e.sha256 ? [e.sha256] : []));
  return new PackedEmbeddings(plane.store, dataset, backboneId).compact(shas);
}

/**
 * The dataset's training matrix for one backbone. `modality` only words what was left out and why
 * ('image' or 'text': a text encoder's embeddings are cached and packed exactly like images'); a
 * dataset that mixes the two is refused. `rows`: the dataset's embedded rows when already read
 * ({@link readTrainingRows}).
 */
export async function loadTrainingData(
  plane: Pick<DataPlane, 'store' | 'index'>,
  dataset: string,
  backboneId: string,
  options: { modality?: 'image' | 'text'; rows?: readonly IndexEntry[] } = {},
): Promise<TrainingData> {
  const { store } = plane;
  const kind = options.modality ?? 'image';
  const entries = options.rows ?? (await readTrainingRows(plane, dataset));
  textModality(dataset, entries);
  const records = entries.filter(isAccepted);
  const { usable, excluded } = usableRows(records, kind);

  // Vectors: packed shards first, straight into the matrix; the per-image cache for the rest.
  const packed = new PackedEmbeddings(store, dataset, backboneId);
  const manifest = await packed.manifest();
  const cache = new EmbeddingCache(store);
  let d = manifest?.dims;
  const rowOf = new Map(usable.map((r, i) => [r.sha256, i]));
  let matrix = new Float32Array(usable.length * (d ?? 0));
  const found = d === undefined ? new Set<string>() : await packed.fill(rowOf, matrix, d);
  const loose = usable.filter((r) => !found.has(r.sha256));
  const looseVectors = await cache.getMany(backboneId, loose.map((r) => r.sha256));
  for (const [i, vector] of looseVectors.entries()) {
    if (vector === undefined) continue;
    if (d === undefined) {
      d = vector.length;
      matrix = new Float32Array(usable.length * d);
    }
    const r = loose[i] as ObjectRecord & { sha256: string };
    if (vector.length !== d) throw new TrainingDataError(`embedding of ${r.key} has ${vector.length} values, expected ${d}`);
    matrix.set(vector, (rowOf.get(r.sha256) as number) * d);
    found.add(r.sha256);
  }
  // Rows without a vector are dropped, and the matrix closed up over them in place.
  const rows: { key: string; sha256: string; label: string }[] = [];
  const width = d ?? 0;
  usable.forEach((r, i) => {
    if (!found.has(r.sha256)) {
      excluded.push({ key: r.key, reason: `not embedded with backbone ${backboneId} yet` });
      return;
    }
    if (rows.length !== i) matrix.copyWithin(rows.length * width, i * width, (i + 1) * width);
    rows.push({ key: r.key, sha256: r.sha256, label: r.label });
  });

  if (rows.length === 0) {
    throw new TrainingDataError(
      `dataset "${dataset}" has no cached embeddings for backbone ${backboneId} yet: upload ${kind}s under datasets/${dataset}/<label>/ and wait for extraction`,
      { context: { dataset, backbone: backboneId, excluded: excluded.length } },
    );
  }
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.label, (counts.get(row.label) ?? 0) + 1);
  const classNames = [...counts.keys()].sort();
  if (classNames.length < 2) {
    throw new TrainingDataError(`dataset "${dataset}" has only one label (${JSON.stringify(classNames[0])}): a classifier needs at least two`, {
      context: { dataset, labels: classNames },
    });
  }
  const tooFew = classNames.filter((c) => (counts.get(c) ?? 0) < 2);
  if (tooFew.length > 0) {
    throw new TrainingDataError(`label ${tooFew.map((c) => JSON.stringify(c)).join(', ')} of dataset "${dataset}" has fewer than 2 usable ${kind}s; each label needs at least 2`, {
      context: { dataset, labels: tooFew },
    });
  }

  const embeddings = rows.length === usable.length ? matrix : matrix.slice(0, rows.length * width);
  const labels = new Int32Array(rows.length);
  const classIndex = new Map(classNames.map((c, i) => [c, i]));
  rows.forEach((row, i) => {
    labels[i] = classIndex.get(row.label) as number;
  });
  const fingerprint = sha256Hex(
    rows
      .map((r) => `${r.label}\u0000${r.sha256}`)
      .sort()
      .join('\n'),
  );
  return { embeddings, dims: [rows.length, width], labels, classNames, keys: rows.map((r) => r.key), sha256s: rows.map((r) => r.sha256), excluded, fingerprint };
}

/**
 * The rows of `data` that {@link sampleRows} keeps (at most `maxPerClass` per label, seeded), as a
 * training set of their own with the same classes and exclusions. Sampling the result again with
 * the same arguments keeps every row, so an assessment handed it assesses the rows it would have
 * drawn from the whole matrix.
 */
export function sampleTrainingData(data: TrainingData, maxPerClass: number, seed: number): TrainingData {
  const rows = data.keys.map((_, i) => ({ i, label: data.classNames[data.labels[i] as number] as string }));
  const kept = sampleRows(rows, maxPerClass, seed).map((r) => r.i);
  const [, d] = data.dims;
  const embeddings = new Float32Array(kept.length * d);
  kept.forEach((row, i) => embeddings.set(data.embeddings.subarray(row * d, (row + 1) * d), i * d));
  return {
    embeddings,
    dims: [kept.length, d],
    labels: Int32Array.from(kept, (row) => data.labels[row] as number),
    classNames: data.classNames,
    keys: kept.map((row) => data.keys[row] as string),
    sha256s: kept.map((row) => data.sha256s[row] as string),
    excluded: data.excluded,
    fingerprint: data.fingerprint,
  };
}
