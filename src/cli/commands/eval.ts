/**
 * `headstart eval <name> <folder> [--json]`: predicts every image of a labelled folder with the
 * current model and scores it. JSON: `{ accuracy, macroF1, n, perClass, confusion, labels }`.
 * Folder labels the model does not know count as errors (they can never be predicted), and so do
 * images that cannot be read or decoded: they are in `failed`, in `unreadable`, and in `n`, the
 * denominator of `accuracy` (an image the model cannot answer for is not a right answer).
 * `perClass`, `confusion` and `macroF1` cover the images that were predicted.
 */
import { validateName } from '../../dataset/names.js';
import { readLabelledFolder } from '../../local/labelledFolder.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { classificationMetrics, type ClassificationMetrics } from '../../training/metrics.js';
import { printJson } from '../output.js';
import { printMetrics } from './train.js';
import { predictFiles } from './predict.js';

export interface EvalResult {
  accuracy: number;
  macroF1: number;
  n: number;
  perClass: ClassificationMetrics['perClass'];
  confusion: number[][];
  labels: string[];
  model: string;
  /** Images of the folder that could not be predicted (unreadable, not an image...), counted as errors in `n`. */
  unreadable?: number;
  failed: { file: string; error: string }[];
}

export async function evaluate(runtime: LocalRuntime, dataset: string, folder: string): Promise<EvalResult> {
  const { files } = await readLabelledFolder(folder);
  const truthByFile = new Map(files.map((f) => [f.path, f.label]));
  const truth: string[] = [];
  const predicted: string[] = [];
  const failed: { file: string; error: string }[] = [];
  let model = '';
  await predictFiles(
    runtime,
    dataset,
    files.map((f) => f.path),
    (r) => {
      truth.push(truthByFile.get(r.file) as string);
      predicted.push(r.label);
      model = r.model;
    },
    (file, error) => failed.push({ file, error }),
  );
  const labels = [...new Set([...predicted, ...truth])].sort();
  const index = new Map(labels.map((l, i) => [l, i]));
  const metrics = classificationMetrics(
    truth.map((l) => index.get(l) as number),
    predicted.map((l) => index.get(l) as number),
    labels,
  );
  const correct = Math.round(metrics.accuracy * metrics.n);
  const n = metrics.n + failed.length;
  return {
    accuracy: n === 0 ? 0 : correct / n,
    macroF1: metrics.macroF1,
    n,
    perClass: metrics.perClass,
    confusion: metrics.confusion,
    labels: metrics.labels,
    model,
    unreadable: failed.length,
    failed,
  };
}

export async function evalCommand(runtime: LocalRuntime, name: string, folder: string, options: { json?: boolean }): Promise<void> {
  const result = await evaluate(runtime, validateName(name, 'dataset'), folder);
  if (options.json) printJson(result);
  else printMetrics(result);
  for (const f of result.failed) process.stderr.write(`headstart: ${f.file}: ${f.error}\n`);
}
