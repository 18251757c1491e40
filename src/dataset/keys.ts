/**
 * The bucket's key layout, in one place. Every module builds and parses keys through here.
 *
 *   datasets/<dataset>/<label>/<file>          user uploads (the only prefix that emits events)
 *   embeddings/<backboneId>/<sha256>.f32       embedding cache, keyed by backbone and image content
 *   packed/<dataset>/<backboneId>/...          embeddings of one dataset packed into .npy shards (see PackedEmbeddings.ts)
 *   models/<dataset>/<version>/...             immutable model versions (model.json is written last)
 *   models/<dataset>/current.json              the pointer to the served version
 *   jobs/<id>.json                             training job state
 */
import { createHash } from 'node:crypto';
import { InvalidNameError } from '../errors.js';
import { validateName } from './names.js';

export const DATASETS_PREFIX = 'datasets/';

export interface DatasetObjectKey {
  dataset: string;
  label: string;
  file: string;
}

/** True for keys that belong to the upload area (and so to extraction). */
export function isDatasetKey(key: string): boolean {
  return key.startsWith(DATASETS_PREFIX);
}

/**
 * Splits `datasets/<dataset>/<label>/<file>`; throws InvalidNameError for any other shape or for a
 * bad segment. Names are compared in NFC, so the caller should use the returned parts.
 */
export function parseDatasetKey(key: string): DatasetObjectKey {
  if (!isDatasetKey(key)) throw new InvalidNameError(`key ${JSON.stringify(key)} is not under ${DATASETS_PREFIX}`);
  const parts = key.slice(DATASETS_PREFIX.length).split('/');
  if (parts.length !== 3) {
    throw new InvalidNameError(
      `key ${JSON.stringify(key)} must look like datasets/<dataset>/<label>/<file> (found ${parts.length} segments after datasets/)`,
    );
  }
  const [dataset, label, file] = parts as [string, string, string];
  return { dataset: validateName(dataset, 'dataset'), label: validateName(label, 'label'), file: validateName(file, 'file') };
}

/** The dataset segment of a key under datasets/, spelled as in the key and not validated. */
export function datasetSegment(key: string): string | undefined {
  return isDatasetKey(key) ? key.slice(DATASETS_PREFIX.length).split('/')[0] : undefined;
}

/** The dataset segment of a key, if it has a valid one (used to file errors for otherwise bad keys). */
export function datasetOfKey(key: string): string | undefined {
  const segment = datasetSegment(key);
  try {
    return segment === undefined ? undefined : validateName(segment, 'dataset');
  } catch {
    return undefined;
  }
}

export function datasetObjectKey(dataset: string, label: string, file: string): string {
  return `${DATASETS_PREFIX}${validateName(dataset, 'dataset')}/${validateName(label, 'label')}/${validateName(file, 'file')}`;
}

export function datasetPrefix(dataset: string): string {
  return `${DATASETS_PREFIX}${validateName(dataset, 'dataset')}/`;
}

export function embeddingKey(backboneId: string, contentSha256: string): string {
  return `embeddings/${backboneId}/${contentSha256}.f32`;
}

/** Where a dataset's packed embedding shards for one backbone live (manifest.json + shard files). */
export function packedPrefix(dataset: string, backboneId: string): string {
  return `packed/${validateName(dataset, 'dataset')}/${backboneId}/`;
}

export function modelsPrefix(dataset: string): string {
  return `models/${validateName(dataset, 'dataset')}/`;
}

export function versionPrefix(dataset: string, version: string): string {
  return `${modelsPrefix(dataset)}${validateName(version, 'version')}/`;
}

export function currentPointerKey(dataset: string): string {
  return `${modelsPrefix(dataset)}current.json`;
}

export function jobKey(id: string): string {
  return `jobs/${validateName(id, 'version')}.json`;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
