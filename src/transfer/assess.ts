/**
 * Is transfer worth it on this dataset, and with which backbone? For every backbone on hand it
 * measures LogME (no training) and the cross-validated accuracy of the linear head (the probe),
 * and compares the probe with the same head trained on the raw pixels (the no-transfer baseline),
 * all on exactly the same images. The verdict (verdict.ts) is about the backbone
 * {@link pickBackbone} would choose.
 *
 * The rows to assess are sampled first (at most `maxPerClass` per label, seeded) from the dataset's
 * training matrix (the one a training run hands down, or the cached one of the first backbone that
 * has it); only the sampled images are read. Embeddings come from that matrix or the embedding
 * cache. A backbone other than the one extraction used has no cached embeddings yet: they are
 * computed here from the sampled source images and cached under that backbone's id. The pixel
 * baseline needs the source images too; each is read once and checked against the content hash
 * its record holds (an object replaced after extraction is left out, not silently mixed in).
 *
 * Protocol shared by every arm: trainHead's linear head, the same folds (same seed), the same
 * lambda grid, the same class-balanced loss and L2-normalised inputs, so the only difference is the
 * features. Pixel standardisation (per-feature mean and std) is fitted on all assessed rows, not
 * inside each fold: trainHead owns the folds and cannot refit a transform per fold. The statistics
 * use no labels; measured with scikit-learn on the shared sets, standardising inside the folds gave
 * the same or slightly higher CV accuracy (hymenoptera 66.4% vs 64.7%, chest_xray 92.5% vs 91.0%),
 * so the shortcut does not flatter the baseline. The test-split gain in bench/transfer.ts and the
 * learning curve standardise on training rows only.
 */
import { Backbone, type BackboneLoadOptions } from '../backbone/Backbone.js';
import { listBackbones, type BackboneLocation } from '../backbone/resolveBackbone.js';
import type { Device } from '../backend/onnx.js';
import { sha256Hex } from '../dataset/keys.js';
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import { TrainingDataError } from '../errors.js';
import { loadTrainingData, type TrainingData } from '../pipeline/trainingData.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import type { ExcludedImage } from '../registry/ModelManifest.js';
import { DEFAULT_FOLDS, DEFAULT_LAMBDAS, DEFAULT_SEED, trainHead } from '../training/trainHead.js';
import type { TrainedHead } from '../training/types.js';
import { mapLimit } from '../util/mapLimit.js';
import { learningCurve, type LearningCurve, type LearningCurveOptions } from './learningCurve.js';
import { logme } from './logme.js';
import { sampleRows } from './sampleRows.js';
import { fitStandardizer, pixelFeatures, PIXEL_FEATURES, PIXEL_FEATURES_ID, standardize, type Standardizer } from './pixelFeatures.js';
import { decideVerdict, DEFAULT_THRESHOLDS, measureGain, tallyFromConfusion, type ClassTally, type Gain, type Verdict, type VerdictThresholds } from './verdict.js';
import type { DataPlane } from '../pipeline/status.js';

/** What the assessment needs of a loaded backbone (a {@link Backbone} has it). */
export type AssessableBackbone = Pick<Backbone, 'id' | 'spec' | 'embedImages'>;

export interface AssessOptions {
  /**
   * Backbones to compare: loaded instances (used, not released) or names (loaded and released
   * here). Default: every catalogue or registered backbone whose model file is on this machine.
   */
  backbones?: ReadonlyArray<AssessableBackbone | string>;
  /** Where named backbones are found (models folder, registered backbones). */
  location?: BackboneLocation;
  /**
   * Which images to assess: at most `maxPerClass` per label (a seeded sample, drawn from the list of
   * rows before any image is read); default all.
   */
  images?: { maxPerClass?: number };
  /**
   * Training matrices already loaded, by backbone id (a training run hands down its own): used
   * instead of the store's embeddings, and its rows (deduplicated, with its exclusions) are the
   * dataset's list of images. Backbones without one read the sampled rows from the cache.
   */
  trainingData?: Readonly<Record<string, TrainingData>>;
  seed?: number;
  folds?: number;
  lambdas?: readonly number[];
  device?: Device;
  thresholds?: VerdictThresholds;
  /** Images read, embedded and turned into pixels at a time. */
  chunkSize?: number;
  /** Also measure the learning curve (learningCurve.ts) for the chosen backbone. */
  learningCurve?: boolean | LearningCurveOptions;
  /**
   * Receives every head trained on all assessed rows (a backbone's, by id, or the baseline's with
   * its pixel standardizer), e.g. to score them on a test split; the assessment keeps none.
   */
  onTrainedHead?: (arm: TrainedArm) => void;
  log?: (message: string) => void;
}

