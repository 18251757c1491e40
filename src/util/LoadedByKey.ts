/**
 * Values loaded once per key and kept (a backbone by name, say): concurrent callers share one load,
 * and a failed load is forgotten, so the next call tries again.
 */
export class LoadedByKey<T> {
  private readonly loads = new Map<string, Promise<T>>();

  constructor(private readonly load: (key: string) => Promise<T>) {}

  get(key: string): Promise<T> {
    let loading = this.loads.get(key);
    if (loading === undefined) {
      loading = this.load(key);
      this.loads.set(key, loading);
      loading.catch(() => this.loads.delete(key));
    }
    return loading;
  }

  /** Every load started and not failed (yet), to release what they hold. */
  values(): Promise<T>[] {
    return [...this.loads.values()];
  }
}
