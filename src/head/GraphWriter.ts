/**
 * Accumulates the nodes and constants of one ONNX graph with unique value names, so graph code
 * reads as a sequence of operations (`const z = w.op('MatMul', [x, weights])`) rather than as
 * hand-numbered tensor names.
 */
import { initializer, node, type AttributeValue, type ElemType, type NodeProto, type TensorProto } from '../onnx/graph.js';

export class GraphWriter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly int64Cache = new Map<string, string>();

  /** `prefix` is prepended to every generated name (the head uses 'head/'). */
  constructor(private readonly prefix = '') {}

  private fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** Appends one single-output node and returns its output name. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push(node(opType, inputs, [out], attributes, `${this.prefix}${opType}_${this.counter++}`));
    return out;
  }

  /** Stores a constant tensor and returns its name. */
  constant(type: ElemType, dims: readonly number[], values: ArrayLike<number>, name?: string): string {
    const tensorName = name ?? this.fresh('const');
    this.initializers.push(initializer(tensorName, type, dims, values));
    return tensorName;
  }

  /** A 1-D int64 constant (shapes, axes, slice bounds); equal values share one initializer. */
  int64s(values: readonly number[]): string {
    const key = values.join(',');
    const cached = this.int64Cache.get(key);
    if (cached !== undefined) return cached;
    const name = this.constant('int64', [values.length], values, this.fresh('ints'));
    this.int64Cache.set(key, name);
    return name;
  }

  /** A rank-0 constant. */
  scalar(type: ElemType, value: number): string {
    return this.constant(type, [], [value]);
  }
}
