import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { IMAGENET_PREPROCESSING } from '../../../src/backbone/catalogue.js';
import { registerBackbone } from '../../../src/backbone/registerBackbone.js';
import { listBackbones, resolveBackbone } from '../../../src/backbone/resolveBackbone.js';
import { modelsDir } from '../../helpers/shared.js';
import { sharedPhoto } from '../../unit/image/variants.js';

/** A user brings "their own classifier": here the shared int8 MobileNetV2, registered by file path. */
describe('registerBackbone', () => {
  const model = path.join(modelsDir(), 'mobilenetv2-12-int8.onnx');
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'backbones-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('probes the model, writes an entry, and the entry loads and embeds', async () => {
    const registered = await registerBackbone(model, { name: 'my-mobilenet', featureTensor: '627', classifierOutput: 'output' }, dir);
    expect(registered.spec).toMatchObject({
      name: 'my-mobilenet',
      file: model,
      sha256: 'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f',
      inputName: 'input',
      inputShape: [3, 224, 224],
      embedding: { featureTensor: '627', pool: 'mean' },
      embeddingSize: 1280,
    });
    expect(registered.spec.preprocessing).toEqual(IMAGENET_PREPROCESSING);
    expect(registered.id).toBe('my-mobilenet@cc028fe6cae7bc11');
    expect(JSON.parse(await readFile(path.join(dir, 'my-mobilenet.json'), 'utf8')).name).toBe('my-mobilenet');

    expect((await listBackbones(dir, { modelsDir: modelsDir() })).filter((b) => b.registered).map((b) => b.id)).toEqual(['my-mobilenet@cc028fe6cae7bc11']);
    expect((await resolveBackbone('my-mobilenet', { backbonesDir: dir, modelsDir: modelsDir() })).modelPath).toBe(model);

    const backbone = await Backbone.load('my-mobilenet', { backbonesDir: dir, modelsDir: modelsDir() });
    try {
      const [e] = await backbone.embedImages([sharedPhoto('coffee.png')]);
      expect((e as Float32Array).length).toBe(1280);
      expect(backbone.canClassify).toBe(false); // no labels given
      // The graph it hands out is the surgered one: the original bytes plus the pooled output.
      expect(backbone.embeddingOutput).toBe('embedding');
      expect((await backbone.modelBytes()).length).toBeGreaterThan((await readFile(model)).length);
    } finally {
      await backbone.release();
    }
  });

  it('refuses a tensor the model does not have, a built-in name and a bad name', async () => {
    await expect(registerBackbone(model, { name: 'bad-tensor', featureTensor: 'nope' }, dir)).rejects.toMatchObject({ code: 'feature_tensor_not_found' });
    await expect(registerBackbone(model, { name: 'mobilenetv2-12', featureTensor: '627' }, dir)).rejects.toMatchObject({ code: 'invalid_name' });
    await expect(registerBackbone(model, { name: '../evil', featureTensor: '627' }, dir)).rejects.toMatchObject({ code: 'invalid_name' });
    await expect(registerBackbone(model, { name: 'wrong-input', featureTensor: '627', inputName: 'image' }, dir)).rejects.toThrow(/no input "image"/);
  });
});
