import { describe, expect, it } from 'vitest';
import { addEmbeddingOutput, exposeTensor } from '../../../src/backbone/addEmbeddingOutput.js';
import { float32, OnnxSession } from '../../../src/backend/onnx.js';
import { BadRequestError } from '../../../src/errors.js';
import { buildModel, decodeModel, encodeModel, initializer, node, valueInfo } from '../../../src/onnx/graph.js';

/**
 * A tiny "classifier": x [N,2,3,3] -> Relu -> feat -> GlobalAveragePool -> Flatten -> MatMul W -> logits [N,4].
 * With `featShape` the feature map gets a value_info (as exporters usually write).
 */
function tinyClassifier(featShape?: (number | string)[]): Uint8Array {
  const w = Array.from({ length: 8 }, (_, i) => (i % 3) - 1);
  return buildModel({
    name: 'tiny',
    opset: 13,
    inputs: [valueInfo('x', 'float32', ['batch', 2, 3, 3])],
    outputs: [valueInfo('logits', 'float32', ['batch', 4])],
    initializers: [initializer('W', 'float32', [2, 4], w)],
    nodes: [
      node('Relu', ['x'], ['feat']),
      node('GlobalAveragePool', ['feat'], ['pooled']),
      node('Flatten', ['pooled'], ['flat'], { axis: 1 }),
      node('MatMul', ['flat', 'W'], ['logits']),
    ],
  }).slice();
}

function withValueInfo(bytes: Uint8Array, name: string, shape: (number | string)[]): Uint8Array {
  const model = decodeModel(bytes);
  model.graph!.valueInfo!.push(valueInfo(name, 'float32', shape));
  return encodeModel(model);
}

const input = Float32Array.from({ length: 2 * 2 * 9 }, (_, i) => Math.sin(i) * 3);

async function run(bytes: Uint8Array, outputs?: string[]) {
  const session = await OnnxSession.create(bytes);
  try {
    return { names: session.outputNames, result: await session.run({ x: float32(input, [2, 2, 3, 3]) }, outputs) };
  } finally {
    await session.release();
  }
}

describe('addEmbeddingOutput', () => {
  it('adds embedding = spatial mean of the feature map and keeps the original outputs', async () => {
    const original = tinyClassifier();
    const { result: before } = await run(original);
    const { names, result } = await run(exposeTensor(addEmbeddingOutput(original, 'feat'), 'feat'));
    expect(names).toEqual(['logits', 'embedding', 'feat']);
    expect(result['logits']!.data).toEqual(before['logits']!.data);
    expect(result['embedding']!.dims).toEqual([2, 2]);
    const feat = result['feat']!.data as Float32Array;
    const embedding = result['embedding']!.data as Float32Array;
    for (let nc = 0; nc < 4; nc++) {
      let mean = 0;
      for (let i = 0; i < 9; i++) mean += feat[nc * 9 + i]! / 9;
      expect(embedding[nc]).toBeCloseTo(mean, 6);
    }
  });

  it('declares [batch, C] with C from value_info, from the caller, or symbolic', () => {
    const dimsOf = (bytes: Uint8Array) =>
      decodeModel(bytes).graph!.output!.find((o) => o.name === 'embedding')!.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    expect(dimsOf(addEmbeddingOutput(withValueInfo(tinyClassifier(), 'feat', ['batch', 2, 3, 3]), 'feat'))).toEqual(['batch', 2]);
    expect(dimsOf(addEmbeddingOutput(tinyClassifier(), 'feat', { channels: 2 }))).toEqual(['batch', 2]);
    expect(dimsOf(addEmbeddingOutput(tinyClassifier(), 'feat'))).toEqual(['batch', 'C']);
  });

  it('exposes an already pooled [N,C] tensor through an Identity', async () => {
    const bytes = addEmbeddingOutput(withValueInfo(tinyClassifier(), 'flat', ['batch', 2]), 'flat');
    const { result } = await run(bytes, ['embedding', 'logits']);
    expect(result['embedding']!.dims).toEqual([2, 2]);
    expect(decodeModel(bytes).graph!.node!.at(-1)!.opType).toBe('Identity');
  });

  it('refuses unknown tensors, taken names, non-float and unsupported ranks, with the reason', () => {
    const catchCode = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(BadRequestError);
        return (error as BadRequestError).code;
      }
      return 'no error';
    };
    expect(catchCode(() => addEmbeddingOutput(tinyClassifier(), 'missing'))).toBe('feature_tensor_not_found');
    expect(catchCode(() => addEmbeddingOutput(tinyClassifier(), 'feat', { outputName: 'logits' }))).toBe('output_name_taken');
    expect(catchCode(() => addEmbeddingOutput(withValueInfo(tinyClassifier(), 'feat', ['batch', 2, 9]), 'feat'))).toBe('feature_tensor_rank');
    const int64Feat = decodeModel(tinyClassifier());
    int64Feat.graph!.valueInfo!.push(valueInfo('feat', 'int64', ['batch', 2, 3, 3]));
    const bytes = encodeModel(int64Feat);
    expect(catchCode(() => addEmbeddingOutput(bytes, 'feat'))).toBe('feature_tensor_type');
  });
});
