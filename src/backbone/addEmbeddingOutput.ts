/**
 * Graph surgery that turns any ONNX image classifier into a feature extractor: the feature map
 * the classifier pools (e.g. MobileNetV2's [N,1280,7,7]) gets a `GlobalAveragePool` + `Flatten`
 * and becomes a new graph output `[N,C]`, next to the original outputs (so the same session can
 * still classify). Nothing else in the graph changes.
 */
import { BadRequestError } from '../errors.js';
import { DataType, decodeModel, encodeModel, node, valueInfo, type ModelProto, type NodeProto, type ValueInfoProto } from '../onnx/graph.js';

export interface AddEmbeddingOptions {
  /** Name of the new output; `embedding` by default. */
  outputName?: string;
  /** Channel count C, when the model carries no shape for the feature tensor. */
  channels?: number;
}

type Graph = NonNullable<ModelProto['graph']>;

interface TensorShape {
  elemType?: number;
  /** Per dimension: a number, a symbolic name, or undefined when unknown. */
  dims?: Array<number | string | undefined>;
}

function shapeOf(info: ValueInfoProto | undefined): TensorShape | undefined {
  const tensorType = info?.type?.tensorType;
  if (!tensorType) return undefined;
  const dims = tensorType.shape?.dim?.map((d) => (d.dimValue != null ? Number(d.dimValue) : d.dimParam ? d.dimParam : undefined));
  return { elemType: tensorType.elemType ?? undefined, dims };
}

function findValueInfo(graph: Graph, name: string): ValueInfoProto | undefined {
  return [...(graph.valueInfo ?? []), ...(graph.output ?? []), ...(graph.input ?? [])].find((v) => v.name === name);
}

/** Every tensor name the graph defines: node outputs, inputs and initializers. */
function definedNames(graph: Graph): Set<string> {
  const names = new Set<string>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) names.add(o);
  for (const i of graph.input ?? []) if (i.name) names.add(i.name);
  for (const t of graph.initializer ?? []) if (t.name) names.add(t.name);
  return names;
}

/** The symbolic (or fixed) batch dimension of the first real graph input, to label the new output. */
function batchDim(graph: Graph): number | string {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const input = (graph.input ?? []).find((i) => !initializers.has(i.name));
  const first = shapeOf(input)?.dims?.[0];
  return first ?? 'N';
}

function uniqueNodeName(graph: Graph, wanted: string): string {
  const taken = new Set((graph.node ?? []).map((n) => n.name));
  let name = wanted;
  for (let i = 1; taken.has(name); i++) name = `${wanted}_${i}`;
  return name;
}

/** Pooling over the whole feature map: the step between a CNN's last feature map and its classifier. */
const GLOBAL_POOLS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'QLinearGlobalAveragePool']);

function isGlobalPool(n: NodeProto, graph: Graph): boolean {
  if (GLOBAL_POOLS.has(n.opType ?? '')) return true;
  if (n.opType !== 'ReduceMean') return false;
  // ReduceMean over H and W (axes 2,3 or -2,-1), as some exporters write a global average pool.
  const axesAttr = (n.attribute ?? []).find((a) => a.name === 'axes');
  let axes = axesAttr?.ints?.map(Number);
  if (!axes && n.input?.[1]) {
    const t = (graph.initializer ?? []).find((i) => i.name === n.input![1]);
    axes = t?.int64Data?.map(Number);
  }
  const sorted = (axes ?? []).map((a) => (a < 0 ? a + 4 : a)).sort();
  return sorted.length === 2 && sorted[0] === 2 && sorted[1] === 3;
}

/** Whether `tensor` feeds, through any chain of nodes, one of the graph's outputs. */
function reachesOutput(graph: Graph, tensor: string): boolean {
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const seen = new Set<string>([tensor]);
  const queue = [tensor];
  while (queue.length > 0) {
    const t = queue.pop() as string;
    if (outputs.has(t)) return true;
    for (const n of graph.node ?? []) {
      if (!(n.input ?? []).includes(t)) continue;
      for (const o of n.output ?? []) if (!seen.has(o)) (seen.add(o), queue.push(o));
    }
  }
  return false;
}

/**
 * The feature tensor found by structure: the input of the last global pooling (in graph order)
 * whose result reaches a graph output, i.e. the pooling in front of the classifier. For a
 * quantized pooling (QLinearGlobalAveragePool) it is the float tensor that the same quantized
 * map is dequantized into, since the embedding must be float32.
 */
export function findFeatureTensor(model: ModelProto): string {
  const graph = model.graph;
  if (!graph) throw new BadRequestError('the ONNX model has no graph', 'invalid_model');
  const pools = (graph.node ?? []).filter((n) => isGlobalPool(n, graph) && (n.output ?? []).some((o) => reachesOutput(graph, o)));
  const pool = pools.at(-1);
  const input = pool?.input?.[0];
  if (!pool || !input) {
    throw new BadRequestError(
      'found no global pooling in front of an output (GlobalAveragePool, GlobalMaxPool, QLinearGlobalAveragePool or ReduceMean over H and W); name the feature tensor to pool with --feature-tensor',
      'feature_tensor_not_found',
    );
  }
  if (pool.opType !== 'QLinearGlobalAveragePool') return input;
  const dequantized = (graph.node ?? []).find((n) => n.opType === 'DequantizeLinear' && n.input?.[0] === input)?.output?.[0];
  if (!dequantized) {
    throw new BadRequestError(
      `the last global pooling (${pool.name ?? pool.opType}) reads the quantized tensor "${input}" and no float copy of it exists; name a float32 feature tensor with --feature-tensor`,
      'feature_tensor_type',
    );
  }
  return dequantized;
}

