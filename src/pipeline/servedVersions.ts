/**
 * The model versions a predictor keeps loaded, images' and texts' alike: one load per (dataset,
 * version), at most `maxModels` kept, the least recently used evicted and released a little later
 * (a request that got it just before may still be running it). Free of onnxruntime, so the text
 * path can use it without loading the image head's runtime.
 */
import { LoadedByKey } from '../util/LoadedByKey.js';

/** Versions a predictor keeps by default: an image version is about 10 MB (head session + out-of-domain reference), a TF-IDF one up to tens of MB. */
export const DEFAULT_MAX_MODELS = 8;
const RELEASE_DELAY_MS = 30_000;

export class ServedVersions<T> {
  private readonly loads: LoadedByKey<T>;

  constructor(load: (dataset: string, version: string) => Promise<T>, release: (model: T) => Promise<unknown>, maxModels = DEFAULT_MAX_MODELS) {
    this.loads = new LoadedByKey((key) => load(...(JSON.parse(key) as [string, string])), {
      capacity: maxModels,
      onEvict: (evicted) => void evicted.then((m) => setTimeout(() => void release(m).catch(() => undefined), RELEASE_DELAY_MS).unref(), () => undefined),
    });
  }

  get(dataset: string, version: string): Promise<T> {
    return this.loads.get(JSON.stringify([dataset, version]));
  }

  /** Versions kept now (loaded or loading). */
  get size(): number {
    return this.loads.size;
  }

  /** Forgets every version and returns their loads, for the caller to release now. */
  takeAll(): Promise<T>[] {
    const all = this.loads.values();
    this.loads.clear();
    return all;
  }
}