export interface BackboneAssessment {
  id: string;
  name: string;
  /** LogME of the raw embeddings (per-sample log evidence, mean over classes; higher is better). */
  logme: number;
  /** Cross-validated (out-of-fold) accuracy of the linear head on the embeddings. */
  probeAccuracy: number;
  probeBalancedAccuracy: number;
  /** Lambda chosen by trainHead's cross-validation. */
  lambda: number;
  /** 1 = best. */
  rankByLogme: number;
  rankByProbe: number;
  /** This backbone's gain over the pixel baseline and what it means. */
  gain: Gain;
  verdict: Verdict;
  confident: boolean;
  /** Embeddings computed now because the cache did not have them. */
  embeddedNow: number;
  timings: { logmeMs: number; probeMs: number };
}

export interface BaselineAssessment {
  features: typeof PIXEL_FEATURES_ID;
  dims: number;
  /** LogME of the standardised pixels, comparable with the backbones' (same images, same labels). */
  logme: number;
  accuracy: number;
  balancedAccuracy: number;
  lambda: number;
  standardization: 'all assessed rows';
  timings: { logmeMs: number; probeMs: number };
}

export interface TransferAssessment {
  dataset: string;
  /** Images assessed (the same for every arm). */
  n: number;
  classNames: string[];
  classCounts: number[];
  /** Best probe first (the order of {@link pickBackbone}). */
  backbones: BackboneAssessment[];
  baseline: BaselineAssessment;
  /** Plain accuracy of the baseline (balanced accuracy in `baseline` and `gain`). */
  baselineAccuracy: number;
  /** The backbone the verdict below is about: {@link pickBackbone}'s choice. */
  chosen: string;
  gain: Gain;
  verdict: Verdict;
  confident: boolean;
  negativeTransfer: boolean;
  explanation: string;
  thresholds: VerdictThresholds;
  /** Images left out, and why (conflicting labels, duplicates, unreadable, not embeddable...). */
  excluded: ExcludedImage[];
  /** Discovered backbones that could not be loaded. */
  skippedBackbones: { name: string; reason: string }[];
  /** For the chosen backbone, when asked for. */
  learningCurve?: LearningCurve;
  settings: { seed: number; folds: number; lambdas: number[]; head: 'linear'; metric: 'balancedAccuracy'; maxPerClass?: number };
  /** readMs: reading the images, pixel features and embeddings the cache lacked. */
  timings: { totalMs: number; readMs: number; learningCurveMs?: number };
}

export interface TrainedArm {
  /** Backbone id, or PIXEL_FEATURES_ID for the baseline. */
  id: string;
  head: TrainedHead;
  /** The baseline's pixel standardisation (apply it to new pixels before the head). */
  standardizer?: Standardizer;
}

interface LoadedBackbone {
  backbone: AssessableBackbone;
  /** Set when loaded here, so released here. */
  owned?: Backbone;
}

async function openBackbones(options: AssessOptions): Promise<{ loaded: LoadedBackbone[]; skipped: { name: string; reason: string }[] }> {
  const loadOptions: BackboneLoadOptions = { ...options.location, ...(options.device ? { device: options.device } : {}) };
  const loaded: LoadedBackbone[] = [];
  const skipped: { name: string; reason: string }[] = [];
  try {
    if (options.backbones) {
      for (const b of options.backbones) {
        if (typeof b === 'string') {
          const backbone = await Backbone.load(b, loadOptions);
          loaded.push({ backbone, owned: backbone });
        } else loaded.push({ backbone: b });
      }
    } else {
      const listed = await listBackbones(options.location?.backbonesDir, options.location?.modelsDir ? { modelsDir: options.location.modelsDir } : {});
      for (const entry of listed) {
        try {
          const backbone = await Backbone.load(entry.spec, loadOptions);
          loaded.push({ backbone, owned: backbone });
        } catch (error) {
          skipped.push({ name: entry.spec.name, reason: (error as Error).message });
        }
      }
    }
  } catch (error) {
    await Promise.all(loaded.map((l) => l.owned?.release()));
    throw error;
  }
  if (loaded.length === 0) {
    throw new TrainingDataError(`no backbone to assess: ${skipped.length > 0 ? skipped.map((s) => `${s.name}: ${s.reason}`).join('; ') : 'none is on this machine'}`);
  }
  const ids = new Set<string>();
  for (const { backbone } of loaded) {
    if (ids.has(backbone.id)) throw new TrainingDataError(`backbone ${backbone.id} is listed twice`);
    ids.add(backbone.id);
  }
  return { loaded, skipped };
}

