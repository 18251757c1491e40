/** `headstart status [name] [--json]`: counts per label, pending work, failures, current model. */
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { validateName } from '../../dataset/names.js';
import { datasetStatus, listDatasets, rejectedObjects, type DatasetStatus } from '../../pipeline/status.js';
import { percent, printJson, printLine } from '../output.js';

function printStatus(s: DatasetStatus): void {
  printLine(`dataset "${s.dataset}": ${s.images} images, ${s.pending} pending, ${s.refused} failed`);
  for (const [label, count] of Object.entries(s.labels)) printLine(`  ${label}: ${count}`);
  printLine(s.model ? `  model ${s.model.version} on ${s.model.backbone}: accuracy ${percent(s.model.accuracy)}, macro-F1 ${s.model.macroF1.toFixed(3)}` : '  no model yet');
  for (const f of s.failures) printLine(`  failed ${f.key}: ${f.error}`);
}

export async function statusCommand(runtime: LocalRuntime, name: string | undefined, options: { json?: boolean }): Promise<void> {
  if (name !== undefined) {
    const status = await datasetStatus(runtime.apiContext(), validateName(name, 'dataset'));
    if (options.json) printJson(status);
    else printStatus(status);
    return;
  }
  const statuses = await Promise.all((await listDatasets(runtime.apiContext())).map((d) => datasetStatus(runtime.apiContext(), d)));
  const rejected = await rejectedObjects(runtime.apiContext());
  if (options.json) {
    printJson({ datasets: statuses, rejected });
    return;
  }
  if (statuses.length === 0) printLine('no datasets yet: headstart upload <folder> --dataset <name>');
  statuses.forEach(printStatus);
  for (const f of rejected) printLine(`rejected ${f.key}: ${f.error}`);
}
