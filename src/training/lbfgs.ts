/**
 * Limited-memory BFGS over a flat parameter vector (Nocedal & Wright, algorithm 7.4/7.5). The
 * optimiser is cheap bookkeeping over the parameters; every loss and gradient evaluation over the
 * data is one onnxruntime run supplied as `objective`.
 */
import { strongWolfeLineSearch, type Evaluation, type LineSearchOptions, type Objective } from './lineSearch.js';
import { axpy, difference, dot, maxAbs, scale } from './vector.js';

export type { Evaluation, Objective } from './lineSearch.js';

export interface LbfgsOptions {
  maxIterations?: number;
  /** Number of (s, y) pairs kept. */
  memory?: number;
  /** Stop when the largest gradient component is at most this. */
  gradientTolerance?: number;
  /** Stop when an iteration lowers f by at most this, relative to max(|f|, 1). */
  functionTolerance?: number;
  lineSearch?: LineSearchOptions;
}

export type StopReason = 'gradient' | 'function' | 'max_iterations' | 'line_search';

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  g: Float64Array;
  iterations: number;
  evaluations: number;
  reason: StopReason;
  /** True for the gradient and function-decrease criteria. */
  converged: boolean;
  /** f at the start and after each iteration. */
  history: number[];
}

/** Ring buffer of curvature pairs and the two-loop recursion that applies the inverse Hessian. */
class CurvatureMemory {
  private readonly s: Float64Array[] = [];
  private readonly y: Float64Array[] = [];
  private readonly rho: number[] = [];

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.s.length;
  }

  clear(): void {
    this.s.length = 0;
    this.y.length = 0;
    this.rho.length = 0;
  }

  /** Stores the pair when it has positive curvature; returns whether it did. */
  push(s: Float64Array, y: Float64Array): boolean {
    const sy = dot(s, y);
    if (!(sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y)))) return false;
    if (this.s.length === this.capacity) {
      this.s.shift();
      this.y.shift();
      this.rho.shift();
    }
    this.s.push(s);
    this.y.push(y);
    this.rho.push(1 / sy);
    return true;
  }

  /** -H g, with H0 = (s'y / y'y) I from the newest pair. */
  direction(g: Float64Array): Float64Array {
    const q = g.slice();
    const m = this.s.length;
    const a = new Array<number>(m);
    for (let i = m - 1; i >= 0; i--) {
      const ai = (this.rho[i] as number) * dot(this.s[i] as Float64Array, q);
      a[i] = ai;
      axpy(-ai, this.y[i] as Float64Array, q);
    }
    if (m > 0) {
      const y = this.y[m - 1] as Float64Array;
      scale(1 / ((this.rho[m - 1] as number) * dot(y, y)), q);
    }
    for (let i = 0; i < m; i++) {
      const b = (this.rho[i] as number) * dot(this.y[i] as Float64Array, q);
      axpy((a[i] as number) - b, this.s[i] as Float64Array, q);
    }
    scale(-1, q);
    return q;
  }
}

export async function minimizeLbfgs(objective: Objective, x0: Float64Array, options: LbfgsOptions = {}): Promise<LbfgsResult> {
  const maxIterations = options.maxIterations ?? 500;
  const gradientTolerance = options.gradientTolerance ?? 1e-5;
  const functionTolerance = options.functionTolerance ?? 1e-12;
  const memory = new CurvatureMemory(options.memory ?? 10);

  let x: Float64Array = x0.slice();
  let current: Evaluation = await objective(x);
  let evaluations = 1;
  const history = [current.f];
  const result = (iterations: number, reason: StopReason): LbfgsResult => ({
    x,
    f: current.f,
    g: current.g,
    iterations,
    evaluations,
    reason,
    converged: reason === 'gradient' || reason === 'function',
    history,
  });
  if (!Number.isFinite(current.f)) return result(0, 'line_search');

  for (let iteration = 0; iteration < maxIterations; iteration++) {
    if (maxAbs(current.g) <= gradientTolerance) return result(iteration, 'gradient');

    let direction = memory.direction(current.g);
    if (!(dot(direction, current.g) < 0)) {
      // Not a descent direction (round-off in the memory): start over from steepest descent.
      memory.clear();
      direction = memory.direction(current.g);
    }
    // Without curvature information a unit step along -g has no natural scale: take one of length 1.
    const initialStep = memory.size === 0 ? Math.min(1, 1 / Math.sqrt(dot(current.g, current.g))) : 1;
    let search = await strongWolfeLineSearch(objective, x, current.f, current.g, direction, initialStep, options.lineSearch);
    evaluations += search.evaluations;
    if (!search.decreased && memory.size > 0) {
      memory.clear();
      direction = memory.direction(current.g);
      const step = Math.min(1, 1 / Math.sqrt(dot(current.g, current.g)));
      search = await strongWolfeLineSearch(objective, x, current.f, current.g, direction, step, options.lineSearch);
      evaluations += search.evaluations;
    }
    if (!search.decreased) return result(iteration, 'line_search');

    memory.push(difference(search.x, x), difference(search.g, current.g));
    const previousF = current.f;
    x = search.x;
    current = { f: search.f, g: search.g };
    history.push(current.f);
    if (previousF - current.f <= functionTolerance * Math.max(Math.abs(previousF), Math.abs(current.f), 1)) {
      return result(iteration + 1, 'function');
    }
  }
  return result(maxIterations, maxAbs(current.g) <= gradientTolerance ? 'gradient' : 'max_iterations');
}
