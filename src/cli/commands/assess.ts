/**
 * `headstart assess <name> [--json]`: does pretraining help on this dataset? For every backbone on
 * this machine: LogME and the cross-validated linear probe; beside them the same head on raw
 * pixels (no transfer), or for a text dataset TF-IDF n-grams beside each text encoder (on the sample
 * a training assesses: at most 60 texts per label); the verdict with its numbers. JSON:
 * `{ "backbones": [{ "id", "logme", "probeAccuracy" }], "baselineAccuracy", "gain", "verdict", "explanation" }`.
 */
import { validateName } from '../../dataset/names.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { assessDataset } from '../../transfer/assess.js';
import { datasetModality } from '../../pipeline/datasetModality.js';
import { assessTextDataset } from '../../pipeline/trainTextChoosingRepresentation.js';
import { summarizeAssessment } from '../../transfer/assessmentSummary.js';
import { percent, printJson, printLine, table } from '../output.js';

export async function assessCommand(runtime: LocalRuntime, name: string, options: { json?: boolean; backbones?: string[] }): Promise<void> {
  const dataset = validateName(name, 'dataset');
  // A text dataset compares text encoders with TF-IDF n-grams (the core's text policy), on the sample a training assesses.
  const texts = (await datasetModality(runtime, dataset)) === 'text';
  const assessment = texts
    ? await assessTextDataset(runtime, { location: { backbonesDir: runtime.backbonesDir }, load: (n) => runtime.textBackboneNamed(n) }, dataset, {
        ...(options.backbones ? { encoders: options.backbones } : {}),
        device: runtime.config.device,
      })
    : await assessDataset(runtime, dataset, {
        location: { backbonesDir: runtime.backbonesDir },
        ...(options.backbones ? { backbones: options.backbones } : {}),
        device: runtime.config.device,
      });
  const summary = summarizeAssessment(assessment);
  if (options.json) {
    printJson({ dataset, ...summary });
    return;
  }
  printLine(`dataset "${dataset}", ${summary.n} ${texts ? 'texts' : 'images'}: transfer ${summary.verdict.toUpperCase()}`);
  printLine(summary.explanation);
  printLine(
    table([
      ['backbone', 'LogME', 'probe accuracy', 'rank (LogME / probe)'],
      ...summary.backbones.map((b) => [b.id, b.logme.toFixed(3), percent(b.probeAccuracy), `${b.rankByLogme} / ${b.rankByProbe}`]),
      [texts ? 'no transfer (TF-IDF n-grams)' : 'no transfer (32x32 pixels)', '', percent(summary.baselineAccuracy), ''],
    ]),
  );
  for (const s of assessment.skippedBackbones) printLine(`  skipped ${s.name}: ${s.reason}`);
}
