/**
 * Routes over a dataset's uploaded objects, for the console (and anyone else): labels, a label's
 * images with thumbnails, upload, delete, move to another label. Every write goes through the
 * ObjectStore, so the same object events that follow `headstart upload` or `aws s3 cp` keep the
 * extraction records right: a move is a copy to the new key (a created event) and a delete of the
 * old one (a removed event).
 *
 *   GET    /datasets/{name}/labels                                  labels with their object counts
 *   DELETE /datasets/{name}/labels/{label}                          removes every object of the label
 *   GET    /datasets/{name}/labels/{label}/objects?limit=&after=    a page of objects with thumbnails
 *   PUT    /datasets/{name}/labels/{label}/objects/{file}           the bytes (local only; on AWS see uploads)
 *   DELETE /datasets/{name}/labels/{label}/objects/{file}
 *   POST   /datasets/{name}/labels/{label}/objects/{file}/move      {"label": "<new label>"}
 *   POST   /datasets/{name}/uploads                                 {"files": [{"label","file","contentType"}]} -> where to PUT each
 *
 * A label exists only while it has objects: the store holds no marker for an empty label (a marker
 * under datasets/ would be an upload that extraction refuses). The console keeps a label it just
 * created on the page until its first image arrives.
 */
import { BadRequestError, HeadstartError, NotFoundError } from '../errors.js';
import { datasetObjectKey, datasetPrefix, parseDatasetKey } from '../dataset/keys.js';
import { validateName } from '../dataset/names.js';
import { DEFAULT_LIMITS } from '../image/validate.js';
import { LocalUploadTarget } from '../adapters/local/LocalUploadTarget.js';
import type { ObjectInfo } from '../ports/ObjectStore.js';
import { requireDataset } from '../pipeline/status.js';
import { mapLimit } from '../util/mapLimit.js';
import { json, type ApiContext, type HttpRequest, type HttpResponse, type Route } from './router.js';
import { ThumbnailCache } from './thumbnailCache.js';
import { jsonBody, queryParams } from './requestParts.js';

export const DEFAULT_PAGE_SIZE = 24;
export const MAX_PAGE_SIZE = 100;
/** Upload grants per request: a folder drop is sent in batches of this many files. */
export const MAX_UPLOADS_PER_REQUEST = 100;

const defaultThumbnails = new ThumbnailCache();
const localUploads = new LocalUploadTarget();

function names(params: string[]): { dataset: string; label: string; file?: string } {
  const [dataset, label, file] = params;
  return {
    dataset: validateName(dataset ?? '', 'dataset'),
    label: validateName(label ?? '', 'label'),
    ...(file === undefined ? {} : { file: validateName(file, 'file') }),
  };
}

function objectNotFound(key: string): NotFoundError {
  return new NotFoundError(`object "${key}" does not exist`, 'object_not_found', { context: { key } });
}

async function labelObjects(context: ApiContext, dataset: string, label: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of context.store.list(`${datasetPrefix(dataset)}${label}/`)) out.push(info);
  return out;
}

async function listLabels(_r: HttpRequest, [name]: string[], context: ApiContext): Promise<HttpResponse> {
  const dataset = validateName(name ?? '', 'dataset');
  const counts = new Map<string, number>();
  for await (const info of context.store.list(datasetPrefix(dataset))) {
    let label: string;
    try {
      label = parseDatasetKey(info.key).label;
    } catch {
      continue; // a key of another shape is not a label's image (extraction records why)
    }
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  if (counts.size === 0) await requireDataset(context, dataset);
  return json(200, { dataset, labels: [...counts].map(([label, objects]) => ({ label, objects })) });
}

async function listObjects(request: HttpRequest, params: string[], context: ApiContext): Promise<HttpResponse> {
  const { dataset, label } = names(params);
  const query = queryParams(request);
  const limitText = query.get('limit');
  const limit = limitText === null ? DEFAULT_PAGE_SIZE : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new BadRequestError(`query parameter limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${JSON.stringify(limitText)}`, 'invalid_limit');
  }
  const after = query.get('after');
  if (after !== null) validateName(after, 'file');
  const all = await labelObjects(context, dataset, label);
  if (all.length === 0) await requireDataset(context, dataset); // an unknown dataset is a 404; an empty label is an empty list
  // Keys come back in lexicographic order, so the cursor is the last file name of the page before.
  const start = after === null ? 0 : all.findIndex((o) => fileOf(o.key) > after);
  const page = start < 0 ? [] : all.slice(start, start + limit);
  const thumbnails = context.thumbnails ?? defaultThumbnails;
  const objects = await mapLimit(page, 4, async (info) => ({
    file: fileOf(info.key),
    key: info.key,
    size: info.size,
    etag: info.etag,
    thumbnail: await thumbnails.get(info.key, info.etag, () => context.store.get(info.key)),
  }));
  const more = start >= 0 && start + limit < all.length;
  return json(200, { dataset, label, total: all.length, objects, next: more ? fileOf(page.at(-1)?.key ?? '') : null });
}

function fileOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

