/**
 * The ONNX graphs the trainer runs. The data-sized arithmetic runs in a chosen dtype (float32 for
 * training, float64 where gradients are checked tightly); the parameters, loss and gradient are
 * float64 at the interface, since the optimiser works in float64.
 *
 * - normalize: float32 embeddings [N,D] -> L2-normalised float64 rows, plus a count of non-finite
 *   values (the learning curve's inputs).
 * - loss: (X, scale, labels, weights, theta, lambda) -> (loss, gradient). X holds the rows as they
 *   are and `scale` each row's inverse L2 norm, so the trainer never copies the matrix to normalise
 *   it; `weights` are the normalised class-balance weights (summing to 1, 0 for rows outside the
 *   fold), so the data term is the weighted mean cross-entropy. The gradient is written by hand:
 *   onnxruntime-node has no training operators.
 * - forward: (X, scale, theta) -> probabilities and argmax, for held-out predictions.
 *
 * Loss: sum_i v_i (logsumexp(z_i) - z_i[y_i]) + lambda/2 * sum of squared weights (biases free).
 */
import { buildModel, DEFAULT_OPSET, valueInfo } from '../onnx/graph.js';
import { GraphWriter } from '../head/GraphWriter.js';
import { paramBlocks, paramCount, type HeadShape } from './headLayout.js';

/** Guards the division for an all-zero embedding; the exported head uses the same floor. */
export const NORM_EPSILON = 1e-12;

export const NORMALIZE_IO = { input: 'embeddings', output: 'normalized', nonFinite: 'nonFinite' } as const;

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

export const LOSS_IO = {
  x: 'X',
  scale: 'scale',
  labels: 'labels',
  weights: 'weights',
  theta: 'theta',
  lambda: 'lambda',
  loss: 'loss',
  gradient: 'gradient',
} as const;
export const FORWARD_IO = { x: 'X', scale: 'scale', theta: 'theta', probabilities: 'probabilities', predicted: 'predicted' } as const;

/** Element type of the data-sized arithmetic (the matrix products over the rows). */
export type TrainingDtype = 'float32' | 'float64';

const ONNX_TYPE: Record<TrainingDtype, number> = { float32: 1 /* FLOAT */, float64: 11 /* DOUBLE */ };

export interface LossGraphOptions {
  /** Default float64. */
  dtype?: TrainingDtype;
  /**
   * Names the graph's data (X, scale, labels) as stored initializers of this many rows instead of
   * inputs: the session then holds them (on the GPU for the CUDA provider) and each run is fed only
   * the row weights and the parameters. The caller supplies the initializers (graphSessions.ts).
   */
  residentRows?: number;
}

interface Forward {
  /** Parameter blocks reshaped from theta (in the data dtype), by name. */
  params: Map<string, string>;
  logits: string;
  /** MLP only: pre-activation and activation of the hidden layer. */
  hiddenPre?: string;
  hidden?: string;
}

function reshapedBlocks(w: GraphWriter, shape: HeadShape, theta: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const block of paramBlocks(shape)) {
    const flat = w.op('Slice', [theta, w.int64s([block.offset]), w.int64s([block.offset + block.size]), w.int64s([0])]);
    params.set(block.name, w.op('Reshape', [flat, w.int64s(block.dims)]));
  }
  return params;
}

/**
 * Logits of rows X scaled by `scale` (each row's inverse L2 norm): (s * X) W = s * (X W), so the
 * normalised matrix is never materialised; the scale multiplies the [N, K] (or [N, H]) product.
 */
function forward(w: GraphWriter, shape: HeadShape, x: string, scale: string, theta: string): Forward {
  const params = reshapedBlocks(w, shape, theta);
  const get = (name: string): string => params.get(name) as string;
  if (shape.kind === 'linear') {
    return { params, logits: w.op('Add', [w.op('Mul', [w.op('MatMul', [x, get('W')]), scale]), get('b')]) };
  }
  const hiddenPre = w.op('Add', [w.op('Mul', [w.op('MatMul', [x, get('W1')]), scale]), get('b1')]);
  const hidden = w.op('Relu', [hiddenPre]);
  return { params, hiddenPre, hidden, logits: w.op('Add', [w.op('MatMul', [hidden, get('W2')]), get('b2')]) };
}

