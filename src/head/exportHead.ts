/**
 * Writes a trained head as head.onnx (float32): embedding -> L2-normalise -> dense layer(s) ->
 * softmax. The normalisation is inside the graph so whoever runs the head feeds raw backbone
 * embeddings, exactly as the trainer saw them before its own normalisation.
 */
import { buildModel, valueInfo } from '../onnx/graph.js';
import { HeadstartError } from '../errors.js';
import type { HeadKind, HeadParams } from '../training/types.js';
import { NORM_EPSILON } from '../training/trainingGraphs.js';
import { GraphWriter } from './GraphWriter.js';
import { HEAD_FORMAT_VERSION, HEAD_INPUT, HEAD_METADATA, HEAD_OPSET, HEAD_OUTPUT } from './headFormat.js';

export interface ExportableHead {
  kind: HeadKind;
  params: HeadParams;
  classNames: readonly string[];
}

export interface HeadExportOptions {
  /** Id of the backbone whose embeddings the head was trained on (name + sha256). */
  backboneId: string;
  /** Extra metadata_props entries (they cannot override the head's own keys). */
  metadata?: Record<string, string>;
}

function checkParams(head: ExportableHead): void {
  const { layers } = head.params;
  const expected = head.kind === 'linear' ? 1 : 2;
  const problems: string[] = [];
  if (layers.length !== expected) problems.push(`a ${head.kind} head has ${expected} layer(s), got ${layers.length}`);
  layers.forEach((layer, i) => {
    if (layer.weights.length !== layer.inputs * layer.outputs) problems.push(`layer ${i}: ${layer.weights.length} weights for [${layer.inputs}, ${layer.outputs}]`);
    if (layer.bias.length !== layer.outputs) problems.push(`layer ${i}: ${layer.bias.length} biases for ${layer.outputs} outputs`);
    if (i > 0 && layer.inputs !== layers[i - 1]?.outputs) problems.push(`layer ${i} takes ${layer.inputs} inputs, the previous gives ${layers[i - 1]?.outputs}`);
  });
  const classes = layers[layers.length - 1]?.outputs;
  if (classes !== head.classNames.length) problems.push(`${classes} outputs for ${head.classNames.length} class names`);
  if (problems.length > 0) throw new HeadstartError(`cannot export head: ${problems.join('; ')}`, 'invalid_head', 500, { context: { problems } });
}

export function exportHead(head: ExportableHead, options: HeadExportOptions): Uint8Array {
  checkParams(head);
  const { layers } = head.params;
  const inputDim = layers[0]!.inputs;
  const classes = head.classNames.length;
  const w = new GraphWriter();

  // Row norms by a MatMul with a ones column: no Reduce op, whose axes moved from attribute to input
  // across opsets, so the graph means the same thing in every opset a backbone may use.
  const squares = w.op('Mul', [HEAD_INPUT, HEAD_INPUT]);
  const norms = w.op('Sqrt', [w.op('MatMul', [squares, w.constant('float32', [inputDim, 1], new Float32Array(inputDim).fill(1), 'ones')])]);
  let h = w.op('Div', [HEAD_INPUT, w.op('Max', [norms, w.constant('float32', [1], [NORM_EPSILON], 'norm_floor')])]);
  layers.forEach((layer, i) => {
    const weights = w.constant('float32', [layer.inputs, layer.outputs], layer.weights, `dense${i}_weights`);
    const bias = w.constant('float32', [layer.outputs], layer.bias, `dense${i}_bias`);
    h = w.op('Add', [w.op('MatMul', [h, weights]), bias]);
    if (i < layers.length - 1) h = w.op('Relu', [h]);
  });
  w.op('Softmax', [h], { axis: 1 }, HEAD_OUTPUT);

  return buildModel({
    name: 'headstart_head',
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [valueInfo(HEAD_INPUT, 'float32', ['N', inputDim])],
    outputs: [valueInfo(HEAD_OUTPUT, 'float32', ['N', classes])],
    opset: HEAD_OPSET,
    metadata: {
      ...options.metadata,
      [HEAD_METADATA.labels]: JSON.stringify(head.classNames),
      [HEAD_METADATA.backboneId]: options.backboneId,
      [HEAD_METADATA.kind]: head.kind,
      [HEAD_METADATA.format]: HEAD_FORMAT_VERSION,
    },
    docString: `headstart ${head.kind} head: ${HEAD_INPUT} float32 [N,${inputDim}] -> ${HEAD_OUTPUT} float32 [N,${classes}]`,
  });
}
