import { describe, expect, it } from 'vitest';
import { LossSession } from '../../../src/training/graphSessions.js';
import { headShape } from '../../../src/training/headLayout.js';
import { minimizeLbfgs } from '../../../src/training/lbfgs.js';
import { strongWolfeLineSearch, type Objective } from '../../../src/training/lineSearch.js';

/** f(x) = 1/2 x'Ax - b'x with A symmetric positive definite; minimiser A^-1 b. */
function quadratic(a: number[][], b: number[]): Objective {
  return async (x) => {
    const ax = a.map((row) => row.reduce((s, v, j) => s + v * (x[j] as number), 0));
    const f = 0.5 * ax.reduce((s, v, i) => s + v * (x[i] as number), 0) - b.reduce((s, v, i) => s + v * (x[i] as number), 0);
    return { f, g: Float64Array.from(ax, (v, i) => v - (b[i] as number)) };
  };
}

const rosenbrock: Objective = async (x) => {
  const [u, v] = [x[0] as number, x[1] as number];
  return {
    f: (1 - u) ** 2 + 100 * (v - u * u) ** 2,
    g: Float64Array.of(-2 * (1 - u) - 400 * u * (v - u * u), 200 * (v - u * u)),
  };
};

describe('minimizeLbfgs', () => {
  it('finds the closed-form minimiser of an ill-conditioned quadratic', async () => {
    const a = [
      [10, 2, 0],
      [2, 3, 1],
      [0, 1, 0.5],
    ];
    const b = [1, -2, 3];
    // A^-1 b = (17/6, -41/3, 100/3) (det A = 3).
    const expected = [17 / 6, -41 / 3, 100 / 3];
    // f is about -65 here, so a gradient much below 1e-7 moves f by less than its rounding error.
    const result = await minimizeLbfgs(quadratic(a, b), new Float64Array(3), { gradientTolerance: 1e-6, functionTolerance: 0 });
    expect(result.reason).toBe('gradient');
    expected.forEach((v, i) => expect(result.x[i]).toBeCloseTo(v, 6));
    // The history is f after each accepted step: never increasing.
    for (let i = 1; i < result.history.length; i++) expect(result.history[i]).toBeLessThanOrEqual(result.history[i - 1] as number);
  });

  it('solves the Rosenbrock valley to (1, 1)', async () => {
    const result = await minimizeLbfgs(rosenbrock, Float64Array.of(-1.2, 1), { maxIterations: 200, gradientTolerance: 1e-9, functionTolerance: 0 });
    expect(result.reason).toBe('gradient');
    expect(result.x[0]).toBeCloseTo(1, 6);
    expect(result.x[1]).toBeCloseTo(1, 6);
    expect(result.iterations).toBeLessThan(60);
  });

  it('stops at maxIterations and says so', async () => {
    const result = await minimizeLbfgs(rosenbrock, Float64Array.of(-1.2, 1), { maxIterations: 3, gradientTolerance: 0, functionTolerance: 0 });
    expect(result.reason).toBe('max_iterations');
    expect(result.converged).toBe(false);
    expect(result.iterations).toBe(3);
    expect(result.history).toHaveLength(4);
  });

  it('reproduces scikit-learn multinomial logistic regression through the ONNX loss graph', async () => {
    // Reference computed once with scikit-learn 1.9.1:
    //   rng = np.random.default_rng(7); y = np.array([0,1,2]*4)
    //   X = np.round(rng.normal(size=(12,4)) + np.eye(3,4)[y]*1.5, 2)
    //   m = LogisticRegression(C=2.0, tol=1e-12, max_iter=100000).fit(X, y)
    //   m.coef_.T, m.intercept_, m.predict_proba(X[:2])
    // scikit-learn minimises mean(loss) + ||W||^2 / (2 C n), i.e. lambda = 1 / (C n) = 1/24 here.
    const x = [
      [1.5, 0.3, -0.27, -0.89], [-0.45, 0.51, 0.06, 1.34], [-0.49, -0.62, 1.99, 0.36], [1.61, -0.93, -0.03, 0.7],
      [-1.34, 1.04, -1.9, -1.29], [-1.84, -0.24, 0.23, 0.27], [1.66, -0.19, -2.52, -0.54], [-0.05, 1.61, -1.53, -0.48],
      [-0.98, -0.81, 2.56, -0.81], [1.47, 0.88, -0.58, -0.11], [0.11, 1.56, -1.23, 0.08], [1.36, -1.55, 2.36, 0.12],
    ];
    const coef = [
      [1.26833281, -0.53700757, -0.73132524],
      [-0.22771626, 0.98606423, -0.75834798],
      [-0.43916052, -0.57344623, 1.01260674],
      [-0.17192526, 0.44508473, -0.27315948],
    ];
    const intercept = [-0.19501062, -0.04633452, 0.24134514];
    const n = 12;
    const k = 3;
    // Equal weights 1/n: the unweighted mean loss scikit-learn uses.
    const targets = new Float64Array(n * k);
    for (let i = 0; i < n; i++) targets[i * k + (i % 3)] = 1 / n;
    const loss = await LossSession.create(headShape(4, k), 'cpu');
    try {
      loss.bind(Float64Array.from(x.flat()), targets, n);
      const result = await minimizeLbfgs(loss.objective(1 / 24), new Float64Array(4 * k + k), { gradientTolerance: 1e-7, functionTolerance: 0 });
      expect(result.reason).toBe('gradient');
      coef.flat().forEach((c, i) => expect(result.x[i]).toBeCloseTo(c, 6));
      intercept.forEach((b, i) => expect(result.x[12 + i]).toBeCloseTo(b, 6));
    } finally {
      await loss.release();
    }
  });
});

describe('strongWolfeLineSearch', () => {
  it('returns a step that satisfies both strong Wolfe conditions', async () => {
    const x0 = Float64Array.of(-1.2, 1);
    const { f, g } = await rosenbrock(x0);
    const direction = Float64Array.from(g, (v) => -v);
    const c1 = 1e-4;
    const c2 = 0.9;
    const result = await strongWolfeLineSearch(rosenbrock, x0, f, g, direction, 1, { c1, c2 });
    expect(result.wolfe).toBe(true);
    const slope0 = g.reduce((s, v, i) => s + v * (direction[i] as number), 0);
    const slope = result.g.reduce((s, v, i) => s + v * (direction[i] as number), 0);
    expect(result.f).toBeLessThanOrEqual(f + c1 * result.alpha * slope0);
    expect(Math.abs(slope)).toBeLessThanOrEqual(c2 * Math.abs(slope0));
  });

  it('backs off from steps where the objective is not finite', async () => {
    // -log(1 - x) - 2x: undefined for x >= 1, minimum at x = 0.5. A first step of 10 lands outside.
    const barrier: Objective = async (x) => {
      const v = x[0] as number;
      if (v >= 1) return { f: Number.POSITIVE_INFINITY, g: Float64Array.of(Number.NaN) };
      return { f: -Math.log(1 - v) - 2 * v, g: Float64Array.of(1 / (1 - v) - 2) };
    };
    const x0 = Float64Array.of(0);
    const { f, g } = await barrier(x0);
    const result = await strongWolfeLineSearch(barrier, x0, f, g, Float64Array.of(1), 10);
    expect(result.decreased).toBe(true);
    expect(result.x[0]).toBeLessThan(1);
    expect(result.f).toBeLessThan(f);
  });
});
