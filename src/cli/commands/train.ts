/** `headstart train <name> [--json]`: trains, publishes a version, prints its metrics. */
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { validateName } from '../../dataset/names.js';
import type { ModelManifest } from '../../registry/ModelManifest.js';
import { percent, printJson, printLine, table } from '../output.js';

export function modelSummary(m: ModelManifest): Record<string, unknown> {
  return {
    dataset: m.dataset,
    version: m.version,
    backbone: m.backbone.id,
    labels: m.labels,
    images: m.data.images,
    excluded: m.data.excluded,
    head: m.head,
    accuracy: m.metrics.accuracy,
    macroF1: m.metrics.macroF1,
    perClass: m.metrics.perClass,
    confusion: m.metrics.confusion,
    durationMs: m.training.durationMs,
    ...(m.assessment ? { assessment: m.assessment } : {}),
  };
}

export function printMetrics(metrics: ModelManifest['metrics']): void {
  printLine(`accuracy ${percent(metrics.accuracy)}, macro-F1 ${metrics.macroF1.toFixed(3)} on ${metrics.n} images`);
  const rows: (string | number)[][] = [['label', 'precision', 'recall', 'f1', 'support']];
  for (const label of metrics.labels) {
    const c = metrics.perClass[label];
    if (c) rows.push([label, c.precision.toFixed(3), c.recall.toFixed(3), c.f1.toFixed(3), c.support]);
  }
  printLine(table(rows));
}

export async function trainCommand(runtime: LocalRuntime, name: string, options: { json?: boolean; hidden?: number; seed: number; backbone?: string }): Promise<void> {
  const dataset = validateName(name, 'dataset');
  // Long steps (assessment, cross-validation, final fit, report) show on stderr when it is a terminal.
  const line = process.stderr.isTTY ? progressLine(process.stderr) : undefined;
  let manifest: ModelManifest;
  try {
    manifest = await runtime.jobs.runNow(dataset, () =>
      runtime.train(dataset, {
        seed: options.seed,
        ...(options.hidden ? { hidden: options.hidden } : {}),
        ...(options.backbone ? { backbone: options.backbone } : {}),
        ...(line ? { progress: line.step } : {}),
      }),
    );
  } finally {
    line?.stop();
  }
  if (options.json) {
    printJson(modelSummary(manifest));
    return;
  }
  printLine(`published ${dataset} ${manifest.version} (current), ${manifest.head.kind} head on ${manifest.backbone.id}, lambda ${manifest.head.lambda}`);
  printLine(`trained on ${manifest.data.images} images in ${(manifest.training.durationMs / 1000).toFixed(1)} s; validation (out-of-fold, ${manifest.training.folds} folds):`);
  printMetrics(manifest.metrics);
  if (manifest.assessment) printLine(`transfer ${manifest.assessment.verdict}: ${manifest.assessment.explanation}`);
  if (manifest.text) printLine(manifest.text.choice);
  for (const e of manifest.data.excluded) printLine(`  left out ${e.key}: ${e.reason}`);
}

/**
 * One stderr line that names the running step of a long command and its elapsed time, redrawn
 * every second and erased at the end (only on a terminal: logs and pipes get none of it).
 */
function progressLine(stream: NodeJS.WriteStream): { step: (text: string) => void; stop: () => void } {
  const started = Date.now();
  let current = 'starting';
  let stepStarted = started;
  const draw = (): void => {
    const total = Math.round((Date.now() - started) / 1000);
    const inStep = Math.round((Date.now() - stepStarted) / 1000);
    const text = `training: ${current} (${inStep} s, ${total} s in all)`;
    stream.write(`\r\x1b[K${text.slice(0, Math.max(20, (stream.columns || 80) - 1))}`);
  };
  const timer = setInterval(draw, 1000);
  timer.unref();
  return {
    step: (text) => {
      current = text;
      stepStarted = Date.now();
      draw();
    },
    stop: () => {
      clearInterval(timer);
      stream.write('\r\x1b[K');
    },
  };
}
