/**
 * The text side of the CLI:
 * - `upload <file.csv|.tsv|.jsonl> --dataset N [--text-column text] [--label-column label]`: one
 *   `.txt` object per row, named from the text's hash (a re-upload changes nothing); bad rows are
 *   counted and listed with their line numbers, the rest go on;
 * - `eval <name> <file.csv>`: the same JSON as image eval;
 * - `predict <name> --text "..."` (repeatable) or `--text -` for one text per stdin line.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BadRequestError, InvalidTextError } from '../../errors.js';
import { datasetObjectKey, sha256Hex } from '../../dataset/keys.js';
import { validateName } from '../../dataset/names.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import type { ExtractOutcome } from '../../pipeline/extract.js';
import { textModality } from '../../pipeline/datasetModality.js';
import { classificationMetrics } from '../../training/metrics.js';
import { parseTable, tableFormat, type BadRow, type TableColumns } from '../../text/tabular.js';
import { percent, printJson, printLine } from '../output.js';
import { registerTextBackbone } from '../../text/registerTextBackbone.js';
import type { EvalResult } from './eval.js';
import { printMetrics } from './train.js';

/** Is this path a table of texts (by extension), rather than a folder of images? */
export function isTablePath(file: string): boolean {
  return /\.(csv|tsv|tab|jsonl|ndjson)$/i.test(file);
}

export interface TextUploadSummary {
  dataset: string;
  rows: number;
  uploaded: number;
  embedded: number;
  skipped: number;
  failed: { key: string; error: string }[];
  badRows: BadRow[];
}

async function readTable(file: string, columns: TableColumns) {
  const format = tableFormat(file);
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    throw new BadRequestError(`cannot read ${file}: ${(error as Error).message}`, 'unreadable_file');
  }
  return parseTable(content, format, columns);
}

export async function uploadTable(runtime: LocalRuntime, file: string, dataset: string, columns: TableColumns): Promise<TextUploadSummary> {
  const name = validateName(dataset, 'dataset');
  const { rows, bad } = await readTable(file, columns);
  // A dataset is images or texts: refuse before writing anything into an image dataset.
  const existing: { key: string }[] = [];
  for await (const entry of runtime.index.entries(name, { limit: 1000 })) existing.push(entry);
  textModality(name, [...existing, { key: 'x.txt' }]);

  const keys = new Map<string, Uint8Array>();
  for (const row of rows) {
    const bytes = new TextEncoder().encode(row.text);
    keys.set(datasetObjectKey(name, row.label, `${sha256Hex(bytes).slice(0, 16)}.txt`), bytes);
  }
  const last = new Map<string, ExtractOutcome>();
  const stop = runtime.onOutcomes((outcomes) => {
    for (const o of outcomes) if (keys.has(o.key)) last.set(o.key, o);
  });
  try {
    for (const [key, bytes] of keys) await runtime.store.put(key, bytes, { contentType: 'text/plain; charset=utf-8' });
    await runtime.drain();
  } finally {
    stop();
  }
  let embedded = 0;
  let skipped = 0;
  const failed: { key: string; error: string }[] = [];
  for (const key of keys.keys()) {
    const o = last.get(key);
    if (o?.status === 'embedded') embedded++;
    else if (o?.status === 'cached') skipped++;
    else failed.push({ key, error: o?.error?.message ?? (o ? o.status : 'no extraction outcome was recorded') });
  }
  return { dataset: name, rows: rows.length + bad.length, uploaded: keys.size, embedded, skipped, failed, badRows: bad };
}

export async function uploadTableCommand(runtime: LocalRuntime, file: string, options: { dataset: string; json?: boolean; textColumn?: string; labelColumn?: string }): Promise<void> {
  const summary = await uploadTable(runtime, file, options.dataset, { ...(options.textColumn ? { text: options.textColumn } : {}), ...(options.labelColumn ? { label: options.labelColumn } : {}) });
  if (options.json) {
    printJson(summary);
    return;
  }
  printLine(`uploaded ${summary.uploaded} texts from ${path.resolve(file)} (${summary.rows} rows) into dataset "${summary.dataset}"`);
  printLine(`extracted ${summary.embedded}, skipped ${summary.skipped} (already there), failed ${summary.failed.length}, bad rows ${summary.badRows.length}`);
  for (const b of summary.badRows.slice(0, 50)) printLine(`  bad row: line ${b.line}: ${b.reason}`);
  if (summary.badRows.length > 50) printLine(`  ... and ${summary.badRows.length - 50} more bad rows`);
  for (const f of summary.failed) printLine(`  failed: ${f.key}: ${f.error}`);
}

