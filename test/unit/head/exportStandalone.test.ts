import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32, OnnxSession } from '../../../src/backend/onnx.js';
import { HeadstartError } from '../../../src/errors.js';
import { exportHead } from '../../../src/head/exportHead.js';
import { exportStandalone, STANDALONE_PREFIX } from '../../../src/head/exportStandalone.js';
import { HEAD_OUTPUT } from '../../../src/head/headFormat.js';
import { HeadModel } from '../../../src/head/HeadModel.js';
import { decodeModel, encodeModel } from '../../../src/onnx/graph.js';
import { createRandom } from '../../../src/training/random.js';
import type { ExportableHead } from '../../../src/head/exportHead.js';
import { modelsDir } from '../../helpers/shared.js';

const BACKBONE = path.join(modelsDir(), 'mobilenetv2-12-fp32-embed.onnx');

/** A head with random weights: the merge is checked, not the training. */
function randomHead(hidden: number): ExportableHead {
  const random = createRandom(hidden + 1);
  const dims = hidden > 0 ? [1280, hidden, 4] : [1280, 4];
  const layers = dims.slice(1).map((outputs, i) => {
    const inputs = dims[i] as number;
    return {
      inputs,
      outputs,
      weights: Float32Array.from({ length: inputs * outputs }, () => random.normal() * (hidden > 0 && i === 0 ? 3 : 8)),
      bias: Float32Array.from({ length: outputs }, () => random.normal()),
    };
  });
  return { kind: hidden > 0 ? 'mlp' : 'linear', params: { layers }, classNames: ['w', 'x', 'y', 'z'] };
}

describe('exportStandalone on the default MobileNetV2 backbone', () => {
  let backboneBytes: Uint8Array;
  let backbone: OnnxSession;
  const images = (() => {
    const random = createRandom(7);
    return Float32Array.from({ length: 2 * 3 * 224 * 224 }, () => random.normal());
  })();

  beforeAll(async () => {
    backboneBytes = readFileSync(BACKBONE);
    backbone = await OnnxSession.create(backboneBytes);
  });
  afterAll(async () => {
    await backbone.release();
  });

  it.each([
    ['linear', 0],
    ['mlp', 16],
  ])('standalone(image) equals head(backbone embedding) within 1e-4 (%s head)', async (_, hidden) => {
    const headBytes = exportHead(randomHead(hidden), { backboneId: 'mobilenetv2-12-fp32-embed@0a4188c54960d764' });
    const standalone = await OnnxSession.create(exportStandalone(backboneBytes, headBytes, { embeddingOutput: 'embedding' }));
    const head = await HeadModel.load(headBytes);
    const feeds = { input: float32(images, [2, 3, 224, 224]) };
    const merged = (await standalone.run(feeds))[HEAD_OUTPUT]?.data as Float32Array;
    const embedding = (await backbone.run(feeds, ['embedding']))['embedding']?.data as Float32Array;
    const separate = await head.predict(embedding);
    expect(merged).toHaveLength(8);
    let worst = 0;
    for (let i = 0; i < 8; i++) worst = Math.max(worst, Math.abs((merged[i] as number) - (separate[i] as number)));
    expect(worst).toBeLessThan(1e-4);
    // Random weights of this size give confident rows: the comparison is not between two uniform outputs.
    expect(Math.max(...merged)).toBeGreaterThan(0.5);
    expect(standalone.inputNames).toEqual(['input']);
    expect(standalone.outputNames).toEqual([HEAD_OUTPUT]);
    await standalone.release();
    await head.release();
  });

  it('keeps the backbone opsets, prefixes the head, drops what only fed the ImageNet logits, keeps metadata', () => {
    const headBytes = exportHead(randomHead(0), { backboneId: 'bb@1' });
    const merged = decodeModel(exportStandalone(backboneBytes, headBytes));
    const original = decodeModel(backboneBytes);
    expect(merged.opsetImport?.map((o) => [o.domain ?? '', Number(o.version)])).toEqual(original.opsetImport?.map((o) => [o.domain ?? '', Number(o.version)]));
    const backboneNodeNames = new Set(original.graph?.node?.map((n) => n.name));
    const headNodes = merged.graph?.node?.filter((n) => !backboneNodeNames.has(n.name)) ?? [];
    expect(headNodes.length).toBeGreaterThan(0);
    expect(headNodes.every((n) => n.name?.startsWith(STANDALONE_PREFIX))).toBe(true);
    const headInitializers = merged.graph?.initializer?.filter((t) => t.name?.startsWith(STANDALONE_PREFIX)) ?? [];
    expect(headInitializers.length).toBe(decodeModel(headBytes).graph?.initializer?.length);
    // The classifier that produced `output` is gone.
    expect(merged.graph?.node?.some((n) => n.output?.includes('output'))).toBe(false);
    expect(merged.graph?.node?.length).toBeLessThan((original.graph?.node?.length ?? 0) + headNodes.length);
    const meta = Object.fromEntries((merged.metadataProps ?? []).map((p) => [p.key, p.value]));
    expect(meta['headstart.backbone_id']).toBe('bb@1');
    expect(meta['headstart.labels']).toBe(JSON.stringify(['w', 'x', 'y', 'z']));
  });

  it('says so when the embedding tensor is missing or the opsets cannot be reconciled', () => {
    const headBytes = exportHead(randomHead(0), { backboneId: 'bb@1' });
    expect(() => exportStandalone(backboneBytes, headBytes, { embeddingOutput: 'no_such_tensor' })).toThrow(/no tensor named "no_such_tensor"/);
    const old = decodeModel(backboneBytes);
    old.opsetImport = [{ domain: '', version: 7 }];
    expect(() => exportStandalone(encodeModel(old), headBytes)).toThrow(HeadstartError);
    expect(() => exportStandalone(encodeModel(old), headBytes)).toThrow(/opset 7 is older than head op Max needs \(8\)/);
  });
});