/** One image the assessment may use: its first key, content hash and label. */
interface AssessRow {
  key: string;
  sha256: string;
  label: string;
}

/** The dataset's usable rows (deduplicated, with what the matrix left out), read off its training matrix. */
function datasetRows(data: TrainingData): { rows: AssessRow[]; excluded: ExcludedImage[] } {
  const rows = data.keys.map((key, i) => ({ key, sha256: data.sha256s[i] as string, label: data.classNames[data.labels[i] as number] as string }));
  return { rows, excluded: [...data.excluded] };
}

/**
 * The training matrix that lists the dataset's rows: the caller's (a training run hands its own
 * down), else the first assessed backbone whose embeddings of the dataset are cached (extraction's).
 */
async function listingMatrix(plane: Pick<DataPlane, 'store' | 'index'>, dataset: string, backbones: readonly AssessableBackbone[], given: ReadonlyMap<string, TrainingData>): Promise<{ id: string; data: TrainingData }> {
  for (const b of backbones) {
    const data = given.get(b.id);
    if (data) return { id: b.id, data };
  }
  let firstError: unknown;
  for (const b of backbones) {
    try {
      return { id: b.id, data: await loadTrainingData(plane, dataset, b.id) };
    } catch (error) {
      if (!(error instanceof TrainingDataError)) throw error;
      firstError ??= error;
    }
  }
  throw firstError;
}

/**
 * One pass over the sampled images (and no others): reads each once, checks it is the content its
 * record names, turns it into pixel features, and embeds it with every backbone whose cache lacks
 * it (unless the caller's training matrix already has it).
 */
async function readImages(
  store: ObjectStore,
  images: readonly AssessRow[],
  backbones: AssessableBackbone[],
  given: ReadonlyMap<string, Set<string>>,
  chunkSize: number,
  log: (message: string) => void,
): Promise<{ pixels: Map<string, Float32Array>; excluded: ExcludedImage[]; embeddedNow: Map<string, number> }> {
  const cache = new EmbeddingCache(store);
  const pixels = new Map<string, Float32Array>();
  const excluded: ExcludedImage[] = [];
  const embeddedNow = new Map<string, number>(backbones.map((b) => [b.id, 0]));
  for (let start = 0; start < images.length; start += chunkSize) {
    const chunk = images.slice(start, start + chunkSize);
    const bytes = await mapLimit(chunk, 8, async ({ key, sha256 }) => {
      const body = await store.get(key);
      if (body === undefined) {
        excluded.push({ key, reason: 'source image no longer in the store' });
        return undefined;
      }
      if (sha256Hex(body) !== sha256) {
        excluded.push({ key, reason: 'source image changed since it was extracted (content hash differs from its record)' });
        return undefined;
      }
      return body;
    });
    const present = chunk.flatMap((image, i) => (bytes[i] ? [{ ...image, bytes: bytes[i] as Uint8Array }] : []));

    const features = await pixelFeatures(present.map((p) => p.bytes));
    present.forEach((p, i) => {
      const f = features[i];
      if (f instanceof Float32Array) pixels.set(p.sha256, f);
      else excluded.push({ key: p.key, reason: `pixel baseline: ${f?.message ?? 'no features'}` });
    });

    for (const backbone of backbones) {
      const known = given.get(backbone.id);
      const cached = await mapLimit(present, 16, async (p) => known?.has(p.sha256) || (await cache.has(backbone.id, p.sha256)));
      const missing = present.filter((_, i) => !cached[i]);
      if (missing.length === 0) continue;
      const embeddings = await backbone.embedImages(missing.map((m) => m.bytes));
      await mapLimit(missing, 16, async (m, i) => {
        const e = embeddings[i];
        if (e instanceof Float32Array) await cache.put(backbone.id, m.sha256, e);
      });
      embeddedNow.set(backbone.id, (embeddedNow.get(backbone.id) ?? 0) + embeddings.filter((e) => e instanceof Float32Array).length);
    }
    log(`read ${Math.min(start + chunkSize, images.length)}/${images.length} images`);
  }
  return { pixels, excluded, embeddedNow };
}

