/**
 * What the report shows, as plain data ({@link ReportInput}), and how it is gathered from a model
 * version's manifest, the trainer's out-of-fold predictions and the source images in the store.
 *
 * The manifest is read tolerantly: sections written by other modules (transfer assessment,
 * learning curve, out-of-domain calibration) are checked field by field here, and a section whose
 * data is absent or malformed is simply left out of the report rather than failing it.
 *
 * Images and texts share one report: a text version (`modality: 'text'`) lists the start of each
 * misclassified text where an image version shows its thumbnail, and names its own representation.
 */
import { HeadstartError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { storedTextSnippet } from '../text/textSnippet.js';
import { mapLimit } from '../util/mapLimit.js';
import { DEFAULT_THUMBNAIL_SIZE, thumbnailDataUri } from './thumbnails.js';

export interface ReportClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ReportMetrics {
  accuracy: number;
  macroF1: number;
  balancedAccuracy?: number;
  n?: number;
  labels: string[];
  perClass: Record<string, ReportClassMetrics>;
  /** confusion[true][predicted], in `labels` order. */
  confusion: number[][];
}

export interface ReportLambdaScore {
  lambda: number;
  balancedAccuracy?: number;
  accuracy?: number;
  logLoss?: number;
}

export interface ReportAssessment {
  verdict: string;
  /** The no-transfer arm's id ('tfidf' for texts; absent or 'pixels-...' for images). */
  baseline?: string;
  explanation?: string;
  baselineAccuracy?: number;
  gain?: number;
  backbones: Array<{ id: string; logme?: number; probeAccuracy?: number }>;
}

export interface MeanStd {
  mean: number;
  std: number;
}

export interface ReportLearningCurvePoint {
  /** Training images per class, or 'all' for the whole training set. */
  k: number | 'all';
  embedding: MeanStd;
  baseline?: MeanStd;
  seeds?: number;
}

export interface ReportOutOfDomain {
  method: string;
  k?: number;
  threshold: number;
  falseAlarmRate: number;
  calibration?: {
    rows?: number;
    folds?: number;
    oofFalseAlarmRate?: number;
    quantiles: Array<{ q: number; score: number }>;
  };
  reference?: { file?: string; rows?: number; bytes?: number };
}

export interface ReportMisclassified {
  key: string;
  trueLabel: string;
  predictedLabel: string;
  /** Out-of-fold probability of the (wrong) predicted label. */
  probability: number;
  /** data: URI, absent when the source image could not be read. */
  thumbnail?: string;
  /** A text version's example: its start (textSnippet.ts), absent when it could not be read. */
  text?: string;
}

export interface ReportExcluded {
  key: string;
  reason: string;
}

/** What the learning curve's two series measure (absent: the backbone's embedding vs raw pixels). */
export interface ReportCurveSeries {
  embedding: string;
  baseline?: string;
}

/** Everything the page shows; plain data, so a report can be rendered from JSON alone. */
export interface ReportInput {
  dataset: string;
  version: string;
  createdAt: string;
  /** What the examples are (absent: images). */
  modality?: 'image' | 'text';
  backbone: { id: string; name?: string };
  /** A text version's representation ('tfidf' or 'encoder') and why it was chosen. */
  representation?: { kind: string; choice?: string };
  head?: { kind: string; hidden?: number; lambda?: number };
  labels: string[];
  images: { total: number; perLabel: Record<string, number>; excluded: ReportExcluded[] };
  /** Out-of-fold validation metrics. */
  metrics: ReportMetrics;
  folds?: number;
  selection?: string;
  /** Objective per iteration of the final fit. */
  trainingCurve?: number[];
  lambdaScores?: ReportLambdaScore[];
  assessment?: ReportAssessment;
  learningCurve?: ReportLearningCurvePoint[];
  learningCurveSeries?: ReportCurveSeries;
  outOfDomain?: ReportOutOfDomain;
  /** Out-of-fold errors shown with thumbnails or texts (capped); `misclassifiedTotal` counts all of them. */
  misclassified?: ReportMisclassified[];
  misclassifiedTotal?: number;
}

/**
 * The parts of model.json the report reads. ModelManifest is assignable to it; the sections other
 * modules add are `unknown` here and checked by the parsers below.
 */
export interface ReportManifest {
  dataset: string;
  version: string;
  createdAt: string;
  labels: string[];
  backbone: { id: string; name?: string };
  head?: { kind: string; hidden?: number; lambda?: number };
  metrics: ReportMetrics;
  training?: { folds?: number; imagesPerLabel?: Record<string, number>; curve?: number[] };
  data?: { images?: number; excluded?: ReportExcluded[] };
  validation?: { balancedAccuracy?: number; lambdaScores?: readonly unknown[]; selection?: string };
  assessment?: unknown;
  learningCurve?: unknown;
  outOfDomain?: unknown;
  modality?: 'image' | 'text';
  /** A text version's representation (ModelManifest's TextModelManifest): kind, choice, its out-of-domain rule. */
  text?: unknown;
}

/** Per training row, in the trainer's row order (TrainedHead + loadTrainingData). */
export interface ReportRows {
  /** Object key of each row: datasets/<dataset>/<label>/<file>. */
  keys: readonly string[];
  /** True class index of each row, into `classNames`. */
  labels: ArrayLike<number>;
  classNames: readonly string[];
  /** Row-major [N, K] out-of-fold probabilities. */
  oofProbabilities: ArrayLike<number>;
}

export interface BuildReportOptions {
  /** Most thumbnails embedded (each about 1.5–3 KB). */
  maxThumbnails?: number;
  thumbnailSize?: number;
}

export const DEFAULT_MAX_THUMBNAILS = 48;

// ---------------------------------------------------------------------------------------------
// tolerant readers

type Loose = Record<string, unknown>;

const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function meanStd(v: unknown): MeanStd | undefined {
  if (!isObject(v)) return undefined;
  const mean = num(v['mean']);
  return mean === undefined ? undefined : { mean, std: num(v['std']) ?? 0 };
}

export function readAssessment(v: unknown): ReportAssessment | undefined {
  if (!isObject(v)) return undefined;
  const verdict = str(v['verdict']);
  if (verdict === undefined) return undefined;
  const backbones = Array.isArray(v['backbones'])
    ? v['backbones'].filter(isObject).flatMap((b) => {
        const id = str(b['id']);
        return id === undefined ? [] : [{ id, logme: num(b['logme']), probeAccuracy: num(b['probeAccuracy']) }];
      })
    : [];
  const baseline = str(v['baseline']);
  return { verdict, ...(baseline !== undefined ? { baseline } : {}), explanation: str(v['explanation']), baselineAccuracy: num(v['baselineAccuracy']), gain: num(v['gain']), backbones };
}

/** The curve's own names for its series (text curves carry them; image curves do not). */
export function readCurveSeries(v: unknown): ReportCurveSeries | undefined {
  if (!isObject(v) || !isObject(v['series'])) return undefined;
  const embedding = str(v['series']['embedding']);
  const baseline = str(v['series']['baseline']);
  return embedding === undefined ? undefined : { embedding, ...(baseline !== undefined ? { baseline } : {}) };
}

/** A text version's representation and the reason for it. */
export function readRepresentation(v: unknown): { kind: string; choice?: string } | undefined {
  if (!isObject(v)) return undefined;
  const kind = str(v['representation']);
  const choice = str(v['choice']);
  return kind === undefined ? undefined : { kind, ...(choice !== undefined ? { choice } : {}) };
}

export function readLearningCurve(v: unknown): ReportLearningCurvePoint[] | undefined {
  // model.json keeps the transfer module's LearningCurve ({ points, ... }); a bare array reads too.
  if (isObject(v) && Array.isArray(v['points'])) v = v['points'];
  if (!Array.isArray(v)) return undefined;
  const points = v.filter(isObject).flatMap((p): ReportLearningCurvePoint[] => {
    const k = p['k'] === 'all' ? 'all' : num(p['k']);
    const embedding = meanStd(p['embedding']);
    if (k === undefined || embedding === undefined || (k !== 'all' && k <= 0)) return [];
    const baseline = meanStd(p['baseline']);
    const seeds = num(p['seeds']);
    return [{ k, embedding, ...(baseline ? { baseline } : {}), ...(seeds !== undefined ? { seeds } : {}) }];
  });
  return points.length > 0 ? points : undefined;
}

export function readOutOfDomain(v: unknown): ReportOutOfDomain | undefined {
  if (!isObject(v)) return undefined;
  const threshold = num(v['threshold']);
  const falseAlarmRate = num(v['falseAlarmRate']);
  if (threshold === undefined || falseAlarmRate === undefined) return undefined;
  const c = v['calibration'];
  const r = v['reference'];
  return {
    method: str(v['method']) ?? 'unknown',
    k: num(v['k']),
    threshold,
    falseAlarmRate,
    ...(isObject(c)
      ? {
          calibration: {
            rows: num(c['rows']),
            folds: num(c['folds']),
            oofFalseAlarmRate: num(c['oofFalseAlarmRate']),
            quantiles: Array.isArray(c['quantiles'])
              ? c['quantiles'].filter(isObject).flatMap((q) => {
                  const at = num(q['q']);
                  const score = num(q['score']);
                  return at === undefined || score === undefined ? [] : [{ q: at, score }];
                })
              : [],
          },
        }
      : {}),
    ...(isObject(r) ? { reference: { file: str(r['file']), rows: num(r['rows']), bytes: num(r['bytes']) } } : {}),
  };
}

export function readLambdaScores(v: unknown): ReportLambdaScore[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const scores = v.filter(isObject).flatMap((s) => {
    const lambda = num(s['lambda']);
    return lambda === undefined || lambda <= 0
      ? []
      : [{ lambda, balancedAccuracy: num(s['balancedAccuracy']), accuracy: num(s['accuracy']), logLoss: num(s['logLoss']) }];
  });
  return scores.length > 0 ? scores : undefined;
}

// ---------------------------------------------------------------------------------------------
// misclassified rows

/**
 * The out-of-fold errors, most confident first within each (true, predicted) pair, taken round-robin
 * across pairs so a cap of `max` still shows every kind of confusion. Returns them and the total.
 */
export function selectMisclassified(rows: ReportRows, max: number): { selected: ReportMisclassified[]; total: number } {
  const n = rows.keys.length;
  const k = rows.classNames.length;
  if (rows.labels.length !== n || rows.oofProbabilities.length !== n * k) {
    throw new HeadstartError(
      `report rows disagree: ${n} keys, ${rows.labels.length} labels, ${rows.oofProbabilities.length} probabilities for ${k} classes`,
      'invalid_report_input',
      500,
      { context: { keys: n, labels: rows.labels.length, probabilities: rows.oofProbabilities.length, classes: k } },
    );
  }
  const byPair = new Map<string, ReportMisclassified[]>();
  let total = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((rows.oofProbabilities[i * k + c] as number) > (rows.oofProbabilities[i * k + best] as number)) best = c;
    const truth = rows.labels[i] as number;
    if (best === truth) continue;
    total++;
    const pair = `${truth}\u0000${best}`;
    const list = byPair.get(pair) ?? [];
    list.push({
      key: rows.keys[i] as string,
      trueLabel: rows.classNames[truth] ?? String(truth),
      predictedLabel: rows.classNames[best] ?? String(best),
      probability: rows.oofProbabilities[i * k + best] as number,
    });
    byPair.set(pair, list);
  }
  // Largest confusions first; within a pair, the most confident mistakes first.
  const pairs = [...byPair.values()]
    .map((list) => list.sort((a, b) => b.probability - a.probability || (a.key < b.key ? -1 : 1)))
    .sort((a, b) => b.length - a.length || (a[0]!.key < b[0]!.key ? -1 : 1));
  const selected: ReportMisclassified[] = [];
  for (let round = 0; selected.length < max && pairs.some((p) => p.length > round); round++) {
    for (const list of pairs) {
      if (selected.length >= max) break;
      const item = list[round];
      if (item !== undefined) selected.push(item);
    }
  }
  return { selected, total };
}

