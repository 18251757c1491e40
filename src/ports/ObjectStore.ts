/**
 * The object-store port: the bucket. S3 in the cloud, a folder on one machine. Keys are S3 keys
 * (`datasets/<dataset>/<label>/<file>`, `embeddings/...`, `models/...`), never file paths.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Changes whenever the object's bytes change (S3 ETag, or a content hash locally). */
  etag: string;
  lastModified?: Date;
}

export interface PutOptions {
  contentType?: string;
  /**
   * Write only if the object's ETag is still this one (compare-and-swap); otherwise throw
   * PreconditionFailedError and change nothing. S3 If-Match; a lock file locally.
   */
  ifMatch?: string;
  /** Write only if no object has this key yet (S3 If-None-Match: *). */
  ifNoneMatch?: '*';
}

export interface ObjectStore {
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Metadata without the body, or undefined when there is no such key. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Writes the whole object atomically: a reader sees the old bytes or the new ones, never a mix. */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every object whose key starts with `prefix`, in lexicographic key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
}

export async function getJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  const bytes = await store.get(key);
  return bytes === undefined ? undefined : (JSON.parse(new TextDecoder().decode(bytes)) as T);
}

export async function putJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  await store.put(key, JSON.stringify(value, null, 2), { contentType: 'application/json' });
}

export async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out;
}