async function putObject(request: HttpRequest, params: string[], context: ApiContext): Promise<HttpResponse> {
  const { dataset, label, file } = names(params);
  const key = datasetObjectKey(dataset, label, file as string);
  if (request.body.byteLength === 0) throw new BadRequestError(`request body is empty: send the bytes of ${JSON.stringify(file)}`, 'empty_body');
  if (request.body.byteLength > DEFAULT_LIMITS.maxBytes) {
    throw new BadRequestError(`upload is ${request.body.byteLength} bytes; the limit for an image is ${DEFAULT_LIMITS.maxBytes}`, 'payload_too_large', 413);
  }
  const contentType = request.headers['content-type'];
  // Any bytes are stored: extraction decides whether they are an image and records why not, the
  // same as for a presigned S3 upload, so a refused file shows the same reason everywhere.
  await context.store.put(key, request.body, contentType ? { contentType } : {});
  const info = await context.store.head(key);
  return json(201, { key, size: request.body.byteLength, etag: info?.etag ?? null });
}

async function deleteObject(_r: HttpRequest, params: string[], context: ApiContext): Promise<HttpResponse> {
  const { dataset, label, file } = names(params);
  const key = datasetObjectKey(dataset, label, file as string);
  if ((await context.store.head(key)) === undefined) throw objectNotFound(key);
  await context.store.delete(key);
  return json(200, { deleted: key });
}

async function deleteLabel(_r: HttpRequest, params: string[], context: ApiContext): Promise<HttpResponse> {
  const { dataset, label } = names(params);
  const objects = await labelObjects(context, dataset, label);
  if (objects.length === 0) {
    await requireDataset(context, dataset);
    throw new NotFoundError(`label "${label}" of dataset "${dataset}" has no images`, 'label_not_found', { context: { dataset, label } });
  }
  await mapLimit(objects, 8, (info) => context.store.delete(info.key));
  return json(200, { dataset, label, deleted: objects.length });
}

async function moveObject(request: HttpRequest, params: string[], context: ApiContext): Promise<HttpResponse> {
  const { dataset, label, file } = names(params);
  const body = jsonBody(request);
  const target = body['label'];
  if (typeof target !== 'string') throw new BadRequestError('JSON body must have a string field "label": the label to move the image to', 'missing_label');
  const to = validateName(target, 'label');
  if (to === label) throw new BadRequestError(`the image is already in label "${label}"`, 'same_label');
  const from = datasetObjectKey(dataset, label, file as string);
  const dest = datasetObjectKey(dataset, to, file as string);
  const bytes = await context.store.get(from);
  if (bytes === undefined) throw objectNotFound(from);
  if ((await context.store.head(dest)) !== undefined) {
    throw new BadRequestError(`label "${to}" already has a file named ${JSON.stringify(file)}; rename or remove it first`, 'target_exists', 409, { context: { key: dest } });
  }
  // Copy first, then delete: a failure in between leaves the image twice, never nowhere.
  await context.store.put(dest, bytes);
  await context.store.delete(from);
  return json(200, { from, to: dest });
}

async function grantUploads(request: HttpRequest, [name]: string[], context: ApiContext): Promise<HttpResponse> {
  const dataset = validateName(name ?? '', 'dataset');
  const files = jsonBody(request)['files'];
  if (!Array.isArray(files) || files.length === 0) {
    throw new BadRequestError('JSON body must have a non-empty array "files" of {"label", "file", "contentType"}', 'missing_files');
  }
  if (files.length > MAX_UPLOADS_PER_REQUEST) {
    throw new BadRequestError(`${files.length} files in one request; send at most ${MAX_UPLOADS_PER_REQUEST} at a time`, 'too_many_files');
  }
  const target = context.uploads ?? localUploads;
  // Each file gets its grant or its own error: one badly named file in a dropped folder (a hidden
  // .DS_Store, say) must not stop the rest.
  const uploads = await mapLimit(files as unknown[], 8, async (entry, index) => {
    const item = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const label = item['label'];
    const file = item['file'];
    const contentType = item['contentType'] ?? 'application/octet-stream';
    try {
      if (typeof label !== 'string' || typeof file !== 'string') throw new BadRequestError(`files[${index}] needs string fields "label" and "file"`, 'invalid_upload');
      if (typeof contentType !== 'string' || !/^[\w.+-]+\/[\w.+-]+$/.test(contentType)) {
        throw new BadRequestError(`files[${index}].contentType ${JSON.stringify(contentType)} is not a media type`, 'invalid_content_type');
      }
      const grant = await target.grant({ dataset, label: validateName(label, 'label'), file: validateName(file, 'file'), contentType });
      return { label, file, ...grant };
    } catch (error) {
      if (error instanceof HeadstartError && error.status < 500) return { label, file, error: error.message, code: error.code };
      throw error;
    }
  });
  return json(200, { dataset, uploads });
}

export const objectRoutes: Route[] = [
  { method: 'GET', pattern: ['datasets', '*', 'labels'], handler: listLabels },
  { method: 'DELETE', pattern: ['datasets', '*', 'labels', '*'], handler: deleteLabel },
  { method: 'GET', pattern: ['datasets', '*', 'labels', '*', 'objects'], handler: listObjects },
  { method: 'PUT', pattern: ['datasets', '*', 'labels', '*', 'objects', '*'], handler: putObject },
  { method: 'DELETE', pattern: ['datasets', '*', 'labels', '*', 'objects', '*'], handler: deleteObject },
  { method: 'POST', pattern: ['datasets', '*', 'labels', '*', 'objects', '*', 'move'], handler: moveObject },
  { method: 'POST', pattern: ['datasets', '*', 'uploads'], handler: grantUploads },
];
