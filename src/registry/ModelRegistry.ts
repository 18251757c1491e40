/**
 * Model versions and the "current" pointer of each dataset.
 *
 * A version is immutable: its files are written first and model.json last, so a version without
 * model.json is incomplete and never listed, loaded or promoted. The pointer (current.json) moves
 * only after the whole version is written, in one PUT, and keeps the versions it replaced so
 * rollback can go back. That PUT is conditional on the pointer being the one read (S3 If-Match, a
 * lock file locally): two promotes racing both land, one after the other, and neither loses the
 * other's history entry.
 */
import { randomBytes } from 'node:crypto';
import { BadRequestError, ModelNotFoundError, PreconditionFailedError } from '../errors.js';
import { currentPointerKey, modelsPrefix, versionPrefix } from '../dataset/keys.js';
import { validateName } from '../dataset/names.js';
import { getJson, listAll, putJson, type ObjectStore } from '../ports/ObjectStore.js';
import type { ModelManifest } from './ModelManifest.js';
import { mapLimit } from '../util/mapLimit.js';

export const MANIFEST_FILE = 'model.json';
/** Racing promotes each retry after losing; this many rounds is far beyond any real contention. */
const MAX_POINTER_ATTEMPTS = 50;

export interface CurrentPointer {
  version: string;
  /** Versions that were current before, oldest first; rollback pops the last. */
  history: string[];
  updatedAt: string;
}

/** Sortable, unique version ids: v20261128T221500123Z-1a2b. */
export function newVersionId(date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:.]/g, '');
  return `v${stamp}-${randomBytes(2).toString('hex')}`;
}

export class ModelRegistry {
  constructor(private readonly store: ObjectStore) {}

  /**
   * Writes a complete version (files, then model.json) and, unless told not to, makes it current.
   * Returns the version id.
   */
  async publish(
    dataset: string,
    manifest: Omit<ModelManifest, 'version' | 'dataset' | 'createdAt'>,
    files: Record<string, Uint8Array | string>,
    options: { promote?: boolean; version?: string } = {},
  ): Promise<ModelManifest> {
    const version = options.version ?? newVersionId();
    const prefix = versionPrefix(dataset, version);
    for (const [name, body] of Object.entries(files)) {
      if (name === MANIFEST_FILE) throw new BadRequestError(`${MANIFEST_FILE} is written by the registry`);
      await this.store.put(prefix + validateName(name, 'file'), body);
    }
    const full: ModelManifest = { ...manifest, dataset, version, createdAt: new Date().toISOString() };
    await putJson(this.store, prefix + MANIFEST_FILE, full);
    if (options.promote ?? true) await this.promote(dataset, version);
    return full;
  }

  /** The manifest of a complete version; ModelNotFoundError otherwise. */
  async manifest(dataset: string, version: string): Promise<ModelManifest> {
    const manifest = await getJson<ModelManifest>(this.store, versionPrefix(dataset, version) + MANIFEST_FILE);
    if (manifest === undefined) throw new ModelNotFoundError(`dataset "${dataset}" has no model version "${version}"`, { context: { dataset, version } });
    return manifest;
  }

  async file(dataset: string, version: string, name: string): Promise<Uint8Array> {
    const bytes = await this.store.get(versionPrefix(dataset, version) + validateName(name, 'file'));
    if (bytes === undefined) throw new ModelNotFoundError(`model ${dataset}/${version} has no file ${name}`, { context: { dataset, version } });
    return bytes;
  }

  async pointer(dataset: string): Promise<CurrentPointer | undefined> {
    return getJson<CurrentPointer>(this.store, currentPointerKey(dataset));
  }

  /** The current version's manifest, or undefined when the dataset has no model yet. */
  async current(dataset: string): Promise<ModelManifest | undefined> {
    const pointer = await this.pointer(dataset);
    return pointer === undefined ? undefined : this.manifest(dataset, pointer.version);
  }

  /** Complete versions, oldest first. */
  async list(dataset: string): Promise<ModelManifest[]> {
    const keys = (await listAll(this.store, modelsPrefix(dataset))).map((o) => o.key).filter((k) => k.endsWith(`/${MANIFEST_FILE}`));
    const manifests = await mapLimit(keys, 8, (key) => getJson<ModelManifest>(this.store, key));
    return manifests.filter((m): m is ModelManifest => m !== undefined).sort((a, b) => (a.version < b.version ? -1 : 1));
  }

  /** Makes a complete version current; the one it replaces is kept for rollback. */
  async promote(dataset: string, version: string): Promise<CurrentPointer> {
    await this.manifest(dataset, version); // refuses incomplete or unknown versions
    return this.movePointer(dataset, (previous) => {
      const history = previous === undefined ? [] : previous.version === version ? previous.history : [...previous.history, previous.version];
      return { version, history, updatedAt: new Date().toISOString() };
    });
  }

  /** Goes back to the version that was current before this one. */
  async rollback(dataset: string): Promise<CurrentPointer> {
    return this.movePointer(dataset, (pointer) => {
      if (pointer === undefined) throw new ModelNotFoundError(`dataset "${dataset}" has no model to roll back`, { context: { dataset } });
      const previous = pointer.history.at(-1);
      if (previous === undefined) {
        throw new BadRequestError(`dataset "${dataset}" has no version before ${pointer.version} to roll back to`, 'no_previous_version', 409);
      }
      return { version: previous, history: pointer.history.slice(0, -1), updatedAt: new Date().toISOString() };
    });
  }

  /**
   * Read, change, write-if-unchanged, until the write lands: the ETag is read before the body, so
   * a body newer than that ETag makes the conditional write fail and the loop read again.
   */
  private async movePointer(dataset: string, next: (current: CurrentPointer | undefined) => CurrentPointer): Promise<CurrentPointer> {
    const key = currentPointerKey(dataset);
    for (let attempt = 0; attempt < MAX_POINTER_ATTEMPTS; attempt++) {
      const info = await this.store.head(key);
      const current = info === undefined ? undefined : await getJson<CurrentPointer>(this.store, key);
      const pointer = next(current);
      try {
        await this.store.put(key, JSON.stringify(pointer, null, 2), { contentType: 'application/json', ...(info === undefined ? { ifNoneMatch: '*' } : { ifMatch: info.etag }) });
        return pointer;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * (attempt + 1)));
      }
    }
    throw new PreconditionFailedError(key, { context: { dataset, reason: `the pointer kept changing over ${MAX_POINTER_ATTEMPTS} attempts` } });
  }
}
