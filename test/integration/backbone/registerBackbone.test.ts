import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { findFeatureTensor } from '../../../src/backbone/addEmbeddingOutput.js';
import { findCatalogueEntry, IMAGENET_PREPROCESSING } from '../../../src/backbone/catalogue.js';
import { registerBackbone } from '../../../src/backbone/registerBackbone.js';
import { listBackbones, resolveBackbone } from '../../../src/backbone/resolveBackbone.js';
import { buildModel, decodeModel, node, valueInfo } from '../../../src/onnx/graph.js';
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

describe('the feature tensor found by structure (the input of the last global pooling before the classifier)', () => {
  it('is 627 in the shared int8 MobileNetV2: the float copy of the map its QLinearGlobalAveragePool reads', async () => {
    const model = decodeModel(await readFile(path.join(modelsDir(), 'mobilenetv2-12-int8.onnx')));
    expect(findFeatureTensor(model)).toBe('627');
  });

  it('is the map the float32 file pools into its embedding output', async () => {
    const model = decodeModel(await readFile(path.join(modelsDir(), 'mobilenetv2-12-fp32-embed.onnx')));
    const found = findFeatureTensor(model);
    const pool = model.graph!.node!.find((n) => n.opType === 'GlobalAveragePool' && n.output?.[0] === 'embedding_gap_out');
    expect(found).toBe(pool?.input?.[0]);
  });

  it('`backbone add` without a tensor name records the one it found and embeds as with the name given', async () => {
    const file = path.join(modelsDir(), 'mobilenetv2-12-int8.onnx');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'backbones-found-'));
    try {
      const found = await registerBackbone(file, { name: 'found-int8' }, dir);
      await registerBackbone(file, { name: 'named-int8', featureTensor: '627' }, dir);
      expect(found.spec.embedding).toEqual({ featureTensor: '627', pool: 'mean' });
      const [a, b] = await Promise.all(['found-int8', 'named-int8'].map((name) => Backbone.load(name, { backbonesDir: dir, modelsDir: modelsDir() })));
      try {
        const [ea] = await a!.embedImages([sharedPhoto('dog.jpg')]);
        const [eb] = await b!.embedImages([sharedPhoto('dog.jpg')]);
        expect(Array.from(ea as Float32Array)).toEqual(Array.from(eb as Float32Array));
      } finally {
        await Promise.all([a!.release(), b!.release()]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the catalogue names no tensor for the downloadable float32 zoo file: it uses the same rule', () => {
    expect(findCatalogueEntry('mobilenetv2-12')?.embedding).toEqual({ pool: 'mean' });
  });

  it('refuses a model with no global pooling in front of an output, naming --feature-tensor', () => {
    const bytes = buildModel({
      name: 'no-pool',
      inputs: [valueInfo('x', 'float32', [1, 3, 4, 4])],
      outputs: [valueInfo('y', 'float32', [1, 3, 4, 4])],
      nodes: [node('Relu', ['x'], ['y'])],
    });
    expect(() => findFeatureTensor(decodeModel(bytes))).toThrow(/--feature-tensor/);
  });
});
