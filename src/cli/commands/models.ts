/** `headstart models|promote|rollback`: the version history of a dataset's model. */
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { validateName } from '../../dataset/names.js';
import { requireDataset } from '../../pipeline/status.js';
import { percent, printJson, printLine, table } from '../output.js';

export async function modelsCommand(runtime: LocalRuntime, name: string, options: { json?: boolean }): Promise<void> {
  const dataset = validateName(name, 'dataset');
  const [versions, pointer] = await Promise.all([runtime.registry.list(dataset), runtime.registry.pointer(dataset)]);
  if (versions.length === 0) await requireDataset(runtime.apiContext(), dataset); // names an unknown dataset
  const rows = versions.map((m) => ({ version: m.version, current: m.version === pointer?.version, createdAt: m.createdAt, backbone: m.backbone.id, accuracy: m.metrics.accuracy, macroF1: m.metrics.macroF1 }));
  if (options.json) {
    printJson({ dataset, current: pointer?.version ?? null, models: rows });
    return;
  }
  if (rows.length === 0) printLine(`dataset "${dataset}" has no model yet: headstart train ${dataset}`);
  else printLine(table([['', 'version', 'created', 'accuracy', 'macro-F1'], ...rows.map((r) => [r.current ? '*' : '', r.version, r.createdAt, percent(r.accuracy), r.macroF1.toFixed(3)])]));
}

export async function promoteCommand(runtime: LocalRuntime, name: string, version: string): Promise<void> {
  const pointer = await runtime.registry.promote(validateName(name, 'dataset'), validateName(version, 'version'));
  printLine(`${name}: ${pointer.version} is current`);
}

export async function rollbackCommand(runtime: LocalRuntime, name: string): Promise<void> {
  const pointer = await runtime.registry.rollback(validateName(name, 'dataset'));
  printLine(`${name}: rolled back to ${pointer.version}`);
}
