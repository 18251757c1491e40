/**
 * Training a text dataset: its validated `.txt` objects -> the TF-IDF featuriser fitted on them ->
 * the sparse linear head (cross-validated lambda) -> a new immutable version with the featuriser,
 * the head and the out-of-domain threshold, made current once complete.
 *
 * Representation policy (the core's, so the local runtime and the Batch job agree): with no
 * pretrained text encoder installed, TF-IDF is used and the version says so and how to get one.
 */
import { usableRows } from './usableRows.js';
import { sampleRows } from '../transfer/sampleRows.js';
import { sha256Hex } from '../dataset/keys.js';
import { TrainingDataError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { collectEntries, type DatasetIndex, type IndexEntry } from '../ports/DatasetIndex.js';
import type { ExcludedImage, ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry, newVersionId } from '../registry/ModelRegistry.js';
import type { AssessmentSummary } from '../transfer/assessmentSummary.js';
import { mapLimit } from '../util/mapLimit.js';
import { encodeTfidfModel, fitTfidfModel, TFIDF_HEAD_FILE, TFIDF_STATE_FILE, tfidfId } from '../text/tfidfModel.js';
import { addTextCurveAndReport } from './textVersionReport.js';
import { decodeText } from '../text/validateText.js';
import { textModality } from './datasetModality.js';

/** How to install a pretrained text encoder. */
export const HOW_TO_GET_TEXT_ENCODER =
  'To get one: `npm run fetch-models -- minilm-l6-v2` on a machine with internet, or `headstart backbone add <model.onnx> --text --tokenizer <tokenizer.json> --name <name>`.';

/** What a text-only training says when it had to fall back to the baseline. */
export const NO_TEXT_ENCODER = `no pretrained text encoder is installed, so this model uses the TF-IDF baseline (word 1-2-grams + character 2-5-grams). ${HOW_TO_GET_TEXT_ENCODER}`;

export interface TextTrainOptions {
  seed?: number;
  folds?: number;
  lambdas?: number[];
  promote?: boolean;
  /** Recorded as the reason for the representation (default: {@link NO_TEXT_ENCODER}). */
  choice?: string;
  /** The encoder-vs-TF-IDF assessment that chose TF-IDF (`--backbone auto`), kept in the version. */
  assessment?: AssessmentSummary;
}

export interface TextTrainingSet {
  texts: string[];
  labels: Int32Array;
  classNames: string[];
  keys: string[];
  sha256s: string[];
  excluded: ExcludedImage[];
  fingerprint: string;
}

/**
 * The dataset's accepted texts, conflicts and byte-identical duplicates left out (and said why).
 * With `sample`, at most `maxPerClass` texts per label (seeded, as the image assessment samples),
 * drawn before any text is read.
 */
export async function loadTextTrainingSet(plane: { store: ObjectStore; index: DatasetIndex }, dataset: string, options: { sample?: { maxPerClass: number; seed: number } } = {}): Promise<TextTrainingSet> {
  const entries = (await collectEntries(plane.index, dataset, { state: 'embedded' })).filter((e) => e.sha256 !== undefined && e.label !== undefined);
  textModality(dataset, entries);
  const usableAll = usableRows(entries as Array<IndexEntry & { sha256: string; label: string }>, 'text');
  const { excluded } = usableAll;
  const usable = options.sample ? sampleRows(usableAll.usable, options.sample.maxPerClass, options.sample.seed) : usableAll.usable;
  const read = await mapLimit(usable, 16, async (e) => {
    const bytes = await plane.store.get(e.key);
    if (bytes === undefined || sha256Hex(bytes) !== e.sha256) return undefined;
    return decodeText(bytes);
  });
  const rows: Array<{ e: IndexEntry; text: string }> = [];
  usable.forEach((e, i) => {
    const text = read[i];
    if (text === undefined) excluded.push({ key: e.key, reason: 'changed or removed since it was extracted' });
    else rows.push({ e, text });
  });
  const classNames = [...new Set(rows.map((r) => r.e.label!))].sort();
  if (rows.length === 0) throw new TrainingDataError(`dataset "${dataset}" has no accepted texts yet: upload datasets/${dataset}/<label>/<name>.txt or a CSV with \`headstart upload\``, { context: { dataset } });
  if (classNames.length < 2) throw new TrainingDataError(`dataset "${dataset}" has only one label (${JSON.stringify(classNames[0])}): a classifier needs at least two`, { context: { dataset } });
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.e.label!, (counts.get(r.e.label!) ?? 0) + 1);
  const tooFew = classNames.filter((c) => (counts.get(c) ?? 0) < 2);
  if (tooFew.length > 0) throw new TrainingDataError(`label ${tooFew.map((c) => JSON.stringify(c)).join(', ')} of dataset "${dataset}" has fewer than 2 usable texts; each label needs at least 2`, { context: { dataset, labels: tooFew } });
  return {
    texts: rows.map((r) => r.text),
    labels: Int32Array.from(rows, (r) => classNames.indexOf(r.e.label!)),
    classNames,
    keys: rows.map((r) => r.e.key),
    sha256s: rows.map((r) => r.e.sha256!),
    excluded,
    fingerprint: sha256Hex(rows.map((r) => `${r.e.label}\u0000${r.e.sha256}`).sort().join('\n')),
  };
}

