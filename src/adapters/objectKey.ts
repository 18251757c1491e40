/**
 * The keys both object-store adapters accept. S3 itself takes almost any key, but the folder store
 * maps keys to paths, so a key that could leave the folder or that two paths could spell is refused.
 * The S3 adapter applies the same rule so that a pipeline that works locally behaves the same in the
 * cloud (a key the folder cannot hold fails with the same error in both).
 */
import { InvalidNameError } from '../errors.js';

/** S3's limit on a key's UTF-8 length. */
export const MAX_KEY_BYTES = 1024;
/** Most file systems' limit on one path segment. */
const MAX_SEGMENT_BYTES = 255;
/** Names the folder store gives its in-progress writes; no key may use them. */
export const TEMP_PREFIX = '.hs-tmp-';

/** Splits a valid key into its `/` segments, or throws InvalidNameError saying what is wrong. */
export function objectKeySegments(key: string): string[] {
  const fail = (why: string): never => {
    throw new InvalidNameError(`object key ${JSON.stringify(key)} ${why}`, { context: { key } });
  };
  if (typeof key !== 'string' || key.length === 0) fail('is empty');
  if (key.includes('\0')) fail('contains a NUL character');
  if (key.includes('\\')) fail('contains a backslash');
  if (key.startsWith('/')) fail('is absolute');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) fail(`is ${bytes} bytes long; the limit is ${MAX_KEY_BYTES}`);
  const segments = key.split('/');
  for (const segment of segments) {
    // An empty segment ("a//b", "a/") has no file-system spelling distinct from its neighbours'.
    if (segment === '') fail('has an empty path segment');
    if (segment === '.' || segment === '..') fail(`has a "${segment}" path segment`);
    if (segment.startsWith(TEMP_PREFIX)) fail(`has a segment starting with the reserved "${TEMP_PREFIX}"`);
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) fail(`has a segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  return segments;
}

export function validateObjectKey(key: string): string {
  objectKeySegments(key);
  return key;
}

/**
 * A list prefix may end anywhere (mid-segment, or with `/`), but may not climb out of the bucket.
 * Returns the complete segments and the partial last one ('' when the prefix ends with `/`).
 */
export function objectPrefixParts(prefix: string): { dirs: string[]; partial: string } {
  if (prefix === '') return { dirs: [], partial: '' };
  const fail = (why: string): never => {
    throw new InvalidNameError(`list prefix ${JSON.stringify(prefix)} ${why}`, { context: { prefix } });
  };
  if (prefix.includes('\0')) fail('contains a NUL character');
  if (prefix.includes('\\')) fail('contains a backslash');
  if (prefix.startsWith('/')) fail('is absolute');
  const segments = prefix.split('/');
  const partial = segments.pop() ?? '';
  for (const segment of segments) {
    if (segment === '.' || segment === '..') fail(`has a "${segment}" path segment`);
  }
  return { dirs: segments, partial };
}

/** S3's listing order: by the keys' UTF-8 bytes (which differs from JS string order past U+FFFF). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
