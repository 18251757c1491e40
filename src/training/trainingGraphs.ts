/**
 * The ONNX graphs the trainer runs (float64, so gradients can be checked tightly):
 *
 * - normalize: float32 embeddings [N,D] -> L2-normalised float64 rows, plus a count of non-finite
 *   values so bad input is refused before it poisons the optimiser.
 * - loss: (X, Yw, theta, lambda) -> (loss, gradient). Yw is the one-hot label matrix already
 *   multiplied by each row's normalised class-balance weight (rows of Yw sum to the row's weight,
 *   all weights sum to 1), so the data term is the weighted mean cross-entropy. The gradient is
 *   written by hand: onnxruntime-node has no training operators.
 * - forward: (X, theta) -> probabilities and argmax, for held-out predictions.
 *
 * Loss: sum_i v_i (logsumexp(z_i) - z_i[y_i]) + lambda/2 * sum of squared weights (biases free).
 */
import { buildModel, DEFAULT_OPSET, valueInfo } from '../onnx/graph.js';
import { GraphWriter } from '../head/GraphWriter.js';
import { paramBlocks, paramCount, type HeadShape } from './headLayout.js';

/** Guards the division for an all-zero embedding; the exported head uses the same floor. */
export const NORM_EPSILON = 1e-12;

export const NORMALIZE_IO = { input: 'embeddings', output: 'normalized', nonFinite: 'nonFinite' } as const;
export const LOSS_IO = { x: 'X', weightedLabels: 'Yw', theta: 'theta', lambda: 'lambda', loss: 'loss', gradient: 'gradient' } as const;
export const FORWARD_IO = { x: 'X', theta: 'theta', probabilities: 'probabilities', predicted: 'predicted' } as const;

export function buildNormalizeGraph(inputDim: number): Uint8Array {
  const w = new GraphWriter();
  const x = w.op('Cast', [NORMALIZE_IO.input], { to: 11 /* DOUBLE */ });
  const norm = w.op('Sqrt', [w.op('ReduceSum', [w.op('Mul', [x, x]), w.int64s([1])], { keepdims: 1 })]);
  const floor = w.op('Max', [norm, w.scalar('float64', NORM_EPSILON)]);
  w.op('Div', [x, floor], {}, NORMALIZE_IO.output);
  const bad = w.op('Or', [w.op('IsNaN', [NORMALIZE_IO.input]), w.op('IsInf', [NORMALIZE_IO.input])]);
  w.op('ReduceSum', [w.op('Cast', [bad], { to: 7 /* INT64 */ })], { keepdims: 0 }, NORMALIZE_IO.nonFinite);
  return buildModel({
    name: 'headstart_normalize',
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [valueInfo(NORMALIZE_IO.input, 'float32', ['N', inputDim])],
    outputs: [valueInfo(NORMALIZE_IO.output, 'float64', ['N', inputDim]), valueInfo(NORMALIZE_IO.nonFinite, 'int64', [])],
    opset: DEFAULT_OPSET,
  });
}

interface Forward {
  /** Parameter blocks reshaped from theta, by name. */
  params: Map<string, string>;
  logits: string;
  /** MLP only: pre-activation and activation of the hidden layer. */
  hiddenPre?: string;
  hidden?: string;
}

function forward(w: GraphWriter, shape: HeadShape, x: string, theta: string): Forward {
  const params = new Map<string, string>();
  for (const block of paramBlocks(shape)) {
    const flat = w.op('Slice', [theta, w.int64s([block.offset]), w.int64s([block.offset + block.size]), w.int64s([0])]);
    params.set(block.name, w.op('Reshape', [flat, w.int64s(block.dims)]));
  }
  const get = (name: string): string => params.get(name) as string;
  if (shape.kind === 'linear') {
    return { params, logits: w.op('Add', [w.op('MatMul', [x, get('W')]), get('b')]) };
  }
  const hiddenPre = w.op('Add', [w.op('MatMul', [x, get('W1')]), get('b1')]);
  const hidden = w.op('Relu', [hiddenPre]);
  return { params, hiddenPre, hidden, logits: w.op('Add', [w.op('MatMul', [hidden, get('W2')]), get('b2')]) };
}

