/**
 * How much cross-validation a training run does, by the size of the data (the rule, in one place):
 *
 * - Folds: 5 up to 5,000 rows, 3 above (unless asked for). With over 1,600 held-out rows per fold
 *   (every row is held out once either way) the out-of-fold accuracy at 90% is within about 0.3
 *   points (one standard error over all N rows), and 3 folds fit 3 x 2/3 = 2 matrices' worth of
 *   rows instead of 5 x 4/5 = 4: half the cost. At 10,000 images the 5-fold plan took 930 s.
 * - Lambda grid (linear head, default grid only): half-decade steps from 1e-1 down to the weaker of
 *   1e-6 and 1/(100 N), i.e. scikit-learn's C up to 100 (lambda = 1/(C N)) at every N; the old
 *   fixed floor of 1e-6 was the chosen, weakest lambda at 10,000 rows.
 * - Search: when one loss evaluation costs at most {@link FULL_GRID_MAX_COST} multiply-adds (N x D x
 *   K), every grid point is fitted. Above, decades first, then the two half-decade neighbours of
 *   the best decade (coarse to fine: about 60% of the fits).
 * - Edges: when the best lambda is the weakest (or strongest) one tried, the next half-decade
 *   beyond it is tried too: one step past the grid's weak end (weak fits cost the most iterations,
 *   and near-duplicate images across folds keep rewarding weaker lambdas), up to
 *   {@link STRONGEST_LAMBDA} at the strong end.
 *
 * A grid given by the caller is used exactly as given (no refinement, no extension), and so is the
 * MLP's: its path starts from the seeded initialisation and is not warm-started by neighbours.
 */
import type { LambdaScore } from './types.js';
import { selectLambda } from './crossValidate.js';

export const LARGE_DATA_ROWS = 5_000;
export const DEFAULT_FOLDS_SMALL = 5;
export const DEFAULT_FOLDS_LARGE = 3;
/** N x D x K per loss evaluation (about 20 ms on 2 cores in float32) above which the search is coarse to fine. */
export const FULL_GRID_MAX_COST = 1e8;
export const STRONGEST_LAMBDA = 10;

const HALF_DECADE = Math.sqrt(10);

export function defaultFolds(rows: number): number {
  return rows > LARGE_DATA_ROWS ? DEFAULT_FOLDS_LARGE : DEFAULT_FOLDS_SMALL;
}

/** Rounds to the nearest point of the half-decade grid 10^(j/2), so grid points compare exactly. */
function onGrid(lambda: number): number {
  const j = Math.round(2 * Math.log10(lambda));
  return Number((j % 2 === 0 ? 10 ** (j / 2) : 3 * 10 ** ((j - 1) / 2)).toPrecision(1));
}

/** The default linear-head grid for N rows, strongest first: 1e-1, 3e-2, ..., down to the floor. */
export function defaultLambdaGrid(rows: number): number[] {
  const floor = Math.min(1e-6, 1 / (100 * rows));
  const grid: number[] = [];
  for (let j = -2; ; j--) {
    const lambda = onGrid(10 ** (j / 2));
    grid.push(lambda);
    if (lambda <= floor * 1.0001 || onGrid(10 ** ((j - 1) / 2)) < floor / 1.5) break;
  }
  return grid;
}

export interface LambdaSearch {
  /** Lambdas to fit first. */
  initial: number[];
  /** Given the scores of every lambda fitted so far, the next ones to fit (empty: done). */
  next(scores: readonly LambdaScore[]): number[];
  /** How the lambdas were searched, for the record. */
  readonly rule: string;
}

/** Fits exactly `lambdas`. */
export function fixedSearch(lambdas: readonly number[]): LambdaSearch {
  return { initial: [...lambdas], next: () => [], rule: 'the given grid' };
}

/** The adaptive search of the default grid (see the module comment). */
export function adaptiveSearch(rows: number, cost: number): LambdaSearch {
  const grid = defaultLambdaGrid(rows);
  const coarse = cost > FULL_GRID_MAX_COST;
  const initial = coarse ? grid.filter((l) => Number.isInteger(Math.log10(l))) : grid;
  let refined = !coarse;
  // One half-decade past the floor (grid points are rounded to 1 or 3: allow for it).
  const weakest = (grid.at(-1) as number) / HALF_DECADE / 1.1;
  return {
    initial,
    rule: `${coarse ? 'decades, then half-decades around the best' : 'every half-decade'} from 1e-1 to ${grid.at(-1)}, extended past an edge that wins`,
    next(scores) {
      const tried = new Set(scores.map((s) => s.lambda));
      const best = (scores[selectLambda(scores)] as LambdaScore).lambda;
      const candidates: number[] = [];
      if (!refined) {
        refined = true;
        candidates.push(onGrid(best * HALF_DECADE), onGrid(best / HALF_DECADE));
      }
      const lambdas = [...tried].sort((a, b) => a - b);
      if (best === lambdas[0] && best / HALF_DECADE >= weakest) candidates.push(onGrid(best / HALF_DECADE));
      if (best === lambdas.at(-1) && best * HALF_DECADE <= STRONGEST_LAMBDA * 1.01) candidates.push(onGrid(best * HALF_DECADE));
      return [...new Set(candidates)].filter((l) => !tried.has(l) && l >= weakest && l <= STRONGEST_LAMBDA * 1.01);
    },
  };
}
