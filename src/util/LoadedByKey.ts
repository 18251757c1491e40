/**
 * Values loaded once per key and kept (a backbone by name, a served model version): concurrent
 * callers share one load, and a failed load is forgotten, so the next call tries again.
 *
 * With a `capacity`, at most that many are kept, the least recently asked for evicted first: a
 * long-lived server asked for many datasets' versions must not keep every one it ever loaded.
 * `onEvict` is given the evicted load, to release what it holds (after a delay: a request that
 * got it just before may still be running it).
 */
export interface LoadedByKeyOptions<T> {
  capacity?: number;
  onEvict?: (loading: Promise<T>, key: string) => void;
}

export class LoadedByKey<T> {
  private readonly loads = new Map<string, Promise<T>>();

  constructor(
    private readonly load: (key: string) => Promise<T>,
    private readonly options: LoadedByKeyOptions<T> = {},
  ) {
    const { capacity } = options;
    if (capacity !== undefined && !(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get(key: string): Promise<T> {
    let loading = this.loads.get(key);
    if (loading === undefined) {
      loading = this.load(key);
      const started = loading;
      // Forgotten only if it is still this load's entry (an evicted one may have been loaded again).
      loading.catch(() => {
        if (this.loads.get(key) === started) this.loads.delete(key);
      });
    }
    // Map order is use order: move this key to the end, then evict from the front.
    this.loads.delete(key);
    this.loads.set(key, loading);
    const capacity = this.options.capacity ?? Number.POSITIVE_INFINITY;
    for (const [oldest, evicted] of this.loads) {
      if (this.loads.size <= capacity) break;
      this.loads.delete(oldest);
      this.options.onEvict?.(evicted, oldest);
    }
    return loading;
  }

  /** How many are kept now (loaded or loading). */
  get size(): number {
    return this.loads.size;
  }

  /** Every load started and not failed (yet), to release what they hold. */
  values(): Promise<T>[] {
    return [...this.loads.values()];
  }

  /** Forgets every load (the caller releases what {@link values} returned). */
  clear(): void {
    this.loads.clear();
  }
}
