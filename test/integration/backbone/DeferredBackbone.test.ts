/** Training on cached embeddings never opens the backbone's session unless it must embed. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { DEFAULT_BACKBONE } from '../../../src/backbone/catalogue.js';
import { DeferredBackbone } from '../../../src/backbone/DeferredBackbone.js';
import { imagesDir, modelsDir } from '../../helpers/shared.js';

let loaded: Backbone | undefined;
afterAll(async () => loaded?.release());

it('has the loaded backbone id and graph bytes, and loads the session only on the first embed', async () => {
  let loads = 0;
  const deferred = await DeferredBackbone.resolve(DEFAULT_BACKBONE, { modelsDir: modelsDir() }, async () => {
    loads++;
    loaded ??= await Backbone.load(DEFAULT_BACKBONE, { modelsDir: modelsDir() });
    return loaded;
  });
  const bytes = await deferred.modelBytes();
  expect(loads).toBe(0);
  const full = await Backbone.load(DEFAULT_BACKBONE, { modelsDir: modelsDir() });
  try {
    expect(deferred.id).toBe(full.id);
    expect(deferred.embeddingOutput).toBe(full.embeddingOutput);
    expect(Buffer.from(bytes).equals(Buffer.from(await full.modelBytes()))).toBe(true);
    const photo = readFileSync(path.join(imagesDir(), 'dog.jpg'));
    const [a] = await deferred.embedImages([photo]);
    const [b] = await full.embedImages([photo]);
    expect(loads).toBe(1);
    expect(a).toEqual(b);
  } finally {
    await full.release();
  }
});
