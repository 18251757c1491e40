/**
 * Rules for the names users choose: datasets, labels and file names. They become S3 key segments,
 * folder names under HEADSTART_HOME and URL path segments, so anything that could change the path
 * (separators, `.`/`..`, control characters) is refused, while any Unicode letters, spaces and
 * punctuation are welcome.
 */
import { InvalidNameError } from '../errors.js';

export type NameKind = 'dataset' | 'label' | 'file' | 'version';

/** UTF-8 bytes a segment may take; S3 keys are at most 1024 bytes in all. */
const MAX_BYTES: Record<NameKind, number> = { dataset: 100, label: 200, file: 255, version: 64 };

// C0/C1 control characters, and Unicode line/paragraph separators, never belong in a name.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/**
 * Returns the name in Unicode NFC form, or throws InvalidNameError naming the problem.
 * NFC makes "é" typed on macOS (decomposed) and on Linux (composed) the same label.
 */
export function validateName(raw: string, kind: NameKind): string {
  const name = raw.normalize('NFC');
  const fail = (why: string): never => {
    throw new InvalidNameError(`${kind} name ${JSON.stringify(raw)} ${why}`, { context: { kind } });
  };
  if (name.length === 0) fail('is empty');
  if (name.trim() !== name) fail('starts or ends with white space');
  if (name === '.' || name === '..') fail('is a path segment, not a name');
  if (name.includes('/') || name.includes('\\')) fail('contains a path separator');
  if (CONTROL.test(name)) fail('contains a control character');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_BYTES[kind]) fail(`is ${bytes} bytes long; the limit is ${MAX_BYTES[kind]}`);
  if (kind === 'file' && name.startsWith('.')) fail('is a hidden file');
  // Names starting with '_' are reserved for headstart's own bookkeeping.
  if (kind === 'dataset' && name.startsWith('_')) fail("starts with '_', which is reserved");
  if (kind === 'version' && !/^[A-Za-z0-9._-]+$/.test(name)) fail('is not a version id');
  return name;
}

export function isValidName(raw: string, kind: NameKind): boolean {
  try {
    validateName(raw, kind);
    return true;
  } catch {
    return false;
  }
}
