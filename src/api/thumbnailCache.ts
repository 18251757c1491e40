/**
 * Thumbnails for the console's image lists, kept in memory by (key, etag, size): a label's page is
 * polled while extraction runs, and decoding a 12-megapixel photo again on every poll would make
 * each refresh cost seconds. An etag changes with the bytes, so an entry is never stale; the
 * oldest entries go first once the cache is full. An image sharp cannot decode has no thumbnail
 * (null), and that answer is cached too.
 */
import { thumbnailDataUri } from '../report/thumbnails.js';

export const CONSOLE_THUMBNAIL_SIZE = 96;

export class ThumbnailCache {
  private readonly entries = new Map<string, Promise<string | null>>();

  constructor(private readonly capacity = 2000) {}

  get(key: string, etag: string, load: () => Promise<Uint8Array | undefined>, size = CONSOLE_THUMBNAIL_SIZE): Promise<string | null> {
    const id = `${key}\u0000${etag}\u0000${size}`;
    const hit = this.entries.get(id);
    if (hit !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry as the most recently used.
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit;
    }
    const made = (async () => {
      const bytes = await load();
      if (bytes === undefined || bytes.byteLength === 0) return null;
      try {
        return await thumbnailDataUri(bytes, size);
      } catch {
        return null; // not an image (extraction records why); the list still shows the file
      }
    })();
    // A failed read (the store, not the image) is not remembered: the next poll tries again.
    made.catch(() => this.entries.delete(id));
    this.entries.set(id, made);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return made;
  }
}
