/**
 * Accuracy benchmark: headstart's head against scikit-learn on the same embeddings, in one run.
 *
 *   npm run bench:accuracy [-- --datasets hymenoptera,chest_xray,fashion_mnist] [--mlp-hidden 64 | --no-mlp]
 *                          [--no-sklearn] [--device cpu|cuda] [--threads N] [--json out.json]
 *
 * For each shared dataset (hymenoptera train->val, fashion_mnist train->test, chest_xray
 * train->test): embeddings of both splits with the default backbone (Backbone.embedImages, the
 * product's preprocessing), cached under .bench/embeddings; headstart's linear head trained with
 * trainHead defaults (5-fold CV over its lambda grid, class-balanced, L2-normalised), exported to
 * head.onnx and scored on the held-out split through HeadModel, i.e. the serving path; the
 * one-hidden-layer head the same way; then bench/sklearn_baseline.py on the very same .f32 files:
 * LogisticRegressionCV, C by 5-fold CV over 0.01..100, on L2-normalised and on standardised rows.
 *
 * Fit times are wall-clock of the whole model selection + final fit (embedding excluded), on equal
 * terms: the same number of threads on both sides (`--threads`, default every CPU: onnxruntime's
 * intra-op threads for headstart, OMP/OpenBLAS/MKL threads for numpy and scikit-learn), and the
 * same regularisation grid: headstart's linear head searches lambda = 1/(C * n) for scikit-learn's
 * nine C values (its loss is the mean cross-entropy + lambda/2 |W|^2, scikit-learn's is
 * C * sum + 1/2 |W|^2). On a shared machine times move with its load, accuracies do not.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Backbone } from '../src/backbone/Backbone.js';
import { DEFAULT_BACKBONE } from '../src/backbone/catalogue.js';
import { exportHead } from '../src/head/exportHead.js';
import { HeadModel } from '../src/head/HeadModel.js';
import { classificationMetrics } from '../src/training/metrics.js';
import { trainHead } from '../src/training/trainHead.js';
import type { TrainedHead } from '../src/training/types.js';
import { datasetClasses, embedSplit, type EmbeddedSplit } from './embeddingCache.js';
import { modelsDir as sharedModelsDir, sharedDir } from '../test/helpers/shared.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = sharedDir();
const modelsDir = sharedModelsDir();
const benchDir = path.join(repoRoot, '.bench');

const SPLITS: Record<string, [train: string, test: string]> = {
  hymenoptera: ['train', 'val'],
  fashion_mnist: ['train', 'test'],
  chest_xray: ['train', 'test'],
};
const TARGETS: Record<string, number> = { hymenoptera: 0.93, fashion_mnist: 0.83, chest_xray: 0.8 };
/** Acceptance: headstart's test accuracy at most this far below scikit-learn's. */
const TOLERANCE = 0.015;

const { values: args } = parseArgs({
  options: {
    datasets: { type: 'string', default: Object.keys(SPLITS).join(',') },
    'mlp-hidden': { type: 'string', default: '64' },
    'no-mlp': { type: 'boolean', default: false },
    'no-sklearn': { type: 'boolean', default: false },
    device: { type: 'string', default: 'cpu' },
    /** Threads on both sides: onnxruntime intra-op threads of the training graphs, numpy/scikit-learn BLAS threads. */
    threads: { type: 'string', default: String(os.availableParallelism()) },
    json: { type: 'string' },
  },
});
const device = args.device === 'cuda' ? 'cuda' : 'cpu';
const threads = Number(args.threads);
/** scikit-learn's grid (bench/sklearn_baseline.py CS = logspace(-2, 2, 9)), as headstart lambdas for n rows. */
const SKLEARN_CS = Array.from({ length: 9 }, (_, i) => 10 ** (-2 + i * 0.5));
const lambdasMatching = (n: number): number[] => SKLEARN_CS.map((c) => 1 / (c * n));

interface HeadResult {
  accuracy: number;
  macroF1: number;
  fitSeconds: number;
  lambda: number;
  cvAccuracy: number;
}

interface SklearnResult {
  dataset: string;
  variant: 'l2' | 'standardized';
  C: number;
  accuracy: number;
  macroF1: number;
  fitSeconds: number;
}

interface DatasetRun {
  dataset: string;
  train: EmbeddedSplit;
  test: EmbeddedSplit;
  linear: HeadResult;
  mlp?: HeadResult;
}

const log = (line: string): void => console.error(line);

