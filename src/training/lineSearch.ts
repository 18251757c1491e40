/**
 * Strong-Wolfe line search (Nocedal & Wright, Numerical Optimization, algorithms 3.5 and 3.6, with
 * safeguarded cubic interpolation). L-BFGS needs the curvature condition to keep its Hessian
 * approximation positive definite; plain backtracking only guarantees sufficient decrease.
 *
 * The objective is asynchronous because each evaluation is one onnxruntime run.
 */
import { dot, step } from './vector.js';

export interface Evaluation {
  f: number;
  g: Float64Array;
}

export type Objective = (x: Float64Array) => Promise<Evaluation>;

export interface LineSearchOptions {
  /** Sufficient-decrease constant. */
  c1?: number;
  /** Curvature constant; 0.9 is the usual choice for quasi-Newton directions. */
  c2?: number;
  maxEvaluations?: number;
  alphaMax?: number;
}

export interface LineSearchResult {
  /** True when the strong Wolfe conditions hold at the returned point. */
  wolfe: boolean;
  /** False when no point with sufficient decrease was found; x/f/g are then the start point. */
  decreased: boolean;
  alpha: number;
  x: Float64Array;
  f: number;
  g: Float64Array;
  evaluations: number;
}

interface Trial {
  alpha: number;
  f: number;
  dphi: number;
  x: Float64Array;
  g: Float64Array;
}

/** Minimiser of the cubic through (a, fa, da) and (b, fb, db); NaN when it has none. */
function cubicMinimizer(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const radicand = d1 * d1 - da * db;
  if (!(radicand >= 0)) return Number.NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(radicand);
  return b - ((b - a) * (db + d2 - d1)) / (db - da + 2 * d2);
}

/** A trial step inside [lo, hi] that stays clear of both ends, so the bracket always shrinks. */
function interpolate(lo: Trial, hi: Trial): number {
  const left = Math.min(lo.alpha, hi.alpha);
  const width = Math.abs(hi.alpha - lo.alpha);
  const margin = 0.1 * width;
  const bisection = (lo.alpha + hi.alpha) / 2;
  if (!Number.isFinite(hi.f) || !Number.isFinite(hi.dphi)) return bisection;
  const alpha = cubicMinimizer(lo.alpha, lo.f, lo.dphi, hi.alpha, hi.f, hi.dphi);
  if (!Number.isFinite(alpha) || alpha < left + margin || alpha > left + width - margin) return bisection;
  return alpha;
}

export async function strongWolfeLineSearch(
  objective: Objective,
  x0: Float64Array,
  f0: number,
  g0: Float64Array,
  direction: Float64Array,
  alphaInit: number,
  options: LineSearchOptions = {},
): Promise<LineSearchResult> {
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const maxEvaluations = options.maxEvaluations ?? 25;
  const alphaMax = options.alphaMax ?? 1e10;
  const dphi0 = dot(g0, direction);
  let evaluations = 0;

  const phi = async (alpha: number): Promise<Trial> => {
    const x = step(x0, alpha, direction);
    const { f, g } = await objective(x);
    evaluations++;
    return { alpha, f, dphi: dot(g, direction), x, g };
  };
  const sufficientDecrease = (t: Trial): boolean => t.f <= f0 + c1 * t.alpha * dphi0;
  const curvature = (t: Trial): boolean => Math.abs(t.dphi) <= -c2 * dphi0;
  const start: Trial = { alpha: 0, f: f0, dphi: dphi0, x: x0, g: g0 };
  const done = (t: Trial, wolfe: boolean): LineSearchResult => ({
    wolfe,
    decreased: t.alpha > 0 && t.f < f0,
    alpha: t.alpha,
    x: t.x,
    f: t.f,
    g: t.g,
    evaluations,
  });

  // Zoom keeps `lo` as the best point with sufficient decrease and `hi` so that [lo, hi] brackets
  // a point satisfying both conditions.
  const zoom = async (lo: Trial, hi: Trial): Promise<LineSearchResult> => {
    while (evaluations < maxEvaluations) {
      if (Math.abs(hi.alpha - lo.alpha) <= 1e-14 * Math.max(1, Math.abs(lo.alpha))) break;
      const trial = await phi(interpolate(lo, hi));
      if (!Number.isFinite(trial.f) || !sufficientDecrease(trial) || trial.f >= lo.f) {
        hi = trial;
      } else {
        if (curvature(trial)) return done(trial, true);
        if (trial.dphi * (hi.alpha - lo.alpha) >= 0) hi = lo;
        lo = trial;
      }
    }
    return done(lo, false);
  };

  let previous = start;
  let alpha = Math.min(alphaInit, alphaMax);
  for (let i = 0; evaluations < maxEvaluations; i++) {
    const trial = await phi(alpha);
    if (!Number.isFinite(trial.f) || !sufficientDecrease(trial) || (i > 0 && trial.f >= previous.f)) {
      return zoom(previous, trial);
    }
    if (curvature(trial)) return done(trial, true);
    if (trial.dphi >= 0) return zoom(trial, previous);
    previous = trial;
    if (alpha >= alphaMax) break;
    alpha = Math.min(alpha * 4, alphaMax);
  }
  return done(previous, false);
}
