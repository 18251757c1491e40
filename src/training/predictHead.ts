/**
 * The trainer's own prediction path (float64 graphs, the same ones cross-validation uses). The
 * exported head.onnx is checked against it; callers serving predictions use HeadModel instead.
 */
import { ForwardSession, normalizeEmbeddings, type GraphRuntime } from './graphSessions.js';
import { headShape, paramCount, type HeadShape } from './headLayout.js';
import type { HeadParams, TrainedHead } from './types.js';

/** Flattens dense layers back into the optimiser's parameter layout (W then b, layer by layer). */
export function toParamVector(params: HeadParams): Float64Array {
  const theta = new Float64Array(params.layers.reduce((n, l) => n + l.weights.length + l.bias.length, 0));
  let offset = 0;
  for (const layer of params.layers) {
    theta.set(layer.weights, offset);
    offset += layer.weights.length;
    theta.set(layer.bias, offset);
    offset += layer.bias.length;
  }
  return theta;
}

export function shapeOf(params: HeadParams): HeadShape {
  const first = params.layers[0];
  const last = params.layers[params.layers.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('a head has at least one layer');
  return headShape(first.inputs, last.outputs, params.layers.length > 1 ? first.outputs : 0);
}

/** Probabilities [rows, K] (float64) of raw embeddings [rows, D]. */
export async function predictHead(
  head: Pick<TrainedHead, 'params'>,
  embeddings: Float32Array,
  rows: number,
  runtime: GraphRuntime = 'cpu',
): Promise<Float64Array> {
  const shape = shapeOf(head.params);
  const theta = toParamVector(head.params);
  if (theta.length !== paramCount(shape)) throw new RangeError(`head has ${theta.length} parameters, its shape needs ${paramCount(shape)}`);
  const x = await normalizeEmbeddings(embeddings, rows, shape.inputDim, runtime);
  const forward = await ForwardSession.create(shape, runtime);
  try {
    return (await forward.predict(x, rows, theta)).probabilities;
  } finally {
    await forward.release();
  }
}
