/**
 * Extraction: turns object events for `datasets/` into cached embeddings and dataset index entries (with their counters).
 * The Lambda edge (SQS) and the local runtime (in-process queue) both call {@link extractObjects}.
 *
 * Events are hints, not facts: S3 and SQS deliver at least once and in any order, so for each key
 * we look at the object as it is NOW (present or gone, and its bytes) and make the index entry agree with
 * it. Replaying, duplicating or reordering events therefore converges on the same state.
 */
import { describeError, InvalidImageError, InvalidNameError, InvalidTextError, isHeadstartError } from '../errors.js';
import { datasetOfKey, datasetSegment, DATASETS_PREFIX, isDatasetKey, parseDatasetKey, sha256Hex, type DatasetObjectKey } from '../dataset/keys.js';
import { isValidName } from '../dataset/names.js';
import type { DatasetIndex, EntryError, IndexEntry } from '../ports/DatasetIndex.js';
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import type { ObjectEvent } from '../ports/ObjectEvent.js';
import type { ObjectInfo, ObjectStore } from '../ports/ObjectStore.js';
import { mapLimit } from '../util/mapLimit.js';

/**
 * What extraction needs from a backbone: its id and a batched, per-object-fallible embed. A text
 * encoder fits the same shape (the objects are UTF-8 texts; see src/text/textEmbedders.ts).
 */
export interface Embedder {
  readonly id: string;
  embedImages(images: Uint8Array[]): Promise<Array<Float32Array | InvalidImageError | InvalidTextError>>;
}

export type ExtractStatus = 'embedded' | 'cached' | 'rejected' | 'removed' | 'ignored' | 'failed';

export interface ExtractOutcome {
  key: string;
  status: ExtractStatus;
  /** For `rejected`: the recorded reason. For `failed`: the transient error that will be retried. */
  error?: EntryError;
}

export interface ExtractResult {
  /** Event ids to hand back to the queue for another try (SQS batchItemFailures). */
  failedIds: string[];
  outcomes: ExtractOutcome[];
}

export interface ExtractDeps {
  store: ObjectStore;
  /** Where each object's outcome is recorded, with the dataset's counters, in the same step. */
  index: DatasetIndex;
  embedder: Embedder;
  /** Receives a line per transient failure; the Lambda passes Powertools' logger. */
  warn?: (message: string, context: Record<string, unknown>) => void;
}

/** How many times a key is re-read when it changes under us before giving the event back. */
const MAX_PASSES = 3;

interface Pending {
  key: string;
  parsed: DatasetObjectKey;
  info: ObjectInfo;
  bytes: Uint8Array;
  sha256: string;
  /** The index entry as read while resolving the key, so the write that follows needs no second read. */
  existing: IndexEntry | undefined;
}

type Resolution = { done: ExtractOutcome } | { pending: Pending } | 'changed';

export async function extractObjects(events: readonly ObjectEvent[], deps: ExtractDeps): Promise<ExtractResult> {
  // Keys are used as the store spells them: an object uploaded with an NFD name ("cafe\u0301",
  // as macOS writes it) exists under that spelling only. Records and labels are NFC.
  const idsByKey = new Map<string, string[]>();
  for (const event of events) idsByKey.set(event.key, [...(idsByKey.get(event.key) ?? []), event.id]);

  const outcomes = new Map<string, ExtractOutcome>();
  let keys = [...idsByKey.keys()];
  for (let pass = 0; pass < MAX_PASSES && keys.length > 0; pass++) {
    const results = await reconcile(keys, deps);
    keys = [];
    for (const [key, outcome] of results) {
      if (outcome === 'changed') keys.push(key);
      else outcomes.set(key, outcome);
    }
  }
  // Still changing after several passes: let the queue bring it back later.
  for (const key of keys) outcomes.set(key, { key, status: 'failed', error: { code: 'changing', message: 'object kept changing while it was processed' } });

  const failedIds: string[] = [];
  for (const [key, outcome] of outcomes) {
    if (outcome.status === 'failed') failedIds.push(...(idsByKey.get(key) ?? []));
  }
  return { failedIds, outcomes: [...outcomes.values()] };
}