async function scoreHead(head: TrainedHead, test: EmbeddedSplit, backboneId: string): Promise<Omit<HeadResult, 'fitSeconds' | 'lambda' | 'cvAccuracy'>> {
  // Through head.onnx, as served: embeddings in, probabilities out.
  const model = await HeadModel.load(exportHead(head, { backboneId }), { device });
  try {
    const probabilities = await model.predict(test.embeddings);
    const k = head.classNames.length;
    const predicted = Array.from({ length: test.meta.dims[0] }, (_, r) => {
      let best = 0;
      for (let c = 1; c < k; c++) if ((probabilities[r * k + c] as number) > (probabilities[r * k + best] as number)) best = c;
      return best;
    });
    const metrics = classificationMetrics(test.labels, predicted, head.classNames);
    return { accuracy: metrics.accuracy, macroF1: metrics.macroF1 };
  } finally {
    await model.release();
  }
}

async function runHead(train: EmbeddedSplit, test: EmbeddedSplit, backboneId: string, hidden: number): Promise<HeadResult> {
  const head = await trainHead(
    { embeddings: train.embeddings, dims: train.meta.dims, labels: train.labels, classNames: train.meta.classNames },
    // The linear head searches scikit-learn's grid; the hidden-layer head keeps its own (no counterpart).
    { hidden, device, threads, ...(hidden === 0 ? { lambdas: lambdasMatching(train.meta.dims[0]) } : {}) },
  );
  const scored = await scoreHead(head, test, backboneId);
  return { ...scored, fitSeconds: head.timings.totalMs / 1000, lambda: head.lambda, cvAccuracy: head.metrics.accuracy };
}

async function sklearnBaseline(runs: DatasetRun[]): Promise<{ results: SklearnResult[]; version?: string; problem?: string }> {
  const runDir = path.join(benchDir, 'run');
  await mkdir(runDir, { recursive: true });
  const manifestPath = path.join(runDir, 'manifest.json');
  const outPath = path.join(runDir, 'sklearn.json');
  const manifest = runs.map((r) => ({
    name: r.dataset,
    train: { data: r.train.dataPath, meta: r.train.dataPath.replace(/\.f32$/, '.json') },
    test: { data: r.test.dataPath, meta: r.test.dataPath.replace(/\.f32$/, '.json') },
  }));
  await writeFile(manifestPath, JSON.stringify(manifest, null, 1));
  const script = path.join(repoRoot, 'bench', 'sklearn_baseline.py');
  const blasThreads = String(threads);
  const child = spawnSync('python3', [script, '--manifest', manifestPath, '--out', outPath], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: blasThreads, OPENBLAS_NUM_THREADS: blasThreads, MKL_NUM_THREADS: blasThreads },
  });
  if (child.error) return { results: [], problem: `python3 could not be run (${child.error.message}); install Python 3 with: pip install scikit-learn numpy` };
  if (child.status === 3) return { results: [], problem: 'numpy or scikit-learn is missing; install with: pip install scikit-learn numpy' };
  if (child.status !== 0) return { results: [], problem: `bench/sklearn_baseline.py exited with status ${child.status}` };
  const parsed = JSON.parse(await readFile(outPath, 'utf8')) as { sklearn: string; results: SklearnResult[] };
  return { results: parsed.results, version: parsed.sklearn };
}

