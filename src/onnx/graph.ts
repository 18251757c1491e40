/**
 * A small builder for ONNX graphs over the onnx-proto message classes. headstart writes graphs of
 * its own (the head, the loss and gradient for training, the embedding output added to a user's
 * classifier), so it needs to encode and decode ModelProto; nothing here runs a graph.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type TensorProto = onnxProto.onnx.ITensorProto;

export const DataType = onnx.TensorProto.DataType;
export type ElemType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';

const ELEM: Record<ElemType, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
};

/** Default opset for graphs headstart writes: supported by every onnxruntime since 1.14. */
export const DEFAULT_OPSET = 17;

export type AttributeValue = number | number[] | string | TensorProto | { float: number } | { floats: number[] };

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: A.FLOATS, floats: value.floats };
  return { name, type: A.TENSOR, t: value };
}

/** One graph node. Integer numbers become INT attributes; wrap a whole float as `{ float: 1 }`. */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Record<string, AttributeValue> = {},
  name?: string,
): NodeProto {
  return {
    opType,
    input: [...inputs],
    output: [...outputs],
    name: name ?? `${opType}_${outputs[0] ?? ''}`,
    attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
  };
}

/** A typed graph input or output; a string dimension is symbolic (dynamic), e.g. 'N'. */
export function valueInfo(name: string, type: ElemType, shape: readonly (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** A constant tensor stored in the graph (weights of a trained head, shape constants...). */
export function initializer(
  name: string,
  type: ElemType,
  dims: readonly number[],
  values: ArrayLike<number> | ArrayLike<bigint>,
): TensorProto {
  const t: TensorProto = { name, dims: [...dims], dataType: ELEM[type] };
  switch (type) {
    case 'float32':
      t.rawData = new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
      break;
    case 'float64':
      t.rawData = new Uint8Array(Float64Array.from(values as ArrayLike<number>).buffer);
      break;
    case 'int64':
      t.rawData = new Uint8Array(BigInt64Array.from(Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v))).buffer);
      break;
    case 'int32':
      t.rawData = new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
      break;
    case 'bool':
      t.rawData = Uint8Array.from(values as ArrayLike<number>);
      break;
  }
  return t;
}

/**
 * A constant tensor whose bytes are not in the model but supplied when the session opens (the
 * `externalData` session option), so a large matrix is never encoded into the protobuf.
 */
export function externalInitializer(name: string, type: ElemType, dims: readonly number[], location: string, byteLength: number): TensorProto {
  return {
    name,
    dims: [...dims],
    dataType: ELEM[type],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(byteLength) },
    ],
  };
}

export interface GraphSpec {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  opset?: number;
  /** Free-form key/value metadata stored in the model (labels, backbone id...). */
  metadata?: Record<string, string>;
  docString?: string;
}

/** Encodes a graph as ONNX model bytes that onnxruntime can open. */
export function buildModel(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'headstart',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: spec.opset ?? DEFAULT_OPSET }],
    docString: spec.docString ?? '',
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: spec.name,
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}
