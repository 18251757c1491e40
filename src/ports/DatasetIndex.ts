/**
 * The dataset index port: one row per uploaded object (what extraction made of it) and, kept with
 * the rows atomically, counters per (dataset, label, state). Aggregates (`status`,
 * `GET /datasets/{name}`, the train route) read the counters, so they cost O(labels), never O(images);
 * training reads the rows of one state as its list of images.
 *
 * Locally it is a table in the home's SQLite file; on AWS a DynamoDB table. Both keep counters exact
 * under at-least-once, reordered and concurrent writes: each row change and its counter deltas commit
 * together, and a write that raced another is retried against the row as it now is.
 */

/** What extraction concluded about an object. Work still queued is counted by the queue, not here. */
export type EntryState = 'embedded' | 'refused';

export interface EntryError {
  code: string;
  message: string;
}

export interface IndexEntry {
  /** The object key in NFC (keys are compared and stored in NFC). */
  key: string;
  /** Undefined for keys whose dataset segment itself is unusable (they belong to no dataset). */
  dataset?: string;
  label?: string;
  file?: string;
  /** ETag of the object this entry describes; a different ETag means the entry is stale. */
  etag: string;
  size: number;
  state: EntryState;
  /** Content hash of an accepted object: the embedding cache key. */
  sha256?: string;
  /** Backbone whose embedding of this content was cached by extraction. */
  backbone?: string;
  error?: EntryError;
  updatedAt: string;
}

export interface DatasetCounts {
  dataset: string;
  /** Embedded objects per label. */
  labels: Record<string, number>;
  embedded: number;
  refused: number;
}

export interface EntryQuery {
  state?: EntryState;
  /** Rows with keys after this one (exclusive), for paging. */
  after?: string;
  /** Most rows to return in all. */
  limit?: number;
}

export interface DatasetIndex {
  get(dataset: string | undefined, key: string): Promise<IndexEntry | undefined>;
  /** Upserts rows (last write wins per key) and moves their counters in the same commit. */
  put(entries: readonly IndexEntry[]): Promise<void>;
  /** Removes rows (missing ones are not an error) and their counts. */
  delete(dataset: string | undefined, keys: readonly string[]): Promise<void>;
  /** Counters of one dataset; undefined when it has no rows. */
  counts(dataset: string): Promise<DatasetCounts | undefined>;
  /** Rows of a dataset in key order (all states unless `state` is given). */
  entries(dataset: string | undefined, query?: EntryQuery): AsyncIterable<IndexEntry>;
  /** Names of the datasets that have at least one row, sorted. */
  datasets(): Promise<string[]>;
  /** Which of these contents have an embedding cached for the backbone. */
  embeddedWith(backboneId: string, sha256s: readonly string[]): Promise<Set<string>>;
  /** Notes that the cache holds these contents' embeddings for the backbone. */
  noteEmbedded(backboneId: string, sha256s: readonly string[]): Promise<void>;
}

/** The dataset a row is filed under: rows of unusable keys share one pseudo-dataset. */
export const NO_DATASET = '';

export async function collectEntries(index: DatasetIndex, dataset: string | undefined, query?: EntryQuery): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const entry of index.entries(dataset, query)) out.push(entry);
  return out;
}