export function buildLossGraph(shape: HeadShape): Uint8Array {
  const w = new GraphWriter();
  const { x, weightedLabels: yw, theta, lambda } = LOSS_IO;
  const f = forward(w, shape, x, theta);
  const get = (name: string): string => f.params.get(name) as string;

  // Stable softmax and log-sum-exp per row.
  const rowMax = w.op('ReduceMax', [f.logits], { axes: [1], keepdims: 1 });
  const exp = w.op('Exp', [w.op('Sub', [f.logits, rowMax])]);
  const rowSum = w.op('ReduceSum', [exp, w.int64s([1])], { keepdims: 1 });
  const probabilities = w.op('Div', [exp, rowSum]);
  const logSumExp = w.op('Add', [w.op('Log', [rowSum]), rowMax]);
  const rowWeight = w.op('ReduceSum', [yw, w.int64s([1])], { keepdims: 1 });
  const dataLoss = w.op('Sub', [
    w.op('ReduceSum', [w.op('Mul', [rowWeight, logSumExp])], { keepdims: 0 }),
    w.op('ReduceSum', [w.op('Mul', [yw, f.logits])], { keepdims: 0 }),
  ]);
  // d loss / d logits, already weighted.
  const dLogits = w.op('Sub', [w.op('Mul', [probabilities, rowWeight]), yw]);

  const gradients = new Map<string, string>();
  if (shape.kind === 'linear') {
    gradients.set('W', w.op('Gemm', [x, dLogits], { transA: 1 }));
    gradients.set('b', w.op('ReduceSum', [dLogits, w.int64s([0])], { keepdims: 0 }));
  } else {
    const hidden = f.hidden as string;
    gradients.set('W2', w.op('Gemm', [hidden, dLogits], { transA: 1 }));
    gradients.set('b2', w.op('ReduceSum', [dLogits, w.int64s([0])], { keepdims: 0 }));
    const dHidden = w.op('Gemm', [dLogits, get('W2')], { transB: 1 });
    const active = w.op('Cast', [w.op('Greater', [f.hiddenPre as string, w.scalar('float64', 0)])], { to: 11 });
    const dHiddenPre = w.op('Mul', [dHidden, active]);
    gradients.set('W1', w.op('Gemm', [x, dHiddenPre], { transA: 1 }));
    gradients.set('b1', w.op('ReduceSum', [dHiddenPre, w.int64s([0])], { keepdims: 0 }));
  }

  // L2 penalty on weights: lambda/2 * |W|^2 adds lambda * W to the gradient.
  const halfLambda = w.op('Mul', [lambda, w.scalar('float64', 0.5)]);
  let loss = dataLoss;
  const flatGradients: string[] = [];
  for (const block of paramBlocks(shape)) {
    let grad = gradients.get(block.name) as string;
    if (block.regularised) {
      const weights = get(block.name);
      const squares = w.op('ReduceSum', [w.op('Mul', [weights, weights])], { keepdims: 0 });
      loss = w.op('Add', [loss, w.op('Mul', [halfLambda, squares])]);
      grad = w.op('Add', [grad, w.op('Mul', [lambda, weights])]);
    }
    flatGradients.push(w.op('Reshape', [grad, w.int64s([-1])]));
  }
  w.op('Identity', [loss], {}, LOSS_IO.loss);
  w.op('Concat', flatGradients, { axis: 0 }, LOSS_IO.gradient);

  const p = paramCount(shape);
  return buildModel({
    name: `headstart_${shape.kind}_loss`,
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [
      valueInfo(x, 'float64', ['N', shape.inputDim]),
      valueInfo(yw, 'float64', ['N', shape.classes]),
      valueInfo(theta, 'float64', [p]),
      valueInfo(lambda, 'float64', []),
    ],
    outputs: [valueInfo(LOSS_IO.loss, 'float64', []), valueInfo(LOSS_IO.gradient, 'float64', [p])],
    opset: DEFAULT_OPSET,
  });
}

export function buildForwardGraph(shape: HeadShape): Uint8Array {
  const w = new GraphWriter();
  const f = forward(w, shape, FORWARD_IO.x, FORWARD_IO.theta);
  w.op('Softmax', [f.logits], { axis: 1 }, FORWARD_IO.probabilities);
  w.op('ArgMax', [f.logits], { axis: 1, keepdims: 0 }, FORWARD_IO.predicted);
  return buildModel({
    name: `headstart_${shape.kind}_forward`,
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [valueInfo(FORWARD_IO.x, 'float64', ['N', shape.inputDim]), valueInfo(FORWARD_IO.theta, 'float64', [paramCount(shape)])],
    outputs: [valueInfo(FORWARD_IO.probabilities, 'float64', ['N', shape.classes]), valueInfo(FORWARD_IO.predicted, 'int64', ['N'])],
    opset: DEFAULT_OPSET,
  });
}