/** theta (always float64 at the interface) in the data dtype. */
function thetaIn(w: GraphWriter, dtype: TrainingDtype, theta: string): string {
  return dtype === 'float64' ? theta : w.op('Cast', [theta], { to: ONNX_TYPE[dtype] });
}

function toDouble(w: GraphWriter, dtype: TrainingDtype, value: string): string {
  return dtype === 'float64' ? value : w.op('Cast', [value], { to: 11 });
}

/**
 * (X, scale, labels, weights, theta, lambda) -> (loss, gradient): the weighted mean cross-entropy
 * sum_i w_i (logsumexp(z_i) - z_i[y_i]) + lambda/2 |weights|^2, z_i = scale_i * x_i W + b.
 *
 * The products over the rows run in `dtype`; in float32 the per-row losses are summed in float64
 * and the penalty and its gradient are float64 from theta, so the optimiser sees a loss whose
 * rounding does not grow with N. A row of weight 0 contributes nothing (how a fold is masked out
 * of resident data).
 */
export function buildLossGraph(shape: HeadShape, options: LossGraphOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'float64';
  const w = new GraphWriter();
  const { x, scale, labels, weights, theta, lambda } = LOSS_IO;
  const rowScale = w.op('Unsqueeze', [scale, w.int64s([1])]);
  const f = forward(w, shape, x, rowScale, thetaIn(w, dtype, theta));
  const get = (name: string): string => f.params.get(name) as string;
  const columnWeights = w.op('Unsqueeze', [weights, w.int64s([1])]);

  // Stable softmax and log-sum-exp per row; the row's loss is logsumexp - z[y].
  const rowMax = w.op('ReduceMax', [f.logits], { axes: [1], keepdims: 1 });
  const exp = w.op('Exp', [w.op('Sub', [f.logits, rowMax])]);
  const rowSum = w.op('ReduceSum', [exp, w.int64s([1])], { keepdims: 1 });
  const probabilities = w.op('Div', [exp, rowSum]);
  const logSumExp = w.op('Add', [w.op('Log', [rowSum]), rowMax]);
  const labelColumn = w.op('Unsqueeze', [labels, w.int64s([1])]);
  const labelLogit = w.op('GatherElements', [f.logits, labelColumn], { axis: 1 });
  const rowLoss = toDouble(w, dtype, w.op('Sub', [logSumExp, labelLogit]));
  const dataLoss = w.op('ReduceSum', [w.op('Mul', [rowLoss, columnWeights])], { keepdims: 0 });

  // d loss / d logits = w_i (p_i - onehot(y_i)).
  const classIds = w.constant('int64', [1, shape.classes], Array.from({ length: shape.classes }, (_, c) => c));
  const oneHot = w.op('Cast', [w.op('Equal', [labelColumn, classIds])], { to: ONNX_TYPE[dtype] });
  const dataWeights = dtype === 'float64' ? columnWeights : w.op('Cast', [columnWeights], { to: ONNX_TYPE[dtype] });
  const dLogits = w.op('Mul', [w.op('Sub', [probabilities, oneHot]), dataWeights]);

  const gradients = new Map<string, string>();
  if (shape.kind === 'linear') {
    gradients.set('W', w.op('Gemm', [x, w.op('Mul', [dLogits, rowScale])], { transA: 1 }));
    gradients.set('b', w.op('ReduceSum', [dLogits, w.int64s([0])], { keepdims: 0 }));
  } else {
    const hidden = f.hidden as string;
    gradients.set('W2', w.op('Gemm', [hidden, dLogits], { transA: 1 }));
    gradients.set('b2', w.op('ReduceSum', [dLogits, w.int64s([0])], { keepdims: 0 }));
    const dHidden = w.op('Gemm', [dLogits, get('W2')], { transB: 1 });
    const active = w.op('Cast', [w.op('Greater', [f.hiddenPre as string, w.scalar(dtype, 0)])], { to: ONNX_TYPE[dtype] });
    const dHiddenPre = w.op('Mul', [dHidden, active]);
    gradients.set('W1', w.op('Gemm', [x, w.op('Mul', [dHiddenPre, rowScale])], { transA: 1 }));
    gradients.set('b1', w.op('ReduceSum', [dHiddenPre, w.int64s([0])], { keepdims: 0 }));
  }

  // L2 penalty on weights, in float64 from theta itself: lambda/2 * |W|^2 adds lambda * W.
  const exact = reshapedBlocks(w, shape, theta);
  const halfLambda = w.op('Mul', [lambda, w.scalar('float64', 0.5)]);
  let loss = dataLoss;
  const flatGradients: string[] = [];
  for (const block of paramBlocks(shape)) {
    let grad = toDouble(w, dtype, gradients.get(block.name) as string);
    if (block.regularised) {
      const weightsBlock = exact.get(block.name) as string;
      const squares = w.op('ReduceSum', [w.op('Mul', [weightsBlock, weightsBlock])], { keepdims: 0 });
      loss = w.op('Add', [loss, w.op('Mul', [halfLambda, squares])]);
      grad = w.op('Add', [grad, w.op('Mul', [lambda, weightsBlock])]);
    }
    flatGradients.push(w.op('Reshape', [grad, w.int64s([-1])]));
  }
  w.op('Identity', [loss], {}, LOSS_IO.loss);
  w.op('Concat', flatGradients, { axis: 0 }, LOSS_IO.gradient);

  const p = paramCount(shape);
  const rows = options.residentRows ?? 'N';
  const data = [valueInfo(x, dtype, [rows, shape.inputDim]), valueInfo(scale, dtype, [rows]), valueInfo(labels, 'int64', [rows])];
  return buildModel({
    name: `headstart_${shape.kind}_loss`,
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [...(options.residentRows === undefined ? data : []), valueInfo(weights, 'float64', [rows]), valueInfo(theta, 'float64', [p]), valueInfo(lambda, 'float64', [])],
    outputs: [valueInfo(LOSS_IO.loss, 'float64', []), valueInfo(LOSS_IO.gradient, 'float64', [p])],
    opset: DEFAULT_OPSET,
  });
}

