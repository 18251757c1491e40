/**
 * The contract of head.onnx, shared by the exporter, the loader and the standalone merger:
 * input `embedding` float32 [N, D] -> output `probabilities` float32 [N, K], with the class labels
 * and the backbone id in metadata_props.
 */
export const HEAD_INPUT = 'embedding';
export const HEAD_OUTPUT = 'probabilities';

/** Opset the head declares. Its ops keep the same meaning from opset 8 to the newest (see below). */
export const HEAD_OPSET = 12;

/**
 * Ops the head uses and the first default-domain opset where they behave as the head needs (2-D
 * MatMul, broadcasting Add/Mul/Div/Max, Softmax over axis 1 of a 2-D tensor). None changed meaning
 * since, which is what lets a head merge into a backbone of any opset from 8 on.
 */
export const HEAD_OP_MIN_OPSET: Readonly<Record<string, number>> = {
  MatMul: 1,
  Add: 7,
  Mul: 7,
  Div: 7,
  Max: 8,
  Sqrt: 6,
  Relu: 6,
  Softmax: 1,
};

export const HEAD_METADATA = {
  /** JSON array of class names, index = output column. */
  labels: 'headstart.labels',
  backboneId: 'headstart.backbone_id',
  kind: 'headstart.head_kind',
  /** Bumped if the head's input/output contract changes. */
  format: 'headstart.head_format',
} as const;

export const HEAD_FORMAT_VERSION = '1';
