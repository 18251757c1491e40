/**
 * sha256 of a file, streamed (model files are tens of MB) and remembered per path + mtime + size,
 * so resolving a backbone on every request does not re-read it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

const cache = new Map<string, { mtimeMs: number; size: number; sha256: string }>();

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Cached {@link hashFile}: re-hashes only when the file's mtime or size changed. */
export async function sha256File(file: string): Promise<string> {
  const { mtimeMs, size } = await stat(file);
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs && hit.size === size) return hit.sha256;
  const sha256 = await hashFile(file);
  cache.set(file, { mtimeMs, size, sha256 });
  return sha256;
}
