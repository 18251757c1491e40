/**
 * What a text version carries beside its model, as an image version does (src/pipeline/train.ts):
 * the learning curve in model.json, every out-of-fold mistake (misclassified.json, the console's
 * list of examples to fix) and the self-contained report.html, with the misclassified texts where
 * images show thumbnails. A text trainer calls {@link addTextCurveAndReport} just before it
 * publishes; it adds to the manifest and the files it is given.
 */
import { TrainingDataError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { MISCLASSIFIED_FILE, type MisclassifiedList } from '../registry/misclassified.js';
import { buildReportInput, selectMisclassified, type ReportRows } from '../report/reportInput.js';
import { renderReport } from '../report/renderReport.js';
import { textCurveOptions, textLearningCurve } from '../text/textLearningCurve.js';

export const REPORT_FILE = 'report.html';

export interface TextVersionRows extends ReportRows {
  /** The training texts in row order: the learning curve refits TF-IDF on subsets of them. */
  texts?: readonly string[];
  /** An encoder version's embeddings of them: its curve draws the encoder beside TF-IDF. */
  encoder?: { name: string; embeddings: Float32Array; dim: number };
}

export interface TextVersionReportOptions {
  seed?: number;
  /** Measure the learning curve (given the texts, and an encoder version's embeddings). Default true. */
  learningCurve?: boolean;
  /** Write report.html. Default true. */
  report?: boolean;
  progress?: (step: string) => void;
}

type UnpublishedManifest = Omit<ModelManifest, 'version' | 'dataset' | 'createdAt'>;

export async function addTextCurveAndReport(
  store: ObjectStore,
  version: { dataset: string; version: string },
  manifest: UnpublishedManifest,
  files: Record<string, Uint8Array>,
  rows: TextVersionRows,
  options: TextVersionReportOptions = {},
): Promise<void> {
  const progress = options.progress ?? ((): void => {});
  // The curve refits the version's own representation on subsets of its rows: TF-IDF alone, or an
  // encoder's embeddings beside TF-IDF (the no-transfer baseline), as an image curve has pixels.
  const representation = manifest.text?.representation;
  const encoder = representation === 'encoder' ? rows.encoder : undefined;
  if ((options.learningCurve ?? true) && rows.texts !== undefined && (representation === 'tfidf' || encoder !== undefined)) {
    progress('learning curve');
    const input = { texts: rows.texts, labels: Int32Array.from(rows.labels), classNames: rows.classNames, ...(encoder ? { encoder } : {}) };
    try {
      manifest.learningCurve = await textLearningCurve(input, { ...textCurveOptions(rows.labels.length), seed: options.seed ?? 0 });
    } catch (error) {
      // Too few texts in some label for a held-out one and a training one: the version has no curve.
      if (!(error instanceof TrainingDataError)) throw error;
    }
  }
  const { selected, total } = selectMisclassified(rows, Number.POSITIVE_INFINITY);
  files[MISCLASSIFIED_FILE] = new TextEncoder().encode(JSON.stringify({ total, items: selected } satisfies MisclassifiedList));
  if (options.report ?? true) {
    progress('report');
    const input = await buildReportInput(store, { ...manifest, ...version, createdAt: new Date().toISOString() }, rows);
    files[REPORT_FILE] = new TextEncoder().encode(renderReport(input));
    manifest.files.report = REPORT_FILE;
  }
}