export async function trainTextDataset(plane: { store: ObjectStore; index: DatasetIndex }, dataset: string, options: TextTrainOptions = {}): Promise<ModelManifest> {
  const started = Date.now();
  const data = await loadTextTrainingSet(plane, dataset);
  const seed = options.seed ?? 0;
  const fitted = await fitTfidfModel(data.texts, data.labels, data.classNames, {
    head: { seed, ...(options.folds ? { folds: options.folds } : {}), ...(options.lambdas ? { lambdas: options.lambdas } : {}) },
  });
  const files: Record<string, Uint8Array> = encodeTfidfModel(fitted);
  const { id, sha256 } = tfidfId(fitted.featurizer.toState());
  const { trained } = fitted;
  const { balancedAccuracy, logLoss, folds: _folds, ...metrics } = trained.metrics;
  const perLabel: Record<string, number> = {};
  for (const l of data.labels) perLabel[data.classNames[l] as string] = (perLabel[data.classNames[l] as string] ?? 0) + 1;
  const state = fitted.featurizer.toState();
  const manifest: Omit<ModelManifest, 'version' | 'dataset' | 'createdAt'> = {
    modality: 'text',
    labels: trained.classNames,
    backbone: { id, name: 'tfidf', sha256, embeddingSize: fitted.featurizer.dimension },
    preprocessing: { representation: 'tfidf', wordNgrams: state.wordNgrams, charNgrams: state.charNgrams, minDf: state.minDf, lowercase: true, normalization: 'l2 per block, 1/sqrt(2)' },
    head: { kind: 'linear', lambda: trained.lambda, file: TFIDF_HEAD_FILE },
    metrics,
    validation: { balancedAccuracy, logLoss, lambdaScores: trained.lambdaScores, selection: trained.settings.selection },
    training: {
      seed,
      folds: trained.settings.folds,
      lambdas: trained.settings.lambdas,
      device: 'cpu',
      durationMs: Date.now() - started,
      imagesPerLabel: perLabel,
      curve: trained.trainingCurve,
    },
    data: { fingerprint: data.fingerprint, images: data.texts.length, excluded: data.excluded },
    ...(options.assessment ? { assessment: options.assessment } : {}),
    files: { head: TFIDF_HEAD_FILE },
    text: { representation: 'tfidf', stateFile: TFIDF_STATE_FILE, headFile: TFIDF_HEAD_FILE, outOfDomain: fitted.outOfDomain, choice: options.choice ?? NO_TEXT_ENCODER },
  };
  // Learning curve, misclassified.json and report.html, as image versions have (textVersionReport.ts).
  const version = newVersionId();
  await addTextCurveAndReport(plane.store, { dataset, version }, manifest, files, { ...data, oofProbabilities: trained.oofProbabilities }, { seed });
  return new ModelRegistry(plane.store).publish(dataset, manifest, files, { promote: options.promote ?? true, version });
}
