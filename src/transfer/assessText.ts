/**
 * Does a pretrained text encoder help on this dataset? The text side of assess.ts: on one seeded
 * sample of texts, the cross-validated balanced accuracy of the linear head on each encoder's
 * embeddings beside the no-transfer baseline, the TF-IDF featuriser with its sparse linear head
 * (word 1-2-grams + character 2-5-grams, what a text version trains when it has no encoder).
 *
 * Protocol shared by every arm, as for images: the same rows in the same order, the same folds
 * (stratified, the same seed: trainHead and the sparse head draw them alike), the same
 * class-balanced loss, lambda chosen on out-of-fold balanced accuracy, and the verdict's thresholds
 * and arithmetic (verdict.ts), so "helps" means the same for texts and images. Each head searches
 * its own lambda grid: the dense head TRAIN_ASSESSMENT's, the sparse head the one tuned for TF-IDF
 * rows (their losses reach their optimum at lambdas decades apart). The TF-IDF vocabulary and idf
 * are fitted on all sampled texts, not inside each fold (no labels are used; the pixel baseline's
 * standardisation makes the same shortcut).
 *
 * The answer also says which representation to train: the one with the higher cross-validated
 * balanced accuracy, TF-IDF on a tie (no encoder to ship or run).
 */
import type { Device } from '../backend/onnx.js';
import type { TextBackboneSpec } from '../backbone/catalogue.js';
import { EmbeddingCache } from '../embeddings/EmbeddingCache.js';
import { TrainingDataError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import type { ExcludedImage } from '../registry/ModelManifest.js';
import { fitTfidfModel } from '../text/tfidfModel.js';
import { mapLimit } from '../util/mapLimit.js';
import { pickBackbone, protocolSettings, rankBackbones, scoreEmbeddings, type BackboneAssessment, type TransferAssessment } from './assess.js';
import { decideVerdict, tallyFromConfusion, TEXT_VERDICT_WORDING, type Verdict, type VerdictThresholds } from './verdict.js';

/** The baseline's name in an assessment and a manifest (summary `baseline`, `chosen` when it wins). */
export const TFIDF_BASELINE = 'tfidf';

/** What the assessment needs of a text encoder (a loaded TextBackbone has it). */
export interface AssessableTextEncoder {
  readonly id: string;
  readonly spec: Pick<TextBackboneSpec, 'name'>;
  embedTexts(texts: readonly string[]): Promise<Float32Array[]>;
}

/** The sampled texts every arm is measured on (see loadTextTrainingSet's `sample`). */
export interface TextAssessmentRows {
  texts: readonly string[];
  labels: Int32Array;
  classNames: string[];
  sha256s: readonly string[];
  excluded: readonly ExcludedImage[];
}

export interface TextAssessOptions {
  seed?: number;
  folds?: number;
  /** The dense head's lambda grid (the sparse head keeps its own). */
  lambdas?: readonly number[];
  device?: Device;
  thresholds?: VerdictThresholds;
  /** Encoders that could not be loaded, reported beside the measured ones. */
  skipped?: { name: string; reason: string }[];
  log?: (message: string) => void;
}

/** An image assessment's fields, with TF-IDF as the baseline and the representation to train. */
export type TextTransferAssessment = Pick<
  TransferAssessment,
  'dataset' | 'n' | 'classNames' | 'classCounts' | 'backbones' | 'baselineAccuracy' | 'chosen' | 'gain' | 'verdict' | 'confident' | 'negativeTransfer' | 'explanation' | 'thresholds' | 'excluded' | 'skippedBackbones'
> & {
  baseline: { features: typeof TFIDF_BASELINE; dims: number; accuracy: number; balancedAccuracy: number; lambda: number; timings: { probeMs: number } };
  /** What to train: the best encoder's id, or {@link TFIDF_BASELINE}. */
  better: string;
  /** One line with both numbers: why `better` (e.g. "TF-IDF 0.742 vs tiny 0.213 balanced accuracy ..."). */
  reason: string;
  settings: { seed: number; folds: number; lambdas: number[]; head: 'linear'; metric: 'balancedAccuracy' };
  timings: { totalMs: number; embedMs: number };
};

/** The sampled texts' embeddings: from the cache, else embedded now and cached under the encoder's id. */
async function sampledEmbeddings(store: ObjectStore, encoder: AssessableTextEncoder, rows: TextAssessmentRows): Promise<{ vectors: Float32Array[]; embeddedNow: number }> {
  const cache = new EmbeddingCache(store);
  const cached = await cache.getMany(encoder.id, rows.sha256s);
  const missing = cached.flatMap((v, i) => (v === undefined ? [i] : []));
  const fresh = missing.length > 0 ? await encoder.embedTexts(missing.map((i) => rows.texts[i] as string)) : [];
  await mapLimit(missing, 16, async (row, j) => {
    cached[row] = fresh[j] as Float32Array;
    await cache.put(encoder.id, rows.sha256s[row] as string, fresh[j] as Float32Array);
  });
  return { vectors: cached as Float32Array[], embeddedNow: missing.length };
}

function stack(vectors: readonly Float32Array[]): { embeddings: Float32Array; dim: number } {
  const dim = vectors[0]?.length ?? 0;
  const embeddings = new Float32Array(vectors.length * dim);
  vectors.forEach((v, r) => embeddings.set(v, r * dim));
  return { embeddings, dim };
}

const VERDICT_PHRASE: Record<Verdict, string> = {
  helps: 'pretraining helps',
  'helps little': 'pretraining helps a little',
  'does not help': 'pretraining does not help here',
};

export async function assessTextRepresentations(
  store: ObjectStore,
  dataset: string,
  rows: TextAssessmentRows,
  encoders: readonly AssessableTextEncoder[],
  options: TextAssessOptions = {},
): Promise<TextTransferAssessment> {
  const started = performance.now();
  const log = options.log ?? ((): void => {});
  const { seed, folds, lambdas, thresholds } = protocolSettings(options);
  if (encoders.length === 0) throw new TrainingDataError('no text encoder to assess against the TF-IDF baseline');
  const { labels, classNames } = rows;
  const n = labels.length;
  const classCounts = classNames.map((_, c) => labels.filter((l) => l === c).length);
  if (classNames.length < 2 || classCounts.some((count) => count < 2)) {
    throw new TrainingDataError(`dataset "${dataset}" has too few texts to assess transfer: ${classNames.map((c, i) => `${c} ${classCounts[i]}`).join(', ') || 'none'}`, {
      context: { dataset, classes: Object.fromEntries(classNames.map((c, i) => [c, classCounts[i]])) },
    });
  }

  log(`baseline: TF-IDF and the sparse linear head on ${n} texts`);
  const b0 = performance.now();
  const tfidf = await fitTfidfModel(rows.texts, labels, classNames, { head: { seed, folds } });
  const b1 = performance.now();
  const baselineTally = tallyFromConfusion(tfidf.trained.metrics.confusion);

  const scored: BackboneAssessment[] = [];
  let embedMs = 0;
  for (const encoder of encoders) {
    log(`${encoder.id}: embedding the texts the cache lacks, then the linear head on ${n} embeddings`);
    const e0 = performance.now();
    const { vectors, embeddedNow } = await sampledEmbeddings(store, encoder, rows);
    embedMs += performance.now() - e0;
    const arm = { id: encoder.id, name: encoder.spec.name, ...stack(vectors), embeddedNow };
    const trainOptions = { seed, folds, lambdas, ...(options.device ? { device: options.device } : {}) };
    scored.push((await scoreEmbeddings(arm, { labels, classNames }, baselineTally, trainOptions, thresholds)).assessed);
  }
  rankBackbones(scored);
  const chosen = pickBackbone({ backbones: scored });
  const judged = decideVerdict(chosen.gain, thresholds, TEXT_VERDICT_WORDING);
  const tfidfScore = tfidf.trained.metrics.balancedAccuracy;
  const encoderWins = chosen.probeBalancedAccuracy > tfidfScore;
  const scores = scored.map((s) => `${s.name} ${s.probeBalancedAccuracy.toFixed(3)}`).join(', ');
  const reason =
    `TF-IDF ${tfidfScore.toFixed(3)} vs ${scores} balanced accuracy (cross-validated, the same ${n} texts and folds): ` +
    `${VERDICT_PHRASE[judged.verdict]}${judged.negativeTransfer ? ', it hurts' : ''} (${judged.gain.value >= 0 ? '+' : ''}${(judged.gain.value * 100).toFixed(1)} points), ` +
    (encoderWins ? `trained on ${chosen.name}` : 'trained on TF-IDF');
  return {
    dataset,
    n,
    classNames,
    classCounts,
    backbones: scored,
    baseline: { features: TFIDF_BASELINE, dims: tfidf.featurizer.dimension, accuracy: tfidf.trained.metrics.accuracy, balancedAccuracy: tfidfScore, lambda: tfidf.trained.lambda, timings: { probeMs: b1 - b0 } },
    baselineAccuracy: tfidf.trained.metrics.accuracy,
    chosen: chosen.id,
    gain: judged.gain,
    verdict: judged.verdict,
    confident: judged.confident,
    negativeTransfer: judged.negativeTransfer,
    explanation: encoders.length > 1 ? `With ${chosen.name}, the best of ${encoders.length} text encoders by cross-validated accuracy: ${judged.explanation}` : judged.explanation,
    thresholds: judged.thresholds,
    better: encoderWins ? chosen.id : TFIDF_BASELINE,
    reason,
    excluded: [...rows.excluded],
    skippedBackbones: [...(options.skipped ?? [])],
    settings: { seed, folds, lambdas, head: 'linear', metric: 'balancedAccuracy' },
    timings: { totalMs: performance.now() - started, embedMs },
  };
}
