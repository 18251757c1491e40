import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addEmbeddingOutput, exposeTensor } from '../../../src/backbone/addEmbeddingOutput.js';
import { findCatalogueEntry } from '../../../src/backbone/catalogue.js';
import { float32, OnnxSession } from '../../../src/backend/onnx.js';
import { preprocess } from '../../../src/image/preprocess.js';
import { modelsDir } from '../../helpers/shared.js';
import { sharedPhoto } from '../../unit/image/variants.js';

/**
 * The upstream int8 MobileNetV2 (opset 12 + com.microsoft QLinear ops) has no embedding output.
 * Its float feature map is tensor 627 [N,1280,7,7]; the surgery must pool exactly that map.
 * Only int8 numbers are compared with int8 numbers here.
 */
describe('addEmbeddingOutput on mobilenetv2-12-int8.onnx', () => {
  const spec = findCatalogueEntry('mobilenetv2-12-int8')!;
  let session: OnnxSession;
  beforeAll(async () => {
    const original = readFileSync(path.join(modelsDir(), spec.file));
    session = await OnnxSession.create(exposeTensor(addEmbeddingOutput(original, '627', { channels: 1280 }), '627'));
  });
  afterAll(async () => session.release());

  it('keeps the classifier output and adds embedding [N,1280]', () => {
    expect(session.outputNames).toEqual(['output', 'embedding', '627']);
  });

  it('embedding equals the 7x7 mean of tensor 627 within 1e-5 on real photos (batch of 3)', async () => {
    const photos = ['chelsea.png', 'dog.jpg', 'rocket.jpg'];
    const inputs = await Promise.all(photos.map((p) => preprocess(sharedPhoto(p), spec.preprocessing)));
    const batch = new Float32Array(inputs.length * inputs[0]!.length);
    inputs.forEach((x, i) => batch.set(x, i * x.length));
    const result = await session.run({ input: float32(batch, [3, 3, 224, 224]) });
    expect(result['627']!.dims).toEqual([3, 1280, 7, 7]);
    expect(result['embedding']!.dims).toEqual([3, 1280]);
    expect(result['output']!.dims).toEqual([3, 1000]);

    const feature = result['627']!.data as Float32Array;
    const embedding = result['embedding']!.data as Float32Array;
    let maxDiff = 0;
    let nonZero = 0;
    for (let nc = 0; nc < 3 * 1280; nc++) {
      let mean = 0;
      for (let i = 0; i < 49; i++) mean += feature[nc * 49 + i]!;
      mean /= 49;
      maxDiff = Math.max(maxDiff, Math.abs(mean - embedding[nc]!));
      if (embedding[nc]! > 0) nonZero++;
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(nonZero).toBeGreaterThan(1000); // a real, non-degenerate feature map
  });
});
