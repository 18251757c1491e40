/**
 * Training a text dataset on a pretrained text encoder: the texts the cache lacks for it are
 * embedded first (extraction embedded with the default encoder, or only validated when none was
 * installed), then the same path as images: packed embeddings -> the dense head of trainHead
 * (cross-validated lambda) -> head.onnx, the k-NN out-of-domain detector calibrated on out-of-fold
 * scores -> the learning curve (the encoder beside TF-IDF), misclassified texts and report.html ->
 * a new immutable version with modality 'text' and representation 'encoder', made current once
 * complete. The version names the encoder (id, sha256, width) and its preprocessing (tokenizer
 * sha256, token limit, mean pooling, L2), so serving runs the same encoder or refuses.
 */
import { exportHead } from '../head/exportHead.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry, newVersionId } from '../registry/ModelRegistry.js';
import type { TextBackbone } from '../text/TextBackbone.js';
import { encoderEmbedder } from '../text/textEmbedders.js';
import { tryDecodeText } from '../text/validateText.js';
import { mapLimit } from '../util/mapLimit.js';
import type { AssessmentSummary } from '../transfer/assessmentSummary.js';
import { encodeOutOfDomain, fitOutOfDomain } from '../transfer/outOfDomain.js';
import { trainHead } from '../training/trainHead.js';
import { backfillEmbeddings } from './backfill.js';
import type { DataPlane } from './status.js';
import { addTextCurveAndReport } from './textVersionReport.js';
import { headManifest, headTrainOptions, type TrainOptions } from './train.js';
import { compactTrainingEmbeddings, loadTrainingData, readTrainingRows } from './trainingData.js';

export interface EncoderTrainOptions extends Pick<TrainOptions, 'hidden' | 'seed' | 'device' | 'lambdas' | 'folds' | 'promote' | 'progress'> {
  /** Why this representation, kept as `text.choice`. */
  choice: string;
  /** The encoder-vs-TF-IDF assessment, when one was made. */
  assessment?: AssessmentSummary;
}

export async function trainTextOnEncoder(plane: Pick<DataPlane, 'store' | 'index'>, encoder: TextBackbone, dataset: string, options: EncoderTrainOptions): Promise<ModelManifest> {
  const started = Date.now();
  const { store } = plane;
  const progress = options.progress ?? ((): void => {});
  progress(`embedding the texts the cache lacks with ${encoder.spec.name}`);
  const backfill = await backfillEmbeddings(plane, dataset, encoderEmbedder(encoder));
  progress('reading embeddings');
  const indexRows = await readTrainingRows(plane, dataset);
  const compaction = await compactTrainingEmbeddings(plane, dataset, encoder.id, indexRows);
  const data = await loadTrainingData(plane, dataset, encoder.id, { modality: 'text', rows: indexRows });
  // A text the encoder could not take says why, not only that it has no embedding.
  const failed = new Map(backfill.failed.map((f) => [f.key, f.reason]));
  const excluded = data.excluded.map((e) => (failed.has(e.key) ? { key: e.key, reason: `not embedded with ${encoder.spec.name}: ${failed.get(e.key)}` } : e));

  progress(`cross-validation and final fit on ${data.dims[0]} texts`);
  const head = await trainHead(data, headTrainOptions(options));
  const files: Record<string, Uint8Array> = { 'head.onnx': exportHead(head, { backboneId: encoder.id, metadata: { dataset, modality: 'text' } }) };

  progress('out-of-domain calibration');
  const ood = encodeOutOfDomain(await fitOutOfDomain({ embeddings: data.embeddings, dims: data.dims, labels: data.labels, folds: head.folds }));
  files[ood.manifest.reference.file] = ood.bytes;
  // The texts themselves: the learning curve's TF-IDF series refits on them. One changed since it
  // was embedded (its embedding then no longer matches) counts as empty there.
  const texts = await mapLimit(data.keys, 16, async (key) => {
    const bytes = await store.get(key);
    const text = bytes === undefined ? '' : tryDecodeText(bytes);
    return typeof text === 'string' ? text : '';
  });

  const manifest: Omit<ModelManifest, 'version' | 'dataset' | 'createdAt'> = {
    ...headManifest(head, { ...data, excluded }, { started, compaction }),
    modality: 'text',
    backbone: encoder.ref,
    preprocessing: encoder.spec.preprocessing,
    outOfDomain: ood.manifest,
    ...(options.assessment ? { assessment: options.assessment } : {}),
    files: { head: 'head.onnx' },
    text: { representation: 'encoder', choice: options.choice },
  };
  const version = newVersionId();
  const rows = { keys: data.keys, labels: data.labels, classNames: head.classNames, oofProbabilities: head.oofProbabilities, texts, encoder: { name: encoder.spec.name, embeddings: data.embeddings, dim: data.dims[1] } };
  await addTextCurveAndReport(store, { dataset, version }, manifest, files, rows, { seed: options.seed ?? 0, progress });
  return new ModelRegistry(store).publish(dataset, manifest, files, { promote: options.promote ?? true, version });
}
