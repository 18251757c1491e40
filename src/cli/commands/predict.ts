/**
 * `headstart predict <name> <file-or-folder>... [--json]`: one line per image, JSON
 * `{ file, label, probability, top, model }` with --json. A file that cannot be read or is not an
 * image gets a message on stderr naming it, and the command exits 1 after answering the rest.
 */
import { readFile } from 'node:fs/promises';
import { describeError, InvalidImageError } from '../../errors.js';
import { validateName } from '../../dataset/names.js';
import { expandPaths } from '../../local/labelledFolder.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import type { Prediction } from '../../pipeline/predict.js';
import { percent, printLine } from '../output.js';

/** Images per backbone run: big enough to batch, small enough to bound memory. */
const CHUNK = 16;

export interface FilePrediction extends Prediction {
  file: string;
}

/** Predicts files in chunks; unreadable or invalid files are reported through onError. */
export async function predictFiles(
  runtime: LocalRuntime,
  dataset: string,
  files: readonly string[],
  onResult: (result: FilePrediction) => void,
  onError: (file: string, message: string) => void,
): Promise<void> {
  const predictor = await runtime.predictor();
  // Resolve the version once, so every answer of one command comes from the same model.
  const version = await predictor.currentVersion(dataset);
  for (let start = 0; start < files.length; start += CHUNK) {
    const chunk = files.slice(start, start + CHUNK);
    const read = await Promise.all(
      chunk.map(async (file) => {
        try {
          return { file, bytes: new Uint8Array(await readFile(file)) };
        } catch (error) {
          onError(file, describeError(error));
          return undefined;
        }
      }),
    );
    const readable = read.filter((r) => r !== undefined);
    const results = await predictor.predict(dataset, readable.map((r) => r.bytes), version);
    results.forEach((result, i) => {
      const file = readable[i]?.file ?? '';
      if (result instanceof InvalidImageError) onError(file, result.message);
      else onResult({ file, ...result });
    });
  }
}

export async function predictCommand(runtime: LocalRuntime, name: string, paths: string[], options: { json?: boolean }): Promise<void> {
  const dataset = validateName(name, 'dataset');
  const files = await expandPaths(paths);
  let errors = 0;
  await predictFiles(
    runtime,
    dataset,
    files,
    (r) => {
      if (options.json) printLine(JSON.stringify({ file: r.file, label: r.label, probability: r.probability, top: r.top, model: r.model, outOfDomain: r.outOfDomain, oodScore: r.oodScore }));
      else printLine(`${r.file}: ${r.label} (${percent(r.probability)})${r.outOfDomain ? ' — out of domain: unlike the training images' : ''}`);
    },
    (file, message) => {
      errors++;
      process.stderr.write(`headstart: ${file}: ${message}\n`);
    },
  );
  if (errors > 0) process.exitCode = 1;
}
