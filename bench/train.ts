/**
 * Training at scale: headstart's full training run (cross-validation + refit) beside
 * scikit-learn's LogisticRegressionCV on the same synthetic N x 1280 x 100-class matrix, at equal
 * threads, equal lambda grid and fold count (bench/lib/trainBench.ts), with both held-out
 * accuracies; one JSON line per N, for the growth with N.
 *
 *   npx tsx bench/train.ts [--sizes 10000,30000,100000] [--threads 2] [--dim 1280] [--classes 100] [--no-sklearn]
 *
 * Needs python3 with numpy and scikit-learn for the baseline. At 100,000 rows each side takes tens
 * of minutes on 2 cores: run it on an idle machine.
 */
import { trainBesideSklearn } from './lib/trainBench.js';

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const sizes = (argument('--sizes') ?? '10000,30000,100000').split(',').map(Number);
const threads = Number(argument('--threads') ?? 2);
const dim = Number(argument('--dim') ?? 1280);
const classes = Number(argument('--classes') ?? 100);
for (const n of sizes) {
  const train = await trainBesideSklearn(n, { threads, dim, classes, skipSklearn: process.argv.includes('--no-sklearn') });
  const round = (v: number, digits = 1): number => Number(v.toFixed(digits));
  process.stdout.write(
    `${JSON.stringify({
      n,
      dim,
      classes,
      threads,
      train: { ms: round(train.ms, 0), peakRssMb: round(train.peakRssMb), sklearnMs: round(train.sklearnMs, 0), accuracy: round(train.accuracy, 4), sklearnAccuracy: round(train.sklearnAccuracy, 4) },
      lambda: train.lambda,
      sklearnLambda: train.sklearnLambda,
      grid: train.lambdas,
      folds: train.folds,
      sklearnPeakRssMb: round(train.sklearnPeakRssMb),
      speedup: round(train.sklearnMs / train.ms, 2),
    })}\n`,
  );
}