/** The sampled rows' embeddings for one backbone: from the caller's matrix, else the cache (undefined: not embedded). */
async function sampledEmbeddings(store: ObjectStore, backboneId: string, rows: readonly AssessRow[], given: TrainingData | undefined): Promise<(Float32Array | undefined)[]> {
  if (given) {
    const [, d] = given.dims;
    const index = new Map(given.sha256s.map((sha, i) => [sha, i]));
    return rows.map((r) => {
      const i = index.get(r.sha256);
      return i === undefined ? undefined : given.embeddings.subarray(i * d, (i + 1) * d);
    });
  }
  return new EmbeddingCache(store).getMany(backboneId, rows.map((r) => r.sha256));
}

function stack(vectors: readonly Float32Array[], d: number): Float32Array {
  const out = new Float32Array(vectors.length * d);
  vectors.forEach((v, r) => out.set(v, r * d));
  return out;
}

/** The backbone for `--backbone auto`: best probe balanced accuracy, ties broken by LogME, then id. */
export function pickBackbone(assessment: Pick<TransferAssessment, 'backbones'>): BackboneAssessment {
  const sorted = [...assessment.backbones].sort(compareBackbones);
  const best = sorted[0];
  if (best === undefined) throw new RangeError('the assessment has no backbones to pick from');
  return best;
}