/** Decoded-model version of {@link addEmbeddingOutput}; mutates and returns `model`. */
export function addEmbeddingOutputToModel(model: ModelProto, featureTensorOrAuto: string | undefined, options: AddEmbeddingOptions = {}): ModelProto {
  const graph = model.graph;
  if (!graph) throw new BadRequestError('the ONNX model has no graph', 'invalid_model');
  const featureTensor = featureTensorOrAuto ?? findFeatureTensor(model);
  const outputName = options.outputName ?? 'embedding';
  const defined = definedNames(graph);

  if (!defined.has(featureTensor)) {
    throw new BadRequestError(
      `feature tensor "${featureTensor}" is not produced by any node of the model; pick the input of its final pooling or classifier node (inspect the graph with Netron)`,
      'feature_tensor_not_found',
      400,
      { context: { featureTensor } },
    );
  }
  if (defined.has(outputName) || (graph.output ?? []).some((o) => o.name === outputName)) {
    throw new BadRequestError(`the model already has a tensor named "${outputName}"; choose another output name`, 'output_name_taken', 400, {
      context: { outputName },
    });
  }

  const shape = shapeOf(findValueInfo(graph, featureTensor));
  if (shape?.elemType !== undefined && shape.elemType !== 0 && shape.elemType !== DataType.FLOAT) {
    throw new BadRequestError(
      `feature tensor "${featureTensor}" has ONNX element type ${shape.elemType}, not float32; choose the float tensor after dequantization`,
      'feature_tensor_type',
      400,
      { context: { featureTensor, elemType: shape.elemType } },
    );
  }
  const rank = shape?.dims?.length;
  const inferredChannels = shape?.dims?.[1];
  const channels = options.channels ?? (typeof inferredChannels === 'number' ? inferredChannels : 'C');

  if (rank === 2) {
    // Already pooled ([N,C]): expose it under the new name.
    graph.node!.push(node('Identity', [featureTensor], [outputName], {}, uniqueNodeName(graph, `${outputName}_identity`)));
  } else if (rank === undefined || rank === 4) {
    // Unknown rank is taken to be NCHW, the layout of every CNN classifier's last feature map.
    const pooled = `${outputName}_gap_out`;
    if (defined.has(pooled)) throw new BadRequestError(`the model already has a tensor named "${pooled}"`, 'output_name_taken');
    graph.node!.push(node('GlobalAveragePool', [featureTensor], [pooled], {}, uniqueNodeName(graph, `${outputName}_gap`)));
    graph.node!.push(node('Flatten', [pooled], [outputName], { axis: 1 }, uniqueNodeName(graph, `${outputName}_flatten`)));
  } else {
    throw new BadRequestError(
      `feature tensor "${featureTensor}" has rank ${rank}; mean pooling is supported for NCHW (rank 4) maps or already pooled [N,C] tensors`,
      'feature_tensor_rank',
      400,
      { context: { featureTensor, rank } },
    );
  }
  graph.output!.push(valueInfo(outputName, 'float32', [batchDim(graph), channels]));
  return model;
}

/**
 * Adds a float32 output `embedding` [N,C] = mean over H and W of `featureTensor` ([N,C,H,W]),
 * keeping all original outputs. C comes from the model's value_info when present, else
 * `options.channels`, else stays symbolic (onnxruntime does not need it). Without a
 * `featureTensor`, the one {@link findFeatureTensor} finds by structure.
 */
export function addEmbeddingOutput(modelBytes: Uint8Array, featureTensor: string | undefined, options: AddEmbeddingOptions = {}): Uint8Array {
  return encodeModel(addEmbeddingOutputToModel(decodeModel(modelBytes), featureTensor, options));
}

/**
 * Exposes an internal tensor as an extra graph output under its own name (no new node), e.g. to
 * check a pooled embedding against the map it was pooled from. Element type float32 unless told.
 */
export function exposeTensor(modelBytes: Uint8Array, tensorName: string, type: 'float32' | 'int64' = 'float32'): Uint8Array {
  const model = decodeModel(modelBytes);
  const graph = model.graph;
  if (!graph || !definedNames(graph).has(tensorName)) {
    throw new BadRequestError(`tensor "${tensorName}" is not in the model`, 'feature_tensor_not_found', 400, { context: { tensorName } });
  }
  if (!(graph.output ?? []).some((o) => o.name === tensorName)) {
    const known = shapeOf(findValueInfo(graph, tensorName))?.dims;
    graph.output!.push(known ? valueInfo(tensorName, type, known.map((d, i) => d ?? `d${i}`)) : { name: tensorName, type: { tensorType: { elemType: type === 'float32' ? DataType.FLOAT : DataType.INT64 } } });
  }
  return encodeModel(model);
}
