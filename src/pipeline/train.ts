/**
 * Training a dataset end to end: cached embeddings -> cross-validated head -> head.onnx,
 * standalone.onnx and model.json -> a new immutable version, made current only once complete.
 * The local job runner, the CLI and the Batch job entry point all call {@link trainDataset}.
 */
import type { Device } from '../backend/onnx.js';
import type { BackboneSpec } from '../backbone/catalogue.js';
import { exportHead } from '../head/exportHead.js';
import { exportStandalone } from '../head/exportStandalone.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry, newVersionId } from '../registry/ModelRegistry.js';
import { MISCLASSIFIED_FILE, type MisclassifiedList } from '../registry/misclassified.js';
import { buildReportInput, selectMisclassified } from '../report/reportInput.js';
import { renderReport } from '../report/renderReport.js';
import { encodeOutOfDomain, fitOutOfDomain } from '../transfer/outOfDomain.js';
import { assessDataset, type TransferAssessment } from '../transfer/assess.js';
import { summarizeAssessment } from '../transfer/assessmentSummary.js';
import { trainHead } from '../training/trainHead.js';
import { compactTrainingEmbeddings, loadTrainingData, readTrainingRows, sampleTrainingData, type TrainingData } from './trainingData.js';
import type { CompactionResult } from '../embeddings/PackedEmbeddings.js';
import type { TrainedHead, TrainOptions as HeadTrainOptions } from '../training/types.js';
import type { DatasetIndex } from '../ports/DatasetIndex.js';
import type { Embedder } from './extract.js';
import type { InvalidImageError } from '../errors.js';

/**
 * What training needs of the backbone: who it is, its ONNX bytes for the standalone export, and
 * embedding (the assessment embeds images the cache lacks).
 */
export interface TrainingBackbone extends Embedder {
  readonly id: string;
  readonly spec: BackboneSpec;
  /** An image backbone: its refusals are images' (Embedder also admits text encoders). */
  embedImages(images: Uint8Array[]): Promise<Array<Float32Array | InvalidImageError>>;
  /** The backbone graph with its pooled `embedding` output (added at load for feature-tensor backbones). */
  modelBytes(): Promise<Uint8Array>;
  /** Graph output holding the embedding. */
  readonly embeddingOutput: string;
}

/**
 * The assessment that every `train` runs is bounded so training stays quick: at most 60 images per
 * class, five L2 strengths instead of eleven, three seeds per learning-curve point. On
 * fashion_mnist the full assessment (`headstart assess`) took about 8 minutes on a loaded 2-core
 * machine, mostly the pixel baseline's cross-validation on 3,072 features.
 */
export const TRAIN_ASSESSMENT = Object.freeze({
  images: { maxPerClass: 60 },
  lambdas: [1e-1, 1e-2, 1e-3, 1e-4, 1e-5],
  learningCurve: { seeds: 3 },
});

export interface TrainOptions {
  hidden?: number;
  seed?: number;
  device?: Device;
  lambdas?: number[];
  folds?: number;
  /** Publish without moving the current pointer. */
  promote?: boolean;
  /** Skip the standalone (image -> probabilities) export, e.g. in tests that only need the head. */
  standalone?: boolean;
  /** Skip the HTML report (it reads thumbnails of misclassified images from the store). */
  report?: boolean;
  /**
   * Measure whether transfer helps (LogME, probe vs the no-transfer pixel baseline, verdict) and the
   * learning curve, and keep them in model.json. Default true.
   */
  assess?: boolean;
  /** An assessment already made (by `--backbone auto`), kept instead of measuring again. */
  assessment?: TransferAssessment;
  /** Told the step that starts (e.g. "cross-validation and final fit"), for a progress line; steps take seconds to minutes. */
  progress?: (step: string) => void;
}

export async function trainDataset(
  deps: { store: ObjectStore; index: DatasetIndex; backbone: TrainingBackbone },
  dataset: string,
  options: TrainOptions = {},
): Promise<ModelManifest> {
  const started = Date.now();
  const { store, backbone } = deps;
  const progress = options.progress ?? ((): void => {});
  const { compaction, data, head, ood, assessed } = await fitOnMatrix(deps, dataset, options, progress);
  // The matrix is unreachable from here: the assessment, the export, the report and the publish
  // below allocate their own buffers (the standalone graph alone is the backbone's size) without it.
  if (assessed) progress('transfer assessment');
  const assessment =
    options.assessment ??
    (assessed
      ? await assessDataset(deps, dataset, { ...TRAIN_ASSESSMENT, backbones: [backbone], trainingData: { [backbone.id]: assessed }, seed: options.seed ?? 0, device: options.device ?? 'cpu', log: (m: string) => progress(`transfer assessment: ${m}`) })
      : undefined);
  const headBytes = exportHead(head, { backboneId: backbone.id, metadata: { dataset } });
  const files: Record<string, Uint8Array> = { 'head.onnx': headBytes, [ood.manifest.reference.file]: ood.bytes };
  if (options.standalone ?? true) {
    files['standalone.onnx'] = exportStandalone(await backbone.modelBytes(), headBytes, { embeddingOutput: backbone.embeddingOutput });
  }

  const version = newVersionId();
  const manifest: Omit<ModelManifest, 'version' | 'dataset' | 'createdAt'> = {
    ...headManifest(head, data, { started, compaction }),
    backbone: { id: backbone.id, name: backbone.spec.name, sha256: backbone.spec.sha256, embeddingSize: backbone.spec.embeddingSize },
    preprocessing: backbone.spec.preprocessing,
    outOfDomain: ood.manifest,
    ...(assessment ? { assessment: summarizeAssessment(assessment), ...(assessment.learningCurve ? { learningCurve: assessment.learningCurve } : {}) } : {}),
    files: { head: 'head.onnx', ...(files['standalone.onnx'] ? { standalone: 'standalone.onnx' } : {}) },
  };
  const rows = { keys: data.keys, labels: data.labels, classNames: head.classNames, oofProbabilities: head.oofProbabilities };
  // Every out-of-fold mistake (the report shows a capped few): the console's list of images to fix.
  const { selected, total } = selectMisclassified(rows, Number.POSITIVE_INFINITY);
  files[MISCLASSIFIED_FILE] = new TextEncoder().encode(JSON.stringify({ total, items: selected } satisfies MisclassifiedList));
  if (options.report ?? true) {
    progress('report');
    const input = await buildReportInput(store, { ...manifest, dataset, version, createdAt: new Date().toISOString() }, rows);
    files['report.html'] = new TextEncoder().encode(renderReport(input));
    manifest.files.report = 'report.html';
  }
  return new ModelRegistry(store).publish(dataset, manifest, files, { promote: options.promote ?? true, version });
}

