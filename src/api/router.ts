/**
 * The HTTP API, independent of any server: a request in, a response out. The local server
 * (node:http) and the infer Lambda (API Gateway HTTP API) are thin adapters around {@link route}, so
 * both answer the same routes with the same bodies and the same errors.
 *
 *   POST /datasets/{name}/predict   image bytes (image/*) or JSON {"image": "<base64>"}; text/plain or JSON {"text": "..."} for a text model
 *   POST /datasets/{name}/train     202 with a job id
 *   GET  /jobs/{id}
 *   GET  /datasets/{name}           counts per label, failures, current model and its metrics
 *   GET  /datasets/{name}/models
 *   GET  /datasets/{name}/assessment the current version's transfer assessment and learning curve
 *   GET  /datasets/{name}/report    the current version's self-contained HTML report
 *   GET  /datasets                  every dataset
 *
 * and the console's routes over objects, labels and versions (objectRoutes.ts, versionRoutes.ts).
 */
import { BadRequestError, DatasetNotFoundError, HeadstartError, InvalidImageError, InvalidTextError, ModelNotFoundError, NotFoundError } from '../errors.js';
import { validateName } from '../dataset/names.js';
import type { JobRunner } from '../ports/JobRunner.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import type { Predictor } from '../pipeline/predict.js';
import { datasetStatus, listDatasets, requireDataset, type DataPlane } from '../pipeline/status.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import { decodeImageBody } from './body.js';
import { textFromRequest } from './textBody.js';
import { TextPredictor } from '../pipeline/predictText.js';
import { currentReport } from '../report/currentReport.js';
import { REPORT_CSP } from '../report/renderReport.js';
import type { UploadTarget } from '../ports/UploadTarget.js';
import { objectRoutes } from './objectRoutes.js';
import type { ThumbnailCache } from './thumbnailCache.js';
import { versionRoutes } from './versionRoutes.js';

export interface HttpRequest {
  method: string;
  /** The raw (still percent-encoded) path, without the query string. */
  path: string;
  /** The raw query string, without the '?' (a query left on `path` is read as well). */
  query?: string;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  body: Uint8Array;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

export interface ApiContext extends DataPlane {
  store: ObjectStore;
  jobs: JobRunner;
  /** Loaded lazily: routes that do not predict never pay for the backbone. */
  predictor: () => Promise<Predictor>;
  /** Serves text versions (the local runtime's knows its registered encoders); one per store when absent. */
  textPredictor?: () => TextPredictor | Promise<TextPredictor>;
  /** Bodies larger than this get a 413 (API Gateway's own limit is 10 MB). */
  maxBodyBytes?: number;
  /** Called with unexpected errors (the 500s), for the edge's logger. */
  onError?: (error: unknown, request: HttpRequest) => void;
  /** Where uploads are sent: presigned S3 URLs on AWS; the local PUT route when absent. */
  uploads?: UploadTarget;
  /** Thumbnails for image lists; a process-wide cache when absent. */
  thumbnails?: ThumbnailCache;
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export function json(status: number, value: unknown): HttpResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(value) };
}

export type Handler = (request: HttpRequest, params: string[], context: ApiContext) => Promise<HttpResponse>;

export interface Route {
  method: string;
  pattern: string[];
  handler: Handler;
}

const routes: Route[] = [
  { method: 'GET', pattern: ['health'], handler: async () => json(200, { ok: true }) },
  { method: 'GET', pattern: ['datasets'], handler: async (_r, _p, c) => json(200, { datasets: await listDatasets(c) }) },
  { method: 'GET', pattern: ['datasets', '*'], handler: async (_r, [name], c) => json(200, await datasetStatus(c, dataset(name))) },
  {
    method: 'GET',
    pattern: ['datasets', '*', 'models'],
    handler: async (_r, [name], c) => {
      const registry = new ModelRegistry(c.store);
      const ds = dataset(name);
      const [versions, pointer] = await Promise.all([registry.list(ds), registry.pointer(ds)]);
      if (versions.length === 0) await requireDataset(c, ds); // 404 for an unknown dataset
      return json(200, {
        dataset: ds,
        current: pointer?.version ?? null,
        models: versions.map((m) => ({ version: m.version, createdAt: m.createdAt, backbone: m.backbone.id, labels: m.labels, accuracy: m.metrics.accuracy, macroF1: m.metrics.macroF1 })),
      });
    },
  },
  { method: 'POST', pattern: ['datasets', '*', 'predict'], handler: predictRoute },
  {
    method: 'GET',
    pattern: ['datasets', '*', 'assessment'],
    handler: async (_r, [name], c) => {
      const ds = dataset(name);
      const current = await new ModelRegistry(c.store).current(ds);
      if (current === undefined) await requireDataset(c, ds); // 404 for an unknown dataset
      if (current?.assessment === undefined) throw new NotFoundError(`dataset "${ds}" has no assessment yet: train it (training measures whether transfer helps)`, 'assessment_not_found');
      return json(200, { dataset: ds, version: current.version, ...current.assessment, learningCurve: current.learningCurve ?? null });
    },
  },
  {
    method: 'GET',
    pattern: ['datasets', '*', 'report'],
    handler: async (_r, [name], c) => {
      const html = await currentReport(c.store, dataset(name));
      return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': REPORT_CSP }, body: html };
    },
  },
  {
    method: 'POST',
    pattern: ['datasets', '*', 'train'],
    handler: async (_r, [name], c) => {
      const ds = dataset(name);
      // The counters only (O(labels)): the job itself reads the data. A dataset with a training
      // already queued or running gets 409 from submit, naming that job.
      const counts = await c.index.counts(ds);
      if (counts === undefined || counts.embedded === 0) throw new DatasetNotFoundError(ds, { context: { reason: 'no embedded images yet' } });
      const job = await c.jobs.submit(ds);
      return json(202, { jobId: job.id, ...job });
    },
  },
  {
    method: 'GET',
    pattern: ['jobs', '*'],
    handler: async (_r, [id], c) => {
      const job = await c.jobs.get(validateName(id ?? '', 'version'));
      if (job === undefined) throw new NotFoundError(`job "${id}" does not exist`, 'job_not_found');
      return json(200, job);
    },
  },
];

