/**
 * Uploads on one machine go to the server's own route, PUT /datasets/{name}/labels/{label}/objects/{file},
 * which writes through the folder store (so the usual object event starts extraction).
 */
import { datasetObjectKey } from '../../dataset/keys.js';
import type { UploadGrant, UploadRequest, UploadTarget } from '../../ports/UploadTarget.js';

export function objectRoutePath(dataset: string, label: string, file: string): string {
  return `/datasets/${encodeURIComponent(dataset)}/labels/${encodeURIComponent(label)}/objects/${encodeURIComponent(file)}`;
}

export class LocalUploadTarget implements UploadTarget {
  async grant({ dataset, label, file, contentType }: UploadRequest): Promise<UploadGrant> {
    return { key: datasetObjectKey(dataset, label, file), method: 'PUT', url: objectRoutePath(dataset, label, file), headers: { 'content-type': contentType } };
  }
}
