/**
 * A dataset's state as users see it (`headstart status`, `GET /datasets/{name}`): images per label,
 * work still pending, every object that failed and why, and the current model.
 */
import { DatasetNotFoundError } from '../errors.js';
import { datasetPrefix, datasetSegment, DATASETS_PREFIX, modelsPrefix, recordsPrefix } from '../dataset/keys.js';
import { isAccepted, readDatasetRecords, readRejectedRecords } from '../dataset/records.js';
import { listAll, type ObjectStore } from '../ports/ObjectStore.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';

export interface ObjectFailure {
  key: string;
  error: string;
  code: string;
}

export interface DatasetStatus {
  dataset: string;
  /** Accepted images per label (each object counted once). */
  labels: Record<string, number>;
  images: number;
  /** Uploaded objects whose record does not match them yet (extraction still to run). */
  pending: number;
  failures: ObjectFailure[];
  model: null | {
    version: string;
    createdAt: string;
    backbone: string;
    accuracy: number;
    macroF1: number;
    labels: string[];
  };
}

export async function datasetStatus(store: ObjectStore, dataset: string): Promise<DatasetStatus> {
  const [objects, records, current] = await Promise.all([
    listAll(store, datasetPrefix(dataset)),
    readDatasetRecords(store, dataset),
    new ModelRegistry(store).current(dataset),
  ]);
  if (objects.length === 0 && records.length === 0 && current === undefined) await requireDataset(store, dataset);
  const recordByKey = new Map(records.map((r) => [r.key, r]));
  const labels: Record<string, number> = {};
  const failures: ObjectFailure[] = [];
  let pending = 0;
  for (const object of objects) {
    const record = recordByKey.get(object.key.normalize('NFC'));
    if (record === undefined || record.etag !== object.etag) {
      pending++;
      continue;
    }
    if (isAccepted(record)) labels[record.label] = (labels[record.label] ?? 0) + 1;
    else if (record.error !== undefined) failures.push({ key: record.key, error: record.error.message, code: record.error.code });
  }
  return {
    dataset,
    labels,
    images: Object.values(labels).reduce((a, b) => a + b, 0),
    pending,
    failures,
    model:
      current === undefined
        ? null
        : {
            version: current.version,
            createdAt: current.createdAt,
            backbone: current.backbone.id,
            accuracy: current.metrics.accuracy,
            macroF1: current.metrics.macroF1,
            labels: current.labels,
          },
  };
}

/**
 * Throws DatasetNotFoundError unless the dataset has uploads, records or model versions. Routes
 * that find nothing for a name call it to tell "no such dataset" from "nothing yet"; it stops at
 * the first object listed instead of reading the dataset's records.
 */
export async function requireDataset(store: ObjectStore, dataset: string): Promise<void> {
  for (const prefix of [datasetPrefix(dataset), recordsPrefix(dataset), modelsPrefix(dataset)]) {
    for await (const _object of store.list(prefix)) return;
  }
  throw new DatasetNotFoundError(dataset);
}

/** Names of every dataset with uploads, sorted. */
export async function listDatasets(store: ObjectStore): Promise<string[]> {
  const names = new Set<string>();
  for (const object of await listAll(store, DATASETS_PREFIX)) {
    const name = datasetSegment(object.key);
    if (name) names.add(name);
  }
  return [...names].sort();
}

/** Failures of keys whose dataset name itself was unusable (they belong to no dataset). */
export async function rejectedObjects(store: ObjectStore): Promise<ObjectFailure[]> {
  return (await readRejectedRecords(store)).map((r) => ({ key: r.key, error: r.error?.message ?? 'rejected', code: r.error?.code ?? 'rejected' }));
}
