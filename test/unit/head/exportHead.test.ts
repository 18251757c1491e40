import { describe, expect, it } from 'vitest';
import { BackboneMismatchError, InferenceError } from '../../../src/errors.js';
import { exportHead } from '../../../src/head/exportHead.js';
import { HEAD_INPUT, HEAD_METADATA, HEAD_OPSET, HEAD_OUTPUT } from '../../../src/head/headFormat.js';
import { HeadModel } from '../../../src/head/HeadModel.js';
import { buildModel, decodeModel, valueInfo } from '../../../src/onnx/graph.js';
import { predictHead } from '../../../src/training/predictHead.js';
import { createRandom } from '../../../src/training/random.js';
import { trainHead } from '../../../src/training/trainHead.js';
import type { TrainedHead } from '../../../src/training/types.js';

const BACKBONE_ID = 'mobilenetv2-12-fp32-embed@0a4188c54960d764';

/** Non-negative, embedding-like rows (norms around 10) with three separable classes. */
function embeddingRows(n: number, dim: number, seed: number): { embeddings: Float32Array; labels: Int32Array } {
  const random = createRandom(seed);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  const embeddings = Float32Array.from({ length: n * dim }, (_, j) => {
    const row = Math.floor(j / dim);
    return Math.abs(random.normal()) + ((j % dim) % 3 === labels[row] ? 1 : 0);
  });
  return { embeddings, labels };
}

const cases: Array<[string, number]> = [
  ['linear', 0],
  ['mlp', 8],
];

describe.each(cases)('exported %s head', (_, hidden) => {
  const dim = 40;
  let trained: Promise<TrainedHead> | undefined;
  const train = (): Promise<TrainedHead> => {
    const { embeddings, labels } = embeddingRows(45, dim, 1);
    trained ??= trainHead({ embeddings, dims: [45, dim], labels, classNames: ['ant', 'bee', 'wasp'] }, { hidden, lambdas: [1e-3], maxIterations: 100 });
    return trained;
  };

  it('gives the trainer graph probabilities within 1e-5 on new embeddings', async () => {
    const head = await train();
    const model = await HeadModel.load(exportHead(head, { backboneId: BACKBONE_ID }));
    const { embeddings } = embeddingRows(30, dim, 2);
    const exported = await model.predict(embeddings);
    const reference = await predictHead(head, embeddings, 30);
    expect(exported).toHaveLength(reference.length);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs((exported[i] as number) - (reference[i] as number)));
    expect(worst).toBeLessThan(1e-5);
    await model.release();
  });

  it('stores labels, backbone id and kind, and declares the head contract', async () => {
    const head = await train();
    const bytes = exportHead(head, { backboneId: BACKBONE_ID, metadata: { 'headstart.lambda': String(head.lambda) } });
    const model = await HeadModel.load(bytes);
    expect(model.labels).toEqual(['ant', 'bee', 'wasp']);
    expect(model.backboneId).toBe(BACKBONE_ID);
    expect(model.kind).toBe(hidden > 0 ? 'mlp' : 'linear');
    expect(model.embeddingSize).toBe(dim);
    const proto = decodeModel(bytes);
    const meta = Object.fromEntries((proto.metadataProps ?? []).map((p) => [p.key, p.value]));
    expect(JSON.parse(meta[HEAD_METADATA.labels] as string)).toEqual(['ant', 'bee', 'wasp']);
    expect(meta['headstart.lambda']).toBe(String(head.lambda));
    expect(proto.opsetImport?.map((o) => [o.domain, Number(o.version)])).toEqual([['', HEAD_OPSET]]);
    expect(proto.graph?.input?.map((i) => i.name)).toEqual([HEAD_INPUT]);
    expect(proto.graph?.output?.map((o) => o.name)).toEqual([HEAD_OUTPUT]);
    // No Reduce* ops: their axes moved from attribute to input across opsets.
    expect(proto.graph?.node?.some((n) => n.opType?.startsWith('Reduce'))).toBe(false);
    await model.release();
  });
});

describe('HeadModel.predict', () => {
  it('accepts one array per embedding or one flat array, and zero rows', async () => {
    const { embeddings, labels } = embeddingRows(30, 12, 3);
    const head = await trainHead({ embeddings, dims: [30, 12], labels, classNames: ['a', 'b', 'c'] }, { lambdas: [1e-2] });
    const model = await HeadModel.load(exportHead(head, { backboneId: BACKBONE_ID }));
    const rows = [embeddings.slice(0, 12), embeddings.slice(12, 24)];
    expect(Array.from(await model.predict(rows))).toEqual(Array.from(await model.predict(embeddings.subarray(0, 24))));
    expect(await model.predict([])).toHaveLength(0);
    await expect(model.predict([new Float32Array(11)])).rejects.toThrow(BackboneMismatchError);
    await expect(model.predict(new Float32Array(25))).rejects.toThrow(/25 values, but this head expects 12/);
    await model.release();
  });

  it('refuses an ONNX model that is not a headstart head', async () => {
    const plain = buildModel({
      name: 'identity',
      nodes: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'id' }],
      inputs: [valueInfo('x', 'float32', ['N', 4])],
      outputs: [valueInfo('y', 'float32', ['N', 4])],
    });
    await expect(HeadModel.load(plain)).rejects.toThrow(InferenceError);
    await expect(HeadModel.load(plain)).rejects.toThrow(/not a headstart head/);
    await expect(HeadModel.load(Uint8Array.of(1, 2, 3))).rejects.toThrow(InferenceError);
  });
});