/** One pass over the keys: returns each key's outcome, or 'changed' when it moved during the pass. */
async function reconcile(keys: string[], deps: ExtractDeps): Promise<Map<string, ExtractOutcome | 'changed'>> {
  const cache = new EmbeddingCache(deps.store);
  const results = new Map<string, ExtractOutcome | 'changed'>();
  const fail = (key: string, error: unknown): void => {
    deps.warn?.('extract failed, will retry', { key, error: describeError(error) });
    results.set(key, { key, status: 'failed', error: { code: isHeadstartError(error) ? error.code : 'transient', message: describeError(error) } });
  };

  const resolutions = await mapLimit(keys, 8, async (key) => {
    try {
      return [key, await resolve(key, deps, cache)] as const;
    } catch (error) {
      fail(key, error);
      return [key, undefined] as const;
    }
  });

  const pending: Pending[] = [];
  for (const [key, resolution] of resolutions) {
    if (resolution === undefined) continue;
    if (resolution === 'changed') results.set(key, 'changed');
    else if ('done' in resolution) results.set(key, resolution.done);
    else pending.push(resolution.pending);
  }
  if (pending.length === 0) return results;

  // One backbone run for the whole batch, and each distinct content embedded once.
  const unique = [...new Map(pending.map((p) => [p.sha256, p.bytes])).entries()];
  let embedded: Array<Float32Array | InvalidImageError | InvalidTextError>;
  try {
    embedded = await deps.embedder.embedImages(unique.map(([, bytes]) => bytes));
  } catch (error) {
    for (const p of pending) fail(p.key, error);
    return results;
  }
  const bySha = new Map(unique.map(([sha], i) => [sha, embedded[i]]));

  await mapLimit(pending, 8, async (p) => {
    try {
      const result = bySha.get(p.sha256);
      if (result instanceof InvalidImageError || result instanceof InvalidTextError) {
        const error = { code: result.reason, message: result.message };
        await writeIfChanged(deps.index, baseEntry(p.key, p.parsed, p.info, { state: 'refused', error }), p.existing);
        results.set(p.key, (await stillSame(deps.store, p.key, p.info)) ? { key: p.key, status: 'rejected', error } : 'changed');
        return;
      }
      if (!(result instanceof Float32Array)) throw new Error(`embedder returned nothing for ${p.key}`);
      await cache.put(deps.embedder.id, p.sha256, result);
      await deps.index.noteEmbedded(deps.embedder.id, [p.sha256]);
      await writeIfChanged(deps.index, baseEntry(p.key, p.parsed, p.info, { state: 'embedded', sha256: p.sha256, backbone: deps.embedder.id }), p.existing);
      results.set(p.key, (await stillSame(deps.store, p.key, p.info)) ? { key: p.key, status: 'embedded' } : 'changed');
    } catch (error) {
      fail(p.key, error);
    }
  });
  return results;
}

