/**
 * A dataset's state as users see it (`headstart status`, `GET /datasets/{name}`): images per label,
 * work still pending, the objects that failed and why, and the current model. Everything comes
 * from the index's counters and the registry's pointer: O(labels + failures shown), never O(images).
 */
import { DatasetNotFoundError } from '../errors.js';
import { modelsPrefix } from '../dataset/keys.js';
import { collectEntries, type DatasetIndex } from '../ports/DatasetIndex.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';

/** What the aggregates read: the bucket (model versions), the index, and the queue's pending count. */
export interface DataPlane {
  store: ObjectStore;
  index: DatasetIndex;
  /**
   * Uploads of the dataset waiting for extraction. Locally the exact count of queued work; on AWS
   * (where SQS cannot count per dataset) absent, and pending is 0 at this level.
   */
  pendingFor?: (dataset: string) => Promise<number>;
}

export interface ObjectFailure {
  key: string;
  error: string;
  code: string;
}

/** Failures listed in full up to this many; `refused` always has the total. */
export const MAX_LISTED_FAILURES = 1_000;

export interface DatasetStatus {
  dataset: string;
  /** Accepted images per label (each object counted once). */
  labels: Record<string, number>;
  images: number;
  /** Uploaded objects whose extraction is still to run. */
  pending: number;
  /** Objects refused, in all (the list below stops at MAX_LISTED_FAILURES). */
  refused: number;
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

export async function datasetStatus(plane: DataPlane, dataset: string): Promise<DatasetStatus> {
  const [counts, pending, current] = await Promise.all([
    plane.index.counts(dataset),
    plane.pendingFor?.(dataset) ?? Promise.resolve(0),
    new ModelRegistry(plane.store).current(dataset),
  ]);
  if (counts === undefined && pending === 0 && current === undefined) await requireDataset(plane, dataset);
  const failures =
    counts !== undefined && counts.refused > 0
      ? (await collectEntries(plane.index, dataset, { state: 'refused', limit: MAX_LISTED_FAILURES })).map(toFailure)
      : [];
  return {
    dataset,
    labels: counts?.labels ?? {},
    images: counts?.embedded ?? 0,
    pending,
    refused: counts?.refused ?? 0,
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
 * Throws DatasetNotFoundError unless the dataset has index rows, pending uploads or model versions.
 * Routes that find nothing for a name call it to tell "no such dataset" from "nothing yet".
 */
export async function requireDataset(plane: DataPlane, dataset: string): Promise<void> {
  if ((await plane.index.counts(dataset)) !== undefined) return;
  if (((await plane.pendingFor?.(dataset)) ?? 0) > 0) return;
  for await (const _object of plane.store.list(modelsPrefix(dataset))) return;
  throw new DatasetNotFoundError(dataset);
}

/** Names of every dataset with uploads, sorted. */
export async function listDatasets(plane: DataPlane): Promise<string[]> {
  return plane.index.datasets();
}

/** Failures of keys whose dataset name itself was unusable (they belong to no dataset). */
export async function rejectedObjects(plane: DataPlane): Promise<ObjectFailure[]> {
  return (await collectEntries(plane.index, undefined, { state: 'refused', limit: MAX_LISTED_FAILURES })).map(toFailure);
}

function toFailure(entry: { key: string; error?: { code: string; message: string } }): ObjectFailure {
  return { key: entry.key, error: entry.error?.message ?? 'refused', code: entry.error?.code ?? 'refused' };
}