const pct = (v: number | undefined): string => (v === undefined ? '-' : (100 * v).toFixed(2));
const secs = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)} s`);
const short = (v: number): string => String(Number(v.toPrecision(3)));
const signed = (v: number | undefined): string => (v === undefined ? '-' : `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)}`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const datasets = (args.datasets ?? '').split(',').filter((d) => d.length > 0);
  for (const d of datasets) if (!(d in SPLITS)) throw new Error(`unknown dataset "${d}"; known: ${Object.keys(SPLITS).join(', ')}`);
  const hidden = args['no-mlp'] ? 0 : Number(args['mlp-hidden']);

  const backbone = await Backbone.load(DEFAULT_BACKBONE, { modelsDir, device });
  log(`backbone ${backbone.id} (${device}, training threads ${threads || 'onnxruntime default'}); embeddings cached in ${path.join(benchDir, 'embeddings')}`);
  const runs: DatasetRun[] = [];
  try {
    for (const dataset of datasets) {
      const [trainSplit, testSplit] = SPLITS[dataset] as [string, string];
      const classNames = await datasetClasses(path.join(shared, 'datasets', dataset), trainSplit);
      const embed = (split: string): Promise<EmbeddedSplit> =>
        embedSplit(backbone, path.join(shared, 'datasets'), path.join(benchDir, 'embeddings'), dataset, split, classNames, log);
      const train = await embed(trainSplit);
      const test = await embed(testSplit);
      log(`${dataset}: training the linear head on ${train.meta.dims[0]} rows...`);
      const linear = await runHead(train, test, backbone.id, 0);
      log(`  linear: test accuracy ${pct(linear.accuracy)} (lambda ${linear.lambda}, ${secs(linear.fitSeconds)})`);
      let mlp: HeadResult | undefined;
      if (hidden > 0) {
        log(`${dataset}: training the ${hidden}-unit hidden-layer head...`);
        mlp = await runHead(train, test, backbone.id, hidden);
        log(`  mlp: test accuracy ${pct(mlp.accuracy)} (lambda ${mlp.lambda}, ${secs(mlp.fitSeconds)})`);
      }
      runs.push({ dataset, train, test, linear, ...(mlp ? { mlp } : {}) });
    }
  } finally {
    await backbone.release();
  }

  const sklearn = args['no-sklearn'] ? { results: [] as SklearnResult[], problem: 'skipped (--no-sklearn)' } : await sklearnBaseline(runs);
  const find = (dataset: string, variant: SklearnResult['variant']): SklearnResult | undefined =>
    sklearn.results.find((r) => r.dataset === dataset && r.variant === variant);

  const rows = runs.map((r) => {
    const l2 = find(r.dataset, 'l2');
    const std = find(r.dataset, 'standardized');
    return [
      r.dataset,
      `${r.train.meta.dims[0]}/${r.test.meta.dims[0]}`,
      pct(r.linear.accuracy),
      pct(l2?.accuracy),
      signed(l2 ? r.linear.accuracy - l2.accuracy : undefined),
      pct(std?.accuracy),
      signed(std ? r.linear.accuracy - std.accuracy : undefined),
      `${pct(r.linear.macroF1)} / ${pct(l2?.macroF1)}`,
      secs(r.linear.fitSeconds),
      `${secs(l2?.fitSeconds)} / ${secs(std?.fitSeconds)}`,
      `${short(r.linear.lambda)} / ${l2 ? short(l2.C) : '-'} / ${std ? short(std.C) : '-'}`,
    ];
  });
  console.log(`\nheadstart linear head vs scikit-learn ${sklearn.version ?? ''} LogisticRegressionCV (test accuracy %, same embeddings)`);
  console.log(
    table(
      ['dataset', 'n train/test', 'headstart', 'sklearn l2', 'delta', 'sklearn std', 'delta', 'macro-F1 hs / sk l2', 'fit hs', 'fit sk l2 / std', 'lambda / C l2 / C std'],
      rows,
    ),
  );
  if (sklearn.problem) console.log(`\nscikit-learn baseline not run: ${sklearn.problem}`);

  if (hidden > 0) {
    console.log(`\nhidden-layer head (${hidden} ReLU units), same protocol`);
    console.log(
      table(
        ['dataset', 'mlp acc', 'linear acc', 'sklearn l2', 'mlp macro-F1', 'fit mlp', 'lambda'],
        runs.map((r) => [r.dataset, pct(r.mlp?.accuracy), pct(r.linear.accuracy), pct(find(r.dataset, 'l2')?.accuracy), pct(r.mlp?.macroF1), secs(r.mlp?.fitSeconds), String(r.mlp?.lambda ?? '-')]),
      ),
    );
  }

  console.log('\nacceptance');
  let failures = 0;
  for (const r of runs) {
    const best = Math.max(...(['l2', 'standardized'] as const).map((v) => find(r.dataset, v)?.accuracy ?? Number.NEGATIVE_INFINITY));
    const target = TARGETS[r.dataset] as number;
    const parity = Number.isFinite(best) ? r.linear.accuracy >= best - TOLERANCE : undefined;
    const meetsTarget = r.linear.accuracy >= target;
    if (parity === false || !meetsTarget) failures++;
    console.log(
      `  ${r.dataset}: ${parity === undefined ? 'no scikit-learn figure' : parity ? 'within 1.5 points of' : 'MORE than 1.5 points below'} the better scikit-learn variant` +
        `${Number.isFinite(best) ? ` (${pct(best)})` : ''}; target ${pct(target)}: ${meetsTarget ? 'met' : 'MISSED'}`,
    );
  }

  const outPath = args.json ? path.resolve(args.json) : path.join(benchDir, 'accuracy.json');
  await mkdir(path.dirname(outPath), { recursive: true });
  await writeFile(
    outPath,
    JSON.stringify(
      {
        backbone: runs[0]?.train.meta.backboneId,
        device,
        threads,
        mlpHidden: hidden,
        runs: runs.map((r) => ({ dataset: r.dataset, train: r.train.meta.dims[0], test: r.test.meta.dims[0], linear: r.linear, mlp: r.mlp })),
        sklearn,
      },
      null,
      1,
    ),
  );
  console.log(`\nresults written to ${path.relative(process.cwd(), outPath)}`);
  process.exitCode = failures > 0 ? 1 : 0;
}

await main();
