/** `headstart report <name> [--version V] [--out file]`: writes the model's HTML report and prints its path. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { validateName } from '../../dataset/names.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { currentReport } from '../../report/currentReport.js';
import { printLine } from '../output.js';

export async function reportCommand(runtime: LocalRuntime, name: string, options: { version?: string; out?: string }): Promise<void> {
  const dataset = validateName(name, 'dataset');
  const html = await currentReport(runtime.store, dataset, options.version === undefined ? undefined : validateName(options.version, 'version'));
  const out = path.resolve(options.out ?? `${dataset}-report.html`);
  await writeFile(out, html);
  printLine(out);
}
