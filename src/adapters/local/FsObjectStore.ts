/**
 * The object-store port over a folder: the local "bucket". A key `a/b/c.jpg` is the file
 * `<root>/a/b/c.jpg`, so a user can also look at (and drop files into) the folder by hand.
 *
 * Like S3 with event notifications, it reports puts and deletes under a prefix (`datasets/` by
 * default) to its listeners; the local runtime forwards them to the in-process queue.
 *
 * ETags are the MD5 of the content, as S3 gives for a single-part upload, so the same bytes have the
 * same ETag in both stores. They are computed when first asked for and remembered per file identity
 * (inode, size, mtime, ctime): a put seeds the memo, a `head` of a file copied in by hand hashes it
 * once. Nothing is written beside the objects, so the folder holds exactly the user's keys.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, type BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidNameError, PreconditionFailedError, describeError } from '../../errors.js';
import type { ObjectEvent } from '../../ports/ObjectEvent.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../../ports/ObjectStore.js';
import { compareKeys, objectKeySegments, objectPrefixParts, TEMP_PREFIX } from '../objectKey.js';

/** A listener may be async; its rejection is reported, never thrown into the put or delete. */
export type ObjectEventListener = (event: ObjectEvent) => void | Promise<void>;

export interface FsObjectStoreOptions {
  /** Puts and deletes of keys starting with this prefix are reported to listeners. Default `datasets/`. */
  eventPrefix?: string;
  /**
   * Flush each object's bytes to disk before it becomes visible (default true), so a crash cannot
   * leave a complete-looking but empty file behind.
   */
  fsync?: boolean;
  /** Where listener errors go; listeners must not be able to fail a put. Default console.error. */
  onListenerError?: (error: unknown, event: ObjectEvent) => void;
}

interface EtagMemo {
  identity: string;
  etag: string;
}

/** Beyond this many remembered ETags the memo is cleared: it is a cache, the files are the truth. */
const MAX_MEMO_ENTRIES = 100_000;

export class FsObjectStore implements ObjectStore {
  readonly root: string;
  private readonly eventPrefix: string;
  private readonly fsync: boolean;
  private readonly onListenerError: (error: unknown, event: ObjectEvent) => void;
  private readonly listeners = new Set<ObjectEventListener>();
  private readonly etags = new Map<string, EtagMemo>();

  constructor(root: string, options: FsObjectStoreOptions = {}) {
    this.root = path.resolve(root);
    this.eventPrefix = options.eventPrefix ?? 'datasets/';
    this.fsync = options.fsync ?? true;
    this.onListenerError =
      options.onListenerError ??
      ((error, event) => console.error(`object event listener failed for ${event.kind} ${event.key}: ${describeError(error)}`));
  }

