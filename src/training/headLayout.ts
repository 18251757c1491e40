/**
 * How a head's parameters sit in the flat vector the optimiser works on. Linear head: W [D,K]
 * then b [K]. MLP head: W1 [D,H], b1 [H], W2 [H,K], b2 [K]. Weights are row-major [in, out] so the
 * forward pass is `x @ W + b`; only weights are L2-regularised, never biases.
 */
import type { Random } from './random.js';

export type HeadKind = 'linear' | 'mlp';

export interface HeadShape {
  kind: HeadKind;
  inputDim: number;
  /** Hidden units; 0 for the linear head. */
  hidden: number;
  classes: number;
}

export interface ParamBlock {
  name: 'W' | 'b' | 'W1' | 'b1' | 'W2' | 'b2';
  offset: number;
  dims: number[];
  size: number;
  regularised: boolean;
}

export function headShape(inputDim: number, classes: number, hidden = 0): HeadShape {
  return { kind: hidden > 0 ? 'mlp' : 'linear', inputDim, hidden: hidden > 0 ? hidden : 0, classes };
}

export function paramBlocks(shape: HeadShape): ParamBlock[] {
  const specs: Array<[ParamBlock['name'], number[], boolean]> =
    shape.kind === 'linear'
      ? [
          ['W', [shape.inputDim, shape.classes], true],
          ['b', [shape.classes], false],
        ]
      : [
          ['W1', [shape.inputDim, shape.hidden], true],
          ['b1', [shape.hidden], false],
          ['W2', [shape.hidden, shape.classes], true],
          ['b2', [shape.classes], false],
        ];
  let offset = 0;
  return specs.map(([name, dims, regularised]) => {
    const size = dims.reduce((a, b) => a * b, 1);
    const block = { name, offset, dims, size, regularised };
    offset += size;
    return block;
  });
}

export function paramCount(shape: HeadShape): number {
  return paramBlocks(shape).reduce((n, b) => n + b.size, 0);
}

/**
 * Starting point. The linear head starts at zero (its loss is convex, the start only affects speed).
 * The MLP needs broken symmetry: Glorot-normal weights, zero biases. (Unit-variance W1 entries,
 * which would give unit-variance hidden units on unit-norm inputs, start with a weight penalty far
 * above the data loss and took more L-BFGS iterations to shrink it on every shared set.)
 */
export function initialParams(shape: HeadShape, random: Random): Float64Array {
  const theta = new Float64Array(paramCount(shape));
  if (shape.kind === 'linear') return theta;
  for (const block of paramBlocks(shape)) {
    if (!block.regularised) continue;
    const [fanIn, fanOut] = block.dims as [number, number];
    const scale = Math.sqrt(2 / (fanIn + fanOut));
    for (let i = 0; i < block.size; i++) theta[block.offset + i] = scale * random.normal();
  }
  return theta;
}