/**
 * The steps of a training that need the embedding matrix: read it once (after packing what
 * extraction cached since the last run), cross-validate and fit the head, calibrate the
 * out-of-domain flag, and copy out the few rows the transfer assessment samples. Returns
 * everything but the matrix, so the caller never holds it past these steps.
 */
async function fitOnMatrix(
  deps: { store: ObjectStore; index: DatasetIndex; backbone: TrainingBackbone },
  dataset: string,
  options: TrainOptions,
  progress: (step: string) => void,
): Promise<{ compaction: CompactionResult; data: Omit<TrainingData, 'embeddings'>; head: TrainedHead; ood: ReturnType<typeof encodeOutOfDomain>; assessed: TrainingData | undefined }> {
  const { backbone } = deps;
  progress('reading embeddings');
  const rows = await readTrainingRows(deps, dataset);
  const compaction = await compactTrainingEmbeddings(deps, dataset, backbone.id, rows);
  const data = await loadTrainingData(deps, dataset, backbone.id, { rows });
  progress(`cross-validation and final fit on ${data.dims[0]} images`);
  const head = await trainHead(data, headTrainOptions(options));

  // Out-of-domain calibration on out-of-fold scores: a stated 5% false-alarm rate on held-out images.
  progress('out-of-domain calibration');
  const ood = encodeOutOfDomain(await fitOutOfDomain({ embeddings: data.embeddings, dims: data.dims, labels: data.labels, folds: head.folds }));

  // The assessment's own seeded sample, drawn here as it would draw it: its learning curve and
  // probes then run after the matrix is gone (with it, they were a training's memory peak).
  // Only when this run measures transfer itself (not given an assessment, not told to skip it).
  const assessed = !options.assessment && (options.assess ?? true) ? sampleTrainingData(data, TRAIN_ASSESSMENT.images.maxPerClass, options.seed ?? 0) : undefined;
  const { embeddings: _matrix, ...rest } = data;
  return { compaction, data: rest, head, ood, assessed };
}

/** The head trainer's options from a training's (the same for an image backbone and a text encoder). */
export function headTrainOptions(options: Pick<TrainOptions, 'hidden' | 'lambdas' | 'folds' | 'seed' | 'device'>): HeadTrainOptions {
  return {
    ...(options.hidden ? { hidden: options.hidden } : {}),
    ...(options.lambdas ? { lambdas: options.lambdas } : {}),
    ...(options.folds ? { folds: options.folds } : {}),
    seed: options.seed ?? 0,
    device: options.device ?? 'cpu',
  };
}

/**
 * What model.json says about a dense head trained on a dataset's embeddings (image backbone or text
 * encoder alike): labels, head, validation metrics, how it was trained, and on which rows.
 */
export function headManifest(
  head: TrainedHead,
  data: Pick<TrainingData, 'labels' | 'classNames' | 'dims' | 'fingerprint' | 'excluded'>,
  run: { started: number; compaction: CompactionResult },
): Pick<ModelManifest, 'labels' | 'head' | 'metrics' | 'validation' | 'training' | 'data'> {
  const imagesPerLabel: Record<string, number> = {};
  for (const index of data.labels) {
    const label = data.classNames[index] as string;
    imagesPerLabel[label] = (imagesPerLabel[label] ?? 0) + 1;
  }
  const { balancedAccuracy: _b, logLoss: _l, folds: _f, ...metrics } = head.metrics;
  const { compaction } = run;
  return {
    labels: head.classNames,
    head: { kind: head.kind, ...(head.kind === 'mlp' ? { hidden: head.settings.hidden } : {}), lambda: head.lambda, file: 'head.onnx' },
    metrics,
    validation: { balancedAccuracy: head.metrics.balancedAccuracy, logLoss: head.metrics.logLoss, lambdaScores: head.lambdaScores, selection: head.settings.selection },
    training: {
      seed: head.settings.seed,
      folds: head.settings.folds,
      lambdas: head.settings.lambdas,
      device: head.settings.device,
      ...(head.settings.deviceFallback ? { deviceFallback: head.settings.deviceFallback } : {}),
      dtype: head.settings.dtype,
      durationMs: Date.now() - run.started,
      compaction: { added: compaction.added, packedBefore: compaction.packedBefore, shards: compaction.shards },
      imagesPerLabel,
      curve: head.trainingCurve,
    },
    data: { fingerprint: data.fingerprint, images: data.dims[0], excluded: data.excluded },
  };
}