/** Text predictors per store when the context brings none: each keeps its loaded versions. */
const textPredictors = new WeakMap<ObjectStore, TextPredictor>();

async function predictTextRoute(ds: string, text: string, context: ApiContext): Promise<HttpResponse> {
  const given = await context.textPredictor?.();
  const predictor = given ?? textPredictors.get(context.store) ?? new TextPredictor(context.store);
  if (!given) textPredictors.set(context.store, predictor);
  let result;
  try {
    [result] = await predictor.predict(ds, [text]);
  } catch (error) {
    if (error instanceof ModelNotFoundError) await requireDataset(context, ds);
    throw error;
  }
  if (result instanceof InvalidTextError) throw result;
  return json(200, result);
}

async function predictRoute(request: HttpRequest, [name]: string[], context: ApiContext): Promise<HttpResponse> {
  const ds = dataset(name);
  // text/plain or JSON {"text"}: a text model answers (an image model says 415 modality_mismatch).
  const text = textFromRequest(request, context.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  if (text !== undefined) return predictTextRoute(ds, text, context);
  const image = decodeImageBody(request, context.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const predictor = await context.predictor();
  let result;
  try {
    [result] = await predictor.predict(ds, [image]);
  } catch (error) {
    // "No model yet" is only true of a dataset that exists; for any other name, say that.
    if (error instanceof ModelNotFoundError) await requireDataset(context, ds); // throws DatasetNotFoundError
    throw error;
  }
  if (result instanceof InvalidImageError) throw result;
  return json(200, result);
}

function dataset(name: string | undefined): string {
  return validateName(name ?? '', 'dataset');
}

function splitPath(path: string): string[] {
  return path
    .split('/')
    .filter((s) => s.length > 0)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new BadRequestError(`path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
      }
    });
}

function match(pattern: string[], segments: string[]): string[] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '*') params.push(segments[i] as string);
    else if (pattern[i] !== segments[i]) return undefined;
  }
  return params;
}

let everyRoute: Route[] | undefined;

/** Built on first use: the route modules import json() from here, so at load time their arrays may not exist yet. */
function allRoutes(): Route[] {
  everyRoute ??= [...routes, ...objectRoutes, ...versionRoutes];
  return everyRoute;
}

/** Answers one request. Never throws: user mistakes become 4xx JSON, the rest a 500. */
export async function route(request: HttpRequest, context: ApiContext): Promise<HttpResponse> {
  try {
    const segments = splitPath(request.path.split('?')[0] ?? '');
    const matching = allRoutes().map((r) => ({ r, params: match(r.pattern, segments) })).filter((m) => m.params !== undefined);
    if (matching.length === 0) throw new NotFoundError(`no route for ${request.method} ${request.path}`, 'route_not_found');
    const hit = matching.find((m) => m.r.method === request.method.toUpperCase());
    if (hit === undefined) {
      const allowed = matching.map((m) => m.r.method).join(', ');
      const response = json(405, { error: `method ${request.method} not allowed on ${request.path}; use ${allowed}`, code: 'method_not_allowed' });
      return { ...response, headers: { ...response.headers, allow: allowed } };
    }
    return await hit.r.handler(request, hit.params ?? [], context);
  } catch (error) {
    if (error instanceof HeadstartError && error.status < 500) return json(error.status, error.toJSON());
    context.onError?.(error, request);
    const message = error instanceof HeadstartError ? error.message : 'internal error';
    return json(error instanceof HeadstartError ? error.status : 500, { error: message, code: error instanceof HeadstartError ? error.code : 'internal_error' });
  }
}
