/**
 * headstart's trainer beside scikit-learn's LogisticRegressionCV on the same synthetic matrix, at
 * equal threads, with the same lambda grid and fold count (for bench/train.ts and bench/scale.ts).
 *
 * The data: `classes` class means in a 16-dimensional latent space, each row its class mean plus
 * latent noise, projected to `dim` features plus feature noise and clipped at 0 (non-negative like
 * pooled CNN features); classes overlap, so accuracy is informative. Seeded, so both sides and
 * every run see the same rows. 80% train (what both cross-validate and refit on), 20% held out.
 *
 * headstart runs with its defaults (the grid and folds its CV plan picks for N); scikit-learn then
 * gets exactly the lambdas headstart fitted (C = 1 / (lambda x fold training rows)) and its fold
 * count, class-balanced loss, balanced-accuracy selection, gradient tolerance 1e-5 and 1000
 * iterations, so the two search the same grid. Each side runs in its own process; peak RSS is that
 * process's own (getrusage maxRSS), including the runtime (Node + onnxruntime, or CPython + numpy).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRandom } from '../../src/training/random.js';
import { writeNpy } from './npy.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LATENT = 16;

export interface TrainBenchOptions {
  dim?: number;
  classes?: number;
  /** Threads of both sides (onnxruntime intra-op; OMP/OpenBLAS/MKL). Default 2. */
  threads?: number;
  seed?: number;
  /** Skip scikit-learn (its numbers come back NaN). */
  skipSklearn?: boolean;
  python?: string;
}

export interface TrainBenchResult {
  ms: number;
  peakRssMb: number;
  sklearnMs: number;
  accuracy: number;
  sklearnAccuracy: number;
  lambda: number;
  sklearnLambda: number;
  lambdas: number[];
  folds: number;
  sklearnPeakRssMb: number;
}

/** The seeded synthetic set, row-major float32 with int32 labels. */
export function syntheticSet(n: number, dim: number, classes: number, seed: number): { x: Float32Array; y: Int32Array } {
  const random = createRandom(seed);
  const projection = Float64Array.from({ length: dim * LATENT }, () => random.normal() / Math.sqrt(LATENT));
  const means = Float64Array.from({ length: classes * LATENT }, () => 0.7 * random.normal());
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  const latent = new Float64Array(LATENT);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    y[i] = c;
    for (let l = 0; l < LATENT; l++) latent[l] = (means[c * LATENT + l] as number) + random.normal();
    for (let j = 0; j < dim; j++) {
      let v = 0.5 * random.normal() + 0.5;
      for (let l = 0; l < LATENT; l++) v += (projection[j * LATENT + l] as number) * (latent[l] as number);
      x[i * dim + j] = Math.max(0, v);
    }
  }
  return { x, y };
}

export async function trainBesideSklearn(n: number, opts: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const dim = opts.dim ?? 1280;
  const classes = opts.classes ?? 100;
  const threads = opts.threads ?? 2;
  const dir = await mkdtemp(path.join(tmpdir(), 'headstart-train-bench-'));
  try {
    const total = Math.round(n / 0.8);
    const { x, y } = syntheticSet(total, dim, classes, opts.seed ?? 0);
    // Rows are in class round-robin order: every 5th round held out keeps the classes balanced.
    const heldOut = (i: number): boolean => Math.floor(i / classes) % 5 === 4;
    const test = Array.from({ length: total }, (_, i) => i).filter(heldOut);
    const train = Array.from({ length: total }, (_, i) => i).filter((i) => !heldOut(i));
    const pick = (rows: number[]): { x: Float32Array; y: Int32Array } => {
      const out = new Float32Array(rows.length * dim);
      rows.forEach((r, i) => out.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
      return { x: out, y: Int32Array.from(rows, (r) => y[r] as number) };
    };
    const a = pick(train);
    await writeNpy(path.join(dir, 'x_train.npy'), a.x, [train.length, dim]);
    await writeNpy(path.join(dir, 'y_train.npy'), a.y, [train.length]);
    const b = pick(test);
    await writeNpy(path.join(dir, 'x_test.npy'), b.x, [test.length, dim]);
    await writeNpy(path.join(dir, 'y_test.npy'), b.y, [test.length]);

    const threadEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
    const child = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench', 'lib', 'trainChild.ts'), dir, JSON.stringify({ threads })], {
      cwd: repoRoot,
      env: threadEnv,
      maxBuffer: 1 << 24,
    });
    const ours = JSON.parse(child.stdout.trim().split('\n').at(-1) as string) as { ms: number; peakRssMb: number; accuracy: number; lambda: number; lambdas: number[]; folds: number };
    let sk = { ms: NaN, peakRssMb: NaN, accuracy: NaN, lambda: NaN };
    if (!opts.skipSklearn) {
      const py = await run(opts.python ?? 'python3', [path.join(repoRoot, 'bench', 'train_sklearn.py'), dir, JSON.stringify({ lambdas: ours.lambdas, folds: ours.folds, tol: 1e-5, max_iter: 1000 })], {
        env: threadEnv,
        maxBuffer: 1 << 24,
      });
      sk = JSON.parse(py.stdout.trim().split('\n').at(-1) as string) as typeof sk;
    }
    return {
      ms: ours.ms,
      peakRssMb: ours.peakRssMb,
      sklearnMs: sk.ms,
      accuracy: ours.accuracy,
      sklearnAccuracy: sk.accuracy,
      lambda: ours.lambda,
      sklearnLambda: sk.lambda,
      lambdas: ours.lambdas,
      folds: ours.folds,
      sklearnPeakRssMb: sk.peakRssMb,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