// ---------------------------------------------------------------------------------------------

/**
 * Gathers a report's data: the manifest's sections, and (when the trainer's rows are given) the
 * misclassified validation examples read from the store: an image with its thumbnail, a text with
 * its start. One that cannot be read or decoded is listed without either.
 */
export async function buildReportInput(
  store: ObjectStore,
  manifest: ReportManifest,
  rows?: ReportRows,
  options: BuildReportOptions = {},
): Promise<ReportInput> {
  const imagesPerLabel = manifest.training?.imagesPerLabel ?? Object.fromEntries(manifest.labels.map((l) => [l, manifest.metrics.perClass[l]?.support ?? 0]));
  const total = manifest.data?.images ?? Object.values(imagesPerLabel).reduce((a, b) => a + b, 0);
  const assessment = readAssessment(manifest.assessment);
  const learningCurve = readLearningCurve(manifest.learningCurve);
  const learningCurveSeries = readCurveSeries(manifest.learningCurve);
  const text = manifest.modality === 'text';
  const representation = text ? readRepresentation(manifest.text) : undefined;
  // A TF-IDF text version keeps its out-of-domain rule beside its representation; others at the top.
  const outOfDomain = readOutOfDomain(manifest.outOfDomain) ?? (isObject(manifest.text) ? readOutOfDomain(manifest.text['outOfDomain']) : undefined);
  const lambdaScores = readLambdaScores(manifest.validation?.lambdaScores);
  const input: ReportInput = {
    dataset: manifest.dataset,
    version: manifest.version,
    createdAt: manifest.createdAt,
    ...(text ? { modality: 'text' as const } : {}),
    backbone: { id: manifest.backbone.id, ...(manifest.backbone.name ? { name: manifest.backbone.name } : {}) },
    ...(representation ? { representation } : {}),
    ...(manifest.head ? { head: manifest.head } : {}),
    labels: [...manifest.labels],
    images: { total, perLabel: imagesPerLabel, excluded: [...(manifest.data?.excluded ?? [])] },
    metrics: {
      ...manifest.metrics,
      ...(manifest.validation?.balancedAccuracy !== undefined ? { balancedAccuracy: manifest.validation.balancedAccuracy } : {}),
    },
    ...(manifest.training?.folds !== undefined ? { folds: manifest.training.folds } : {}),
    ...(manifest.validation?.selection ? { selection: manifest.validation.selection } : {}),
    ...(manifest.training?.curve && manifest.training.curve.length > 0 ? { trainingCurve: manifest.training.curve } : {}),
    ...(lambdaScores ? { lambdaScores } : {}),
    ...(assessment ? { assessment } : {}),
    ...(learningCurve ? { learningCurve } : {}),
    ...(learningCurve && learningCurveSeries ? { learningCurveSeries } : {}),
    ...(outOfDomain ? { outOfDomain } : {}),
  };
  if (rows === undefined) return input;

  const { selected, total: misclassifiedTotal } = selectMisclassified(rows, options.maxThumbnails ?? DEFAULT_MAX_THUMBNAILS);
  const size = options.thumbnailSize ?? DEFAULT_THUMBNAIL_SIZE;
  const misclassified = await mapLimit(selected, 4, async (item) => {
    try {
      const bytes = await store.get(item.key);
      if (text) {
        const snippet = storedTextSnippet(bytes);
        return snippet === undefined ? item : { ...item, text: snippet };
      }
      return bytes === undefined ? item : { ...item, thumbnail: await thumbnailDataUri(bytes, size) };
    } catch {
      // The report still lists the error; a broken or vanished example only loses its picture or text.
      return item;
    }
  });
  return { ...input, misclassified, misclassifiedTotal };
}
