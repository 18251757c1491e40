/**
 * Gathers a dataset's training matrix from its records and the embedding cache, and says what it
 * left out and why: content uploaded under two labels (a conflict), byte-identical copies within a
 * label (kept once, so they cannot leak across validation folds), and images not embedded yet.
 */
import { TrainingDataError } from '../errors.js';
import { sha256Hex } from '../dataset/keys.js';
import { isAccepted, readDatasetRecords } from '../dataset/records.js';
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
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

export async function loadTrainingData(store: ObjectStore, dataset: string, backboneId: string): Promise<TrainingData> {
  const records = (await readDatasetRecords(store, dataset)).filter(isAccepted);
  const excluded: ExcludedImage[] = [];

  const labelsBySha = new Map<string, Set<string>>();
  for (const r of records) labelsBySha.set(r.sha256, (labelsBySha.get(r.sha256) ?? new Set()).add(r.label));

  const firstKeyBySha = new Map<string, string>();
  const usable: typeof records = [];
  for (const r of records) {
    const labels = labelsBySha.get(r.sha256) ?? new Set();
    if (labels.size > 1) {
      excluded.push({ key: r.key, reason: `conflict: the same image is labelled ${[...labels].sort().map((l) => JSON.stringify(l)).join(' and ')}` });
      continue;
    }
    const first = firstKeyBySha.get(r.sha256);
    if (first !== undefined) {
      excluded.push({ key: r.key, reason: `duplicate: byte-identical to ${first}` });
      continue;
    }
    firstKeyBySha.set(r.sha256, r.key);
    usable.push(r);
  }

  const cache = new EmbeddingCache(store);
  const vectors = await cache.getMany(backboneId, usable.map((r) => r.sha256));
  const rows: { key: string; sha256: string; label: string; vector: Float32Array }[] = [];
  usable.forEach((r, i) => {
    const vector = vectors[i];
    if (vector === undefined) excluded.push({ key: r.key, reason: `not embedded with backbone ${backboneId} yet` });
    else rows.push({ key: r.key, sha256: r.sha256, label: r.label, vector });
  });

  if (rows.length === 0) {
    throw new TrainingDataError(
      `dataset "${dataset}" has no cached embeddings for backbone ${backboneId} yet: upload images under datasets/${dataset}/<label>/ and wait for extraction`,
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
    throw new TrainingDataError(`label ${tooFew.map((c) => JSON.stringify(c)).join(', ')} of dataset "${dataset}" has fewer than 2 usable images; each label needs at least 2`, {
      context: { dataset, labels: tooFew },
    });
  }

  const d = rows[0]?.vector.length ?? 0;
  const embeddings = new Float32Array(rows.length * d);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    if (row.vector.length !== d) throw new TrainingDataError(`embedding of ${row.key} has ${row.vector.length} values, expected ${d}`);
    embeddings.set(row.vector, i * d);
    labels[i] = classNames.indexOf(row.label);
  });
  const fingerprint = sha256Hex(
    rows
      .map((r) => `${r.label}\u0000${r.sha256}`)
      .sort()
      .join('\n'),
  );
  return { embeddings, dims: [rows.length, d], labels, classNames, keys: rows.map((r) => r.key), sha256s: rows.map((r) => r.sha256), excluded, fingerprint };
}