async function resolve(key: string, deps: ExtractDeps, cache: EmbeddingCache): Promise<Resolution> {
  const { store, index, embedder } = deps;
  if (!isDatasetKey(key)) return { done: { key, status: 'ignored' } };

  const info = await headOrListed(store, key);
  let parsed: DatasetObjectKey;
  try {
    parsed = parseDatasetKey(key);
  } catch (error) {
    // A key we cannot use (bad label, wrong depth): record why, so `status` shows it, and move on.
    const dataset = datasetOfKey(key);
    if (info === undefined) return removed(deps, dataset, key);
    const recordError = { code: isHeadstartError(error) ? error.code : 'invalid_key', message: describeError(error) };
    const entry: IndexEntry = { key: key.normalize('NFC'), ...(dataset === undefined ? {} : { dataset }), etag: info.etag, size: info.size, state: 'refused', error: recordError, updatedAt: now() };
    await writeIfChanged(index, entry, await index.get(entry.dataset, entry.key));
    return (await stillSame(store, key, info)) ? { done: { key, status: 'rejected', error: recordError } } : 'changed';
  }

  if (info === undefined) return removed(deps, parsed.dataset, key);

  // A duplicate delivery of an event we already handled: the entry matches the object as it is.
  const existing = await index.get(parsed.dataset, key.normalize('NFC'));
  if (existing !== undefined && existing.etag === info.etag && existing.label === parsed.label) {
    if (existing.error !== undefined) return { done: { key, status: 'rejected', error: existing.error } };
    if (existing.sha256 !== undefined && existing.backbone === embedder.id && (await cache.has(embedder.id, existing.sha256))) {
      return { done: { key, status: 'cached' } };
    }
  }

  const bytes = await store.get(key);
  if (bytes === undefined) return removed(deps, parsed.dataset, key);
  const sha256 = sha256Hex(bytes);
  if (await cache.has(embedder.id, sha256)) {
    await index.noteEmbedded(embedder.id, [sha256]);
    await writeIfChanged(index, baseEntry(key, parsed, info, { state: 'embedded', sha256, backbone: embedder.id }), existing);
    return (await stillSame(store, key, info)) ? { done: { key, status: 'cached' } } : 'changed';
  }
  return { pending: { key, parsed, info, bytes, sha256, existing } };
}

/** The object is gone: drop its entry, unless it came back while we did (then look again). */
async function removed(deps: ExtractDeps, dataset: string | undefined, key: string): Promise<Resolution> {
  await deps.index.delete(dataset, [key.normalize('NFC')]);
  return (await headOrListed(deps.store, key)) === undefined ? { done: { key, status: 'removed' } } : 'changed';
}

/**
 * The object's metadata. S3 holds keys the stores refuse to address ("..", "\\", "a//b" segments):
 * such a key can never be extracted, but it must still get a recorded reason (not retries until
 * the dead-letter queue), so its metadata comes from the listing of its dataset instead.
 */
async function headOrListed(store: ObjectStore, key: string): Promise<ObjectInfo | undefined> {
  try {
    return await store.head(key);
  } catch (error) {
    if (!(error instanceof InvalidNameError)) throw error;
  }
  const segment = datasetSegment(key) ?? '';
  const prefix = isValidName(segment, 'dataset') ? `${DATASETS_PREFIX}${segment}/` : DATASETS_PREFIX;
  for await (const info of store.list(prefix)) if (info.key === key) return info;
  return undefined;
}

function baseEntry(key: string, parsed: DatasetObjectKey, info: ObjectInfo, extra: Pick<IndexEntry, 'state'> & Partial<IndexEntry>): IndexEntry {
  return { key: key.normalize('NFC'), dataset: parsed.dataset, label: parsed.label, file: parsed.file, etag: info.etag, size: info.size, ...extra, updatedAt: now() };
}

/** Skips the write when only the timestamp would change, so duplicate events cost no index write. */
async function writeIfChanged(index: DatasetIndex, entry: IndexEntry, existing: IndexEntry | undefined): Promise<void> {
  if (existing !== undefined && sameEntry(existing, entry)) return;
  await index.put([entry]);
}

function sameEntry(a: IndexEntry, b: IndexEntry): boolean {
  const strip = ({ updatedAt: _ignored, ...rest }: IndexEntry): string => canonicalJson(rest);
  return strip(a) === strip(b);
}

/**
 * JSON with every object's keys sorted, at every depth. (A key-list replacer would not do: it
 * filters nested objects by the top-level names too, so `error: {code, message}` came out as `{}`
 * and a changed error compared equal.)
 */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}

/** Re-reads the object after writing its record: if it changed meanwhile, the record may be stale. */
async function stillSame(store: ObjectStore, key: string, info: ObjectInfo): Promise<boolean> {
  const now = await headOrListed(store, key);
  return now !== undefined && now.etag === info.etag;
}

function now(): string {
  return new Date().toISOString();
}