/** (X, scale, theta) -> float64 probabilities and argmax, for held-out predictions. */
export function buildForwardGraph(shape: HeadShape, options: { dtype?: TrainingDtype } = {}): Uint8Array {
  const dtype = options.dtype ?? 'float64';
  const w = new GraphWriter();
  const f = forward(w, shape, FORWARD_IO.x, w.op('Unsqueeze', [FORWARD_IO.scale, w.int64s([1])]), thetaIn(w, dtype, FORWARD_IO.theta));
  w.op('Softmax', [toDouble(w, dtype, f.logits)], { axis: 1 }, FORWARD_IO.probabilities);
  w.op('ArgMax', [f.logits], { axis: 1, keepdims: 0 }, FORWARD_IO.predicted);
  return buildModel({
    name: `headstart_${shape.kind}_forward`,
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [valueInfo(FORWARD_IO.x, dtype, ['N', shape.inputDim]), valueInfo(FORWARD_IO.scale, dtype, ['N']), valueInfo(FORWARD_IO.theta, 'float64', [paramCount(shape)])],
    outputs: [valueInfo(FORWARD_IO.probabilities, 'float64', ['N', shape.classes]), valueInfo(FORWARD_IO.predicted, 'int64', ['N'])],
    opset: DEFAULT_OPSET,
  });
}