function compareBackbones(a: BackboneAssessment, b: BackboneAssessment): number {
  if (a.probeBalancedAccuracy !== b.probeBalancedAccuracy) return b.probeBalancedAccuracy - a.probeBalancedAccuracy;
  if (a.logme !== b.logme) return b.logme - a.logme;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function ranks(values: number[]): number[] {
  return values.map((v) => 1 + values.filter((w) => w > v).length);
}

/** Fills in the ranks by LogME and by probe, and sorts best probe first (the order of {@link pickBackbone}). */
export function rankBackbones(scored: BackboneAssessment[]): BackboneAssessment[] {
  const byLogme = ranks(scored.map((s) => s.logme));
  const byProbe = ranks(scored.map((s) => s.probeBalancedAccuracy));
  scored.forEach((s, i) => {
    s.rankByLogme = byLogme[i] as number;
    s.rankByProbe = byProbe[i] as number;
  });
  return scored.sort(compareBackbones);
}

/**
 * One pretrained arm: LogME and the cross-validated linear probe on its embeddings of the assessed
 * rows, judged against the baseline's out-of-fold tally on the same rows (images or texts alike).
 */
export async function scoreEmbeddings(
  arm: { id: string; name: string; embeddings: Float32Array; dim: number; embeddedNow: number },
  rows: { labels: Int32Array; classNames: string[] },
  baselineTally: ClassTally,
  trainOptions: { seed: number; folds: number; lambdas: number[]; device?: Device },
  thresholds: VerdictThresholds,
): Promise<{ assessed: BackboneAssessment; head: TrainedHead }> {
  const { labels, classNames } = rows;
  const dims: [number, number] = [labels.length, arm.dim];
  const s0 = performance.now();
  const score = logme(arm.embeddings, dims, labels, classNames.length).score;
  const s1 = performance.now();
  const head = await trainHead({ embeddings: arm.embeddings, dims, labels, classNames }, trainOptions);
  const s2 = performance.now();
  const judged = decideVerdict(measureGain(tallyFromConfusion(head.metrics.confusion), baselineTally, thresholds.z), thresholds);
  const assessed: BackboneAssessment = {
    id: arm.id,
    name: arm.name,
    logme: score,
    probeAccuracy: head.metrics.accuracy,
    probeBalancedAccuracy: head.metrics.balancedAccuracy,
    lambda: head.lambda,
    rankByLogme: 0,
    rankByProbe: 0,
    gain: judged.gain,
    verdict: judged.verdict,
    confident: judged.confident,
    embeddedNow: arm.embeddedNow,
    timings: { logmeMs: s1 - s0, probeMs: s2 - s1 },
  };
  return { assessed, head };
}

/** The protocol every arm of an assessment shares, with its defaults (images and texts alike). */
export function protocolSettings(options: Pick<AssessOptions, 'seed' | 'folds' | 'lambdas' | 'thresholds'>): { seed: number; folds: number; lambdas: number[]; thresholds: VerdictThresholds } {
  return {
    seed: options.seed ?? DEFAULT_SEED,
    folds: options.folds ?? DEFAULT_FOLDS,
    lambdas: [...(options.lambdas ?? DEFAULT_LAMBDAS)],
    thresholds: options.thresholds ?? DEFAULT_THRESHOLDS,
  };
}

export async function assessDataset(plane: Pick<DataPlane, 'store' | 'index'>, dataset: string, options: AssessOptions = {}): Promise<TransferAssessment> {
  const { store } = plane;
  const started = performance.now();
  const log = options.log ?? ((): void => {});
  const { seed, folds, lambdas, thresholds } = protocolSettings(options);
  const maxPerClass = options.images?.maxPerClass;
  if (maxPerClass !== undefined && !(Number.isInteger(maxPerClass) && maxPerClass >= 2)) {
    throw new TrainingDataError(`images.maxPerClass must be an integer >= 2, got ${maxPerClass}`);
  }
  const trainOptions = { seed, folds, lambdas, ...(options.device ? { device: options.device } : {}) };

  const { loaded, skipped } = await openBackbones(options);
  try {
    const backbones = loaded.map((l) => l.backbone);
    const given = new Map(Object.entries(options.trainingData ?? {}));
    const listing = await listingMatrix(plane, dataset, backbones, given);
    given.set(listing.id, listing.data);
    const listed = datasetRows(listing.data);
    // Sample first: only the sampled images are read, hashed, decoded and embedded.
    const sampled = sampleRows(listed.rows, maxPerClass, seed);
    const givenShas = new Map([...given].map(([id, td]) => [id, new Set(td.sha256s)]));
    const { pixels, excluded, embeddedNow } = await readImages(store, sampled, backbones, givenShas, options.chunkSize ?? 64, log);
    const read = performance.now();

    const vectors = await Promise.all(backbones.map((b) => sampledEmbeddings(store, b.id, sampled, given.get(b.id))));
    const notEmbedded: ExcludedImage[] = [];
    const kept: AssessRow[] = [];
    const keptVectors: Float32Array[][] = backbones.map(() => []);
    sampled.forEach((row, i) => {
      if (!pixels.has(row.sha256)) return; // already recorded as excluded by readImages
      if (vectors.some((v) => v[i] === undefined)) {
        notEmbedded.push({ key: row.key, reason: 'not embedded by every backbone assessed' });
        return;
      }
      kept.push(row);
      vectors.forEach((v, b) => (keptVectors[b] as Float32Array[]).push(v[i] as Float32Array));
    });
    const matrices = keptVectors.map((v) => ({ embeddings: stack(v, v[0]?.length ?? 0), dim: v[0]?.length ?? 0 }));
    const classNames = [...new Set(kept.map((r) => r.label))].sort();
    const labels = Int32Array.from(kept, (r) => classNames.indexOf(r.label));
    const classCounts = classNames.map((_, c) => labels.filter((l) => l === c).length);
    const n = kept.length;
    if (classNames.length < 2 || classCounts.some((count) => count < 2)) {
      throw new TrainingDataError(`dataset "${dataset}" has too few images every arm can use to assess transfer: ${classNames.map((c, i) => `${c} ${classCounts[i]}`).join(', ') || 'none'}`, {
        context: { dataset, classes: Object.fromEntries(classNames.map((c, i) => [c, classCounts[i]])) },
      });
    }

    // Baseline: standardised pixels, the same head.
    const rawPixels = new Float32Array(n * PIXEL_FEATURES);
    kept.forEach((row, r) => rawPixels.set(pixels.get(row.sha256) as Float32Array, r * PIXEL_FEATURES));
    const standardizer = fitStandardizer(rawPixels, PIXEL_FEATURES);
    const standardized = standardize(rawPixels, PIXEL_FEATURES, standardizer);
    const t1 = performance.now();
    const baselineLogme = logme(standardized, [n, PIXEL_FEATURES], labels, classNames.length).score;
    const t2 = performance.now();
    log(`baseline: training the linear head on ${n} x ${PIXEL_FEATURES} pixels`);
    const baselineHead = await trainHead({ embeddings: standardized, dims: [n, PIXEL_FEATURES], labels, classNames }, trainOptions);
    const t3 = performance.now();
    options.onTrainedHead?.({ id: PIXEL_FEATURES_ID, head: baselineHead, standardizer });
    const baselineTally = tallyFromConfusion(baselineHead.metrics.confusion);

    const scored: BackboneAssessment[] = [];
    for (const [b, backbone] of backbones.entries()) {
      const { embeddings, dim } = matrices[b] as { embeddings: Float32Array; dim: number };
      log(`${backbone.id}: training the linear head on ${n} x ${dim} embeddings`);
      const arm = { id: backbone.id, name: backbone.spec.name, embeddings, dim, embeddedNow: embeddedNow.get(backbone.id) ?? 0 };
      const { assessed, head } = await scoreEmbeddings(arm, { labels, classNames }, baselineTally, trainOptions, thresholds);
      options.onTrainedHead?.({ id: backbone.id, head });
      scored.push(assessed);
    }
    rankBackbones(scored);

    const chosen = pickBackbone({ backbones: scored });
    const judged = decideVerdict(chosen.gain, thresholds);

    let curve: LearningCurve | undefined;
    let learningCurveMs: number | undefined;
    if (options.learningCurve) {
      const c0 = performance.now();
      const index = backbones.findIndex((b) => b.id === chosen.id);
      const matrix = matrices[index] as { embeddings: Float32Array; dim: number };
      log(`learning curve with ${chosen.id}`);
      curve = await learningCurve(
        { embeddings: matrix.embeddings, embeddingDim: matrix.dim, pixels: rawPixels, pixelDim: PIXEL_FEATURES, labels, classNames },
        { seed, ...(options.device ? { device: options.device } : {}), ...(options.learningCurve === true ? {} : options.learningCurve) },
      );
      learningCurveMs = performance.now() - c0;
    }
    const seen = new Set<string>();
    const allExcluded = [...excluded, ...listed.excluded, ...notEmbedded].filter((e) => (seen.has(e.key) ? false : (seen.add(e.key), true)));
    return {
      dataset,
      n,
      classNames,
      classCounts,
      backbones: scored,
      baseline: {
        features: PIXEL_FEATURES_ID,
        dims: PIXEL_FEATURES,
        logme: baselineLogme,
        accuracy: baselineHead.metrics.accuracy,
        balancedAccuracy: baselineHead.metrics.balancedAccuracy,
        lambda: baselineHead.lambda,
        standardization: 'all assessed rows',
        timings: { logmeMs: t2 - t1, probeMs: t3 - t2 },
      },
      baselineAccuracy: baselineHead.metrics.accuracy,
      chosen: chosen.id,
      gain: judged.gain,
      verdict: judged.verdict,
      confident: judged.confident,
      negativeTransfer: judged.negativeTransfer,
      explanation: backbones.length > 1 ? `With ${chosen.name}, the best of ${backbones.length} backbones by cross-validated accuracy: ${judged.explanation}` : judged.explanation,
      thresholds: judged.thresholds,
      excluded: allExcluded,
      skippedBackbones: skipped,
      ...(curve ? { learningCurve: curve } : {}),
      settings: { seed, folds, lambdas, head: 'linear', metric: 'balancedAccuracy', ...(maxPerClass !== undefined ? { maxPerClass } : {}) },
      timings: { totalMs: performance.now() - started, readMs: read - started, ...(learningCurveMs !== undefined ? { learningCurveMs } : {}) },
    };
  } finally {
    await Promise.all(loaded.map((l) => l.owned?.release()));
  }
}
