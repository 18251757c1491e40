/**
 * `headstart upload <folder> --dataset <name>`: copies `<folder>/<label>/<file>` into the dataset
 * (which queues extraction exactly as an S3 upload would), waits for extraction with a progress
 * bar, and sums up: embedded, skipped (already cached), failed with reasons. Exit 0 when the
 * upload itself worked, even if some images were refused.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { describeError } from '../../errors.js';
import { datasetObjectKey } from '../../dataset/keys.js';
import { validateName } from '../../dataset/names.js';
import { readLabelledFolder } from '../../local/labelledFolder.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import type { ExtractOutcome } from '../../pipeline/extract.js';
import type { IndexEntry } from '../../ports/DatasetIndex.js';
import { printJson, printLine } from '../output.js';

export interface UploadSummary {
  dataset: string;
  uploaded: number;
  embedded: number;
  skipped: number;
  failed: { file: string; error: string }[];
}

export async function upload(runtime: LocalRuntime, folder: string, dataset: string, onProgress?: (done: number, total: number) => void): Promise<UploadSummary> {
  const name = validateName(dataset, 'dataset');
  // Waiting for extraction needs a consumer in this process (other processes may help, none may be running).
  if (!runtime.consuming) throw new Error('upload needs a runtime opened with { consume: true }');
  const { files, skipped } = await readLabelledFolder(folder);
  const failed: { file: string; error: string }[] = skipped.map((s) => ({ file: s.path, error: s.reason }));

  // Every key is known before the first copy, so the progress total is right from the start.
  const fileByKey = new Map<string, string>();
  for (const f of files) {
    try {
      fileByKey.set(datasetObjectKey(name, f.label, f.file), f.path);
    } catch (error) {
      failed.push({ file: f.path, error: describeError(error) });
    }
  }
  const last = new Map<string, ExtractOutcome>();
  // Done = keys with a final outcome; it only grows (a key retried after a failure is counted once
  // it succeeds, and a later event for a counted key does not count it twice).
  const finished = new Set<string>();
  const stop = runtime.onOutcomes((outcomes) => {
    for (const o of outcomes) {
      if (!fileByKey.has(o.key)) continue;
      last.set(o.key, o);
      if (o.status !== 'failed') finished.add(o.key);
    }
    onProgress?.(finished.size, fileByKey.size);
  });
  try {
    onProgress?.(0, fileByKey.size);
    // The backbone loads while files are copied, not after.
    const loading = runtime.backbone();
    for (const [key, file] of fileByKey) await runtime.store.put(key, await readFile(file));
    await loading;
    await runtime.drain();
  } finally {
    stop();
  }

  let embedded = 0;
  let cached = 0;
  for (const [key, file] of fileByKey) {
    // Another process on the same home (a `serve`, another `upload`) may have extracted this key:
    // then its index entry is the outcome.
    const outcome = last.get(key) ?? outcomeOf(await runtime.index.get(name, key.normalize('NFC')), key);
    if (outcome?.status === 'embedded') embedded++;
    else if (outcome?.status === 'cached') cached++;
    else if (outcome?.status === 'rejected') failed.push({ file, error: outcome.error?.message ?? 'rejected' });
    else if (outcome?.status === 'failed') failed.push({ file, error: `extraction kept failing (dead-lettered): ${outcome.error?.message ?? ''}` });
    else failed.push({ file, error: 'no extraction outcome was recorded' });
  }
  return { dataset: name, uploaded: fileByKey.size, embedded, skipped: cached, failed };
}

function outcomeOf(entry: IndexEntry | undefined, key: string): ExtractOutcome | undefined {
  if (entry === undefined) return undefined;
  return entry.state === 'embedded' ? { key, status: 'embedded' } : { key, status: 'rejected', ...(entry.error ? { error: entry.error } : {}) };
}

export async function uploadCommand(runtime: LocalRuntime, folder: string, options: { dataset: string; json?: boolean }): Promise<void> {
  const bar = process.stderr.isTTY && !options.json ? new cliProgress.SingleBar({ format: 'extracting [{bar}] {value}/{total} images', clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined;
  let started = false;
  let shown = 0;
  const summary = await upload(runtime, folder, options.dataset, (done, total) => {
    if (!bar) return;
    // Never backwards, whatever order the outcomes arrive in.
    shown = Math.max(shown, done);
    if (!started) {
      bar.start(total, shown);
      started = true;
    } else bar.update(shown);
  });
  bar?.stop();
  if (options.json) {
    printJson(summary);
    return;
  }
  printLine(`uploaded ${summary.uploaded} files from ${path.resolve(folder)} into dataset "${summary.dataset}"`);
  printLine(`embedded ${summary.embedded}, skipped ${summary.skipped} (already cached), failed ${summary.failed.length}`);
  for (const f of summary.failed) printLine(`  failed: ${f.file}: ${f.error}`);
}
