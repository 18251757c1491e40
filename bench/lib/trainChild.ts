/**
 * One headstart training run in its own process, so its peak RSS is its own: reads the synthetic
 * split that bench/lib/trainBench.ts wrote, trains with trainHead's defaults (or the given grid and
 * folds), scores the held-out split, prints one JSON line.
 *
 *   node --import tsx bench/lib/trainChild.ts <dir> '{"threads":2}'
 */
import path from 'node:path';
import { predictHead } from '../../src/training/predictHead.js';
import { trainHead } from '../../src/training/trainHead.js';
import type { TrainOptions } from '../../src/training/types.js';
import { readNpy } from './npy.js';

const [dir, optionsJson] = process.argv.slice(2);
if (!dir) throw new Error('usage: trainChild.ts <dir> [options-json]');
const options = JSON.parse(optionsJson ?? '{}') as TrainOptions;
const x = (await readNpy(path.join(dir, 'x_train.npy'))) as { data: Float32Array; shape: number[] };
const y = (await readNpy(path.join(dir, 'y_train.npy'))) as { data: Int32Array; shape: number[] };
const xt = (await readNpy(path.join(dir, 'x_test.npy'))) as { data: Float32Array; shape: number[] };
const yt = (await readNpy(path.join(dir, 'y_test.npy'))) as { data: Int32Array; shape: number[] };
const [n, d] = x.shape as [number, number];
const classes = Math.max(...y.data) + 1;
const started = performance.now();
const head = await trainHead({ embeddings: x.data, dims: [n, d], labels: y.data, classNames: Array.from({ length: classes }, (_, c) => `c${c}`) }, options);
const ms = performance.now() - started;
const probabilities = await predictHead(head, xt.data, yt.data.length, options.threads ? { intraOpThreads: options.threads } : 'cpu');
let correct = 0;
for (let i = 0; i < yt.data.length; i++) {
  let best = 0;
  for (let c = 1; c < classes; c++) if ((probabilities[i * classes + c] as number) > (probabilities[i * classes + best] as number)) best = c;
  if (best === yt.data[i]) correct++;
}
process.stdout.write(
  `${JSON.stringify({
    ms,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    accuracy: correct / yt.data.length,
    lambda: head.lambda,
    lambdas: head.settings.lambdas,
    folds: head.settings.folds,
    dtype: head.settings.dtype,
    cvAccuracy: head.metrics.accuracy,
    timings: head.timings,
  })}\n`,
);