export async function evaluateTable(runtime: LocalRuntime, dataset: string, file: string, columns: TableColumns): Promise<EvalResult & { badRows: BadRow[] }> {
  const { rows, bad } = await readTable(file, columns);
  const predictor = await runtime.textPredictor();
  const version = await predictor.currentVersion(validateName(dataset, 'dataset'));
  const results = await predictor.predict(dataset, rows.map((r) => r.text), version);
  const truth: string[] = [];
  const predicted: string[] = [];
  const failed: { file: string; error: string }[] = [];
  results.forEach((r, i) => {
    if (r instanceof InvalidTextError) failed.push({ file: `${file}:${rows[i]!.line}`, error: r.message });
    else {
      truth.push(rows[i]!.label);
      predicted.push(r.label);
    }
  });
  const labels = [...new Set([...predicted, ...truth])].sort();
  const index = new Map(labels.map((l, i) => [l, i]));
  const m = classificationMetrics(truth.map((l) => index.get(l)!), predicted.map((l) => index.get(l)!), labels);
  return { accuracy: m.accuracy, macroF1: m.macroF1, n: m.n, perClass: m.perClass, confusion: m.confusion, labels: m.labels, model: version, failed, badRows: bad };
}

export async function evalTableCommand(runtime: LocalRuntime, name: string, file: string, options: { json?: boolean; textColumn?: string; labelColumn?: string }): Promise<void> {
  const result = await evaluateTable(runtime, name, file, { ...(options.textColumn ? { text: options.textColumn } : {}), ...(options.labelColumn ? { label: options.labelColumn } : {}) });
  if (options.json) printJson(result);
  else printMetrics(result);
  for (const b of result.badRows) process.stderr.write(`headstart: ${file}: line ${b.line}: ${b.reason}\n`);
}

async function stdinLines(): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) if (line.trim().length > 0) lines.push(line);
  return lines;
}

export async function predictTextCommand(runtime: LocalRuntime, name: string, texts: string[], options: { json?: boolean }): Promise<void> {
  const dataset = validateName(name, 'dataset');
  const all = (await Promise.all(texts.map(async (t) => (t === '-' ? stdinLines() : [t])))).flat();
  const results = await (await runtime.textPredictor()).predict(dataset, all);
  let errors = 0;
  results.forEach((r, i) => {
    const text = all[i] as string;
    if (r instanceof InvalidTextError) {
      errors++;
      process.stderr.write(`headstart: text ${i + 1}: ${r.message}\n`);
    } else if (options.json) printLine(JSON.stringify({ text, label: r.label, probability: r.probability, top: r.top, model: r.model, outOfDomain: r.outOfDomain, oodScore: r.oodScore }));
    else printLine(`${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}: ${r.label} (${percent(r.probability)})${r.outOfDomain ? ' — out of domain: unlike the training texts' : ''}`);
  });
  if (errors > 0) process.exitCode = 1;
}

export async function addTextBackboneCommand(runtime: LocalRuntime, file: string, options: { name: string; tokenizer?: string; json?: boolean }): Promise<void> {
  if (!options.tokenizer) throw new BadRequestError('a text encoder needs its tokenizer: --tokenizer <tokenizer.json>', 'bad_arguments');
  const registered = await registerTextBackbone(file, { name: options.name, tokenizer: options.tokenizer }, runtime.backbonesDir);
  if (options.json) {
    printJson({ id: registered.id, name: registered.spec.name, embeddingSize: registered.spec.embeddingSize, modality: 'text', entry: registered.entryFile });
    return;
  }
  printLine(`registered text backbone ${registered.id}: ${registered.spec.embeddingSize}-value embeddings (mean of last_hidden_state over the attention mask, L2-normalised, ${registered.spec.preprocessing.maxTokens} tokens)`);
  printLine(`new .txt uploads are embedded with it, and text datasets train on it when it is the default encoder; \`headstart train <name> --backbone ${registered.spec.name}\` names it, \`--backbone auto\` measures it against TF-IDF`);
}