  /** Subscribes to object events; returns the function that unsubscribes. */
  onEvent(listener: ObjectEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const file = this.pathOf(key);
    try {
      const bytes = await fs.readFile(file);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    let stats: BigIntStats;
    try {
      stats = await fs.stat(file, { bigint: true });
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!stats.isFile()) return undefined;
    return this.infoOf(key, file, stats);
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    if (options.ifMatch === undefined && options.ifNoneMatch === undefined) return this.putNow(key, body);
    // Compare-and-swap across processes: the check and the write happen under an exclusive lock
    // file beside the object (named like a temp file, so listings never show it).
    const file = this.pathOf(key);
    await this.mkdirFor(key, path.dirname(file));
    const release = await lockFile(path.join(path.dirname(file), `${TEMP_PREFIX}lock-${path.basename(file)}`));
    try {
      const now = await this.head(key);
      const ok = options.ifNoneMatch === '*' ? now === undefined : now !== undefined && now.etag === options.ifMatch;
      if (!ok) throw new PreconditionFailedError(key);
      await this.putNow(key, body);
    } finally {
      await release();
    }
  }

  private async putNow(key: string, body: Uint8Array | string): Promise<void> {
    const file = this.pathOf(key);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const etag = md5Hex(bytes);
    const dir = path.dirname(file);
    const temp = path.join(dir, `${TEMP_PREFIX}${randomUUID()}`);
    // A concurrent delete may prune the (momentarily empty) folder between mkdir and the write;
    // creating it again and retrying is all that is needed.
    let written: BigIntStats;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.mkdirFor(key, dir);
        written = await this.writeTemp(temp, bytes);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5) continue;
        throw error;
      }
    }
    try {
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      if (isErrno(error, 'EISDIR') || isErrno(error, 'ENOTDIR')) {
        throw new InvalidNameError(`object key ${JSON.stringify(key)} is a folder of other objects in ${this.root}`, {
          cause: error,
          context: { key },
        });
      }
      throw error;
    }
    // The stats of the file we wrote, not of `file` now: a concurrent put may already have replaced it.
    this.remember(file, written, etag);
    this.emit('created', key);
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
    } catch (error) {
      // EISDIR/EPERM: the key names a folder of other objects, not an object: nothing to delete.
      if (isMissing(error) || isErrno(error, 'EISDIR') || isErrno(error, 'EPERM')) return;
      throw error;
    }
    this.etags.delete(file);
    await this.pruneEmptyParents(path.dirname(file));
    this.emit('removed', key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const { dirs, partial } = objectPrefixParts(prefix);
    // No valid key has an empty segment, so "a//" matches nothing (path.join would collapse it).
    if (dirs.some((segment) => segment === '')) return;
    yield* this.walk(dirs.length === 0 ? '' : `${dirs.join('/')}/`, partial);
  }

  /**
   * Depth-first over one folder, entries ordered by their key text (a folder `x` sorts as `x/`),
   * which yields every key in S3's byte order without collecting the whole tree first.
   */
  private async *walk(keyPrefix: string, namePrefix: string): AsyncGenerator<ObjectInfo> {
    const dir = path.join(this.root, ...keyPrefix.split('/').filter(Boolean));
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const children: Array<{ sortKey: string; name: string; isDir: boolean }> = [];
    for (const entry of entries) {
      if (!entry.name.startsWith(namePrefix) || entry.name.startsWith(TEMP_PREFIX)) continue;
      // Symbolic links are skipped: they could point outside the bucket or loop.
      if (entry.isDirectory()) children.push({ sortKey: `${entry.name}/`, name: entry.name, isDir: true });
      else if (entry.isFile()) children.push({ sortKey: entry.name, name: entry.name, isDir: false });
    }
    children.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const child of children) {
      const key = `${keyPrefix}${child.name}`;
      if (child.isDir) {
        yield* this.walk(`${key}/`, '');
        continue;
      }
      const file = path.join(dir, child.name);
      let stats: BigIntStats;
      try {
        stats = await fs.stat(file, { bigint: true });
      } catch (error) {
        if (isMissing(error)) continue; // deleted while we listed
        throw error;
      }
      const info = await this.infoOf(key, file, stats).catch((error: unknown) => {
        if (isMissing(error)) return undefined;
        throw error;
      });
      if (info) yield info;
    }
  }

  private pathOf(key: string): string {
    const file = path.join(this.root, ...objectKeySegments(key));
    // Belt and braces: the segment rules already keep keys inside the root.
    if (!file.startsWith(this.root + path.sep)) {
      throw new InvalidNameError(`object key ${JSON.stringify(key)} leaves the bucket folder`, { context: { key } });
    }
    return file;
  }

  private async mkdirFor(key: string, dir: string): Promise<void> {
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (error) {
      if (isErrno(error, 'EEXIST') || isErrno(error, 'ENOTDIR')) {
        throw new InvalidNameError(`object key ${JSON.stringify(key)} needs a folder where an object already is, in ${this.root}`, {
          cause: error,
          context: { key },
        });
      }
      throw error;
    }
  }

  /** Writes the bytes to a new file and returns its stats (the same inode the rename will publish). */
  private async writeTemp(temp: string, bytes: Uint8Array): Promise<BigIntStats> {
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      if (this.fsync) await handle.datasync();
      return await handle.stat({ bigint: true });
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fs.rm(temp, { force: true });
      throw error;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private async pruneEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.root && current.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(current);
      } catch {
        return; // not empty (or already gone, or in use): stop climbing
      }
      current = path.dirname(current);
    }
  }

  private async infoOf(key: string, file: string, stats: BigIntStats): Promise<ObjectInfo> {
    const identity = identityOf(stats);
    let etag = this.etags.get(file)?.identity === identity ? this.etags.get(file)?.etag : undefined;
    if (etag === undefined) {
      etag = await md5OfFile(file);
      // Only trust the hash if the file did not change while we read it.
      const after = await fs.stat(file, { bigint: true });
      if (identityOf(after) === identity) this.remember(file, after, etag);
    }
    return { key, size: Number(stats.size), etag, lastModified: new Date(Number(stats.mtimeMs)) };
  }

  private remember(file: string, stats: BigIntStats, etag: string): void {
    if (this.etags.size >= MAX_MEMO_ENTRIES) this.etags.clear();
    this.etags.set(file, { identity: identityOf(stats), etag });
  }

  private emit(kind: ObjectEvent['kind'], key: string): void {
    if (!key.startsWith(this.eventPrefix) || this.listeners.size === 0) return;
    const event: ObjectEvent = { id: randomUUID(), kind, key };
    for (const listener of this.listeners) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((error: unknown) => this.onListenerError(error, event));
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }
}

// Not ctime: the rename that publishes a put changes it. Every put is a new inode anyway.
function identityOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

async function md5OfFile(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** The key is absent: no file, a folder in its place, or a file where a folder of the path should be. */
function isMissing(error: unknown): boolean {
  return isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR') || isErrno(error, 'EISDIR');
}

/** A lock older than this is taken to belong to a process that died holding it. */
const STALE_LOCK_MS = 30_000;

/** Takes an exclusive lock file (O_EXCL create), waiting for another holder; returns its release. */
async function lockFile(lock: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await fs.open(lock, 'wx');
      await handle.close();
      return () => fs.rm(lock, { force: true });
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
      const stats = await fs.stat(lock).catch(() => undefined);
      if (stats !== undefined && Date.now() - stats.mtimeMs > STALE_LOCK_MS) await fs.rm(lock, { force: true });
      else await new Promise((resolve) => setTimeout(resolve, Math.min(100, 2 + attempt * 5)));
    }
  }
}
