/**
 * Per-object dataset records. Each uploaded object gets one small JSON record saying what the
 * pipeline made of it: its label and content hash (so its embedding can be found), or the reason it
 * was refused. One record per object, written whole, means no shared manifest to read-modify-write:
 * concurrent extract workers never lose each other's updates, and a replayed event rewrites the
 * same record.
 */
import { recordKey, recordsPrefix, rejectedKey, REJECTED_PREFIX } from './keys.js';
import { getJson, listAll, putJson, type ObjectStore } from '../ports/ObjectStore.js';
import { mapLimit } from '../util/mapLimit.js';

export interface RecordError {
  code: string;
  message: string;
}

export interface ObjectRecord {
  key: string;
  dataset?: string;
  label?: string;
  file?: string;
  /** ETag of the source object this record describes; a different ETag means the record is stale. */
  etag: string;
  size: number;
  /** Content hash of an accepted image: the embedding cache key. */
  sha256?: string;
  /** Backbone whose embedding of this content is cached. */
  backbone?: string;
  error?: RecordError;
  updatedAt: string;
}

export function isAccepted(record: ObjectRecord): record is ObjectRecord & { sha256: string; label: string } {
  return record.error === undefined && record.sha256 !== undefined && record.label !== undefined;
}

/** Where an object's record lives: under its dataset, or with the rejected keys when it has none. */
function storedAt(dataset: string | undefined, objectKey: string): string {
  return dataset === undefined ? rejectedKey(objectKey) : recordKey(dataset, objectKey);
}

export async function writeRecord(store: ObjectStore, record: ObjectRecord): Promise<void> {
  await putJson(store, storedAt(record.dataset, record.key), record);
}

export async function readRecord(store: ObjectStore, dataset: string | undefined, objectKey: string): Promise<ObjectRecord | undefined> {
  return getJson<ObjectRecord>(store, storedAt(dataset, objectKey));
}

export async function deleteRecord(store: ObjectStore, dataset: string | undefined, objectKey: string): Promise<void> {
  await store.delete(storedAt(dataset, objectKey));
}

async function readAll(store: ObjectStore, prefix: string): Promise<ObjectRecord[]> {
  const infos = await listAll(store, prefix);
  const records = await mapLimit(infos, 16, (info) => getJson<ObjectRecord>(store, info.key));
  // A record deleted between list and get is simply gone.
  return records.filter((r): r is ObjectRecord => r !== undefined).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Every record of a dataset, sorted by object key so training sees a stable order. */
export async function readDatasetRecords(store: ObjectStore, dataset: string): Promise<ObjectRecord[]> {
  return readAll(store, recordsPrefix(dataset));
}

/** Records of keys whose dataset segment itself was unusable. */
export async function readRejectedRecords(store: ObjectStore): Promise<ObjectRecord[]> {
  return readAll(store, REJECTED_PREFIX);
}
