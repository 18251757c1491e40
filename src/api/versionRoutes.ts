/**
 * Model version routes beside GET /datasets/{name}/models: promote a version, roll back to the one
 * before, and the current version's out-of-fold mistakes (for the console's "fix the data" list).
 *
 *   POST /datasets/{name}/promote         {"version": "<id>"}
 *   POST /datasets/{name}/rollback
 *   GET  /datasets/{name}/misclassified   every validation example the current version got wrong, with thumbnails (a text: its start)
 */
import { BadRequestError, NotFoundError } from '../errors.js';
import { versionPrefix } from '../dataset/keys.js';
import { validateName } from '../dataset/names.js';
import { getJson } from '../ports/ObjectStore.js';
import { requireDataset } from '../pipeline/status.js';
import { MISCLASSIFIED_FILE, type MisclassifiedList } from '../registry/misclassified.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import { storedTextSnippet } from '../text/textSnippet.js';
import { isTextKey } from '../text/validateText.js';
import { mapLimit } from '../util/mapLimit.js';
import { json, type ApiContext, type HttpRequest, type HttpResponse, type Route } from './router.js';
import { jsonBody } from './requestParts.js';
import { ThumbnailCache } from './thumbnailCache.js';

const defaultThumbnails = new ThumbnailCache(500);
/** The console shows this many mistakes with pictures; `total` counts them all. */
const MAX_MISCLASSIFIED = 60;

function datasetParam(name: string | undefined): string {
  return validateName(name ?? '', 'dataset');
}

async function promote(request: HttpRequest, [name]: string[], context: ApiContext): Promise<HttpResponse> {
  const dataset = datasetParam(name);
  const version = jsonBody(request)['version'];
  if (typeof version !== 'string') throw new BadRequestError('JSON body must have a string field "version": the version to make current', 'missing_version');
  const registry = new ModelRegistry(context.store);
  if ((await registry.pointer(dataset)) === undefined) await requireDataset(context, dataset);
  const pointer = await registry.promote(dataset, validateName(version, 'version'));
  return json(200, { dataset, current: pointer.version, history: pointer.history });
}

async function rollback(_r: HttpRequest, [name]: string[], context: ApiContext): Promise<HttpResponse> {
  const dataset = datasetParam(name);
  const registry = new ModelRegistry(context.store);
  if ((await registry.pointer(dataset)) === undefined) await requireDataset(context, dataset);
  const pointer = await registry.rollback(dataset);
  return json(200, { dataset, current: pointer.version, history: pointer.history });
}

async function misclassified(_r: HttpRequest, [name]: string[], context: ApiContext): Promise<HttpResponse> {
  const dataset = datasetParam(name);
  const current = await new ModelRegistry(context.store).current(dataset);
  if (current === undefined) {
    await requireDataset(context, dataset);
    throw new NotFoundError(`dataset "${dataset}" has no trained model yet, so no misclassified images`, 'model_not_found');
  }
  const list = await getJson<MisclassifiedList>(context.store, versionPrefix(dataset, current.version) + MISCLASSIFIED_FILE);
  if (list === undefined) throw new NotFoundError(`model ${dataset}/${current.version} was trained before headstart kept its mistakes: train again`, 'misclassified_not_found');
  const thumbnails = context.thumbnails ?? defaultThumbnails;
  const shown = list.items.slice(0, MAX_MISCLASSIFIED);
  const items = await mapLimit(shown, 4, async (item) => {
    const info = await context.store.head(item.key);
    // An image moved or removed since training is listed as gone, so the page offers no action on it.
    if (info === undefined) return { ...item, exists: false, thumbnail: null };
    // A text example shows its start (as stored now) where an image has its thumbnail.
    if (isTextKey(item.key)) return { ...item, exists: true, thumbnail: null, text: storedTextSnippet(await context.store.get(item.key)) ?? null };
    return { ...item, exists: true, thumbnail: await thumbnails.get(item.key, info.etag, () => context.store.get(item.key)) };
  });
  return json(200, { dataset, version: current.version, total: list.total, items });
}

export const versionRoutes: Route[] = [
  { method: 'POST', pattern: ['datasets', '*', 'promote'], handler: promote },
  { method: 'POST', pattern: ['datasets', '*', 'rollback'], handler: rollback },
  { method: 'GET', pattern: ['datasets', '*', 'misclassified'], handler: misclassified },
];
