import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CATALOGUE, DEFAULT_BACKBONE } from '../../../src/backbone/catalogue.js';
import { defaultBackboneName, listBackbones, modelsDirectory, resolveBackbone } from '../../../src/backbone/resolveBackbone.js';
import { writeRegisteredBackbone } from '../../../src/backbone/registeredBackbones.js';
import { sha256File } from '../../../src/backbone/sha256File.js';
import { BackboneMissingError, NotFoundError } from '../../../src/errors.js';
import { modelsDir } from '../../helpers/shared.js';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'resolve-backbone-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveBackbone', () => {
  it('finds and verifies the default backbone in the shared models folder', async () => {
    const resolved = await resolveBackbone(undefined, { modelsDir: modelsDir() });
    expect(resolved.spec.name).toBe(DEFAULT_BACKBONE);
    expect(resolved.id).toBe('mobilenetv2-12-fp32-embed@0a4188c54960d764');
    expect(resolved.modelPath).toBe(path.join(modelsDir(), 'mobilenetv2-12-fp32-embed.onnx'));
    expect(resolved.labelsPath).toBe(path.join(modelsDir(), 'imagenet_classes.txt'));
  });

  it('uses HEADSTART_MODELS when no folder is passed', () => {
    const before = process.env['HEADSTART_MODELS'];
    try {
      process.env['HEADSTART_MODELS'] = tmp;
      expect(modelsDirectory()).toBe(tmp);
      delete process.env['HEADSTART_MODELS'];
      expect(modelsDirectory()).toBe(path.resolve(import.meta.dirname, '../../../models'));
    } finally {
      if (before === undefined) delete process.env['HEADSTART_MODELS'];
      else process.env['HEADSTART_MODELS'] = before;
    }
  });

  it('says where it looked and how to get a missing file, in one error', async () => {
    const error = await resolveBackbone('mobilenetv2-12', { modelsDir: tmp }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackboneMissingError);
    const message = (error as Error).message;
    expect(message).toContain(path.join(tmp, 'mobilenetv2-12.onnx'));
    expect(message).toContain('npm run fetch-models');
    expect(message).toContain('HEADSTART_MODELS');
    // The default is a derived file: the message must not promise a download.
    const derived = await resolveBackbone(DEFAULT_BACKBONE, { modelsDir: tmp }).catch((e: unknown) => e);
    expect((derived as Error).message).toMatch(/cannot be downloaded/);
  });

  it('refuses a file whose sha256 is not the pinned one', async () => {
    await writeFile(path.join(tmp, 'mobilenetv2-12-int8.onnx'), 'not the model');
    const error = await resolveBackbone('mobilenetv2-12-int8', { modelsDir: tmp }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackboneMissingError);
    expect((error as Error).message).toMatch(/its sha256 is [0-9a-f]{64} \(13 bytes\), expected cc028fe6/);
  });

  it('rejects an unknown name, listing the known ones', async () => {
    const error = await resolveBackbone('resnet-9000', { modelsDir: tmp }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain(CATALOGUE.map((s) => s.name).join(', '));
  });
});

describe('sha256File', () => {
  it('hashes once per file version: same mtime and size is a cache hit, a new mtime re-hashes', async () => {
    const file = path.join(tmp, 'f.bin');
    const mtime = new Date(1_700_000_000_000);
    await writeFile(file, 'aaaa');
    await utimes(file, mtime, mtime);
    const first = await sha256File(file);
    await writeFile(file, 'bbbb');
    await utimes(file, mtime, mtime); // same size, same mtime: indistinguishable, so cached
    expect(await sha256File(file)).toBe(first);
    await utimes(file, mtime, new Date(mtime.getTime() + 5000));
    expect(await sha256File(file)).not.toBe(first);
  });
});

describe('listBackbones', () => {
  it('lists catalogue entries whose files are present, plus registered ones', async () => {
    const listed = await listBackbones(undefined, { modelsDir: modelsDir() });
    expect(listed.map((b) => b.spec.name)).toEqual(expect.arrayContaining(['mobilenetv2-12-fp32-embed', 'mobilenetv2-12-int8']));
    expect(listed.every((b) => !b.registered)).toBe(true);

    const model = path.join(tmp, 'mine.onnx');
    await writeFile(model, 'x');
    const spec = { ...CATALOGUE[1]!, name: 'mine', file: model, sha256: 'a'.repeat(64) };
    await writeRegisteredBackbone(path.join(tmp, 'backbones'), spec);
    await writeRegisteredBackbone(path.join(tmp, 'backbones'), { ...spec, name: 'gone', file: path.join(tmp, 'gone.onnx') });
    const withRegistered = await listBackbones(path.join(tmp, 'backbones'), { modelsDir: tmp });
    expect(withRegistered.map((b) => [b.spec.name, b.registered, b.id])).toEqual([['mine', true, `mine@${'a'.repeat(16)}`]]);
  });
});

describe('defaultBackboneName', () => {
  it('prefers the default file, then the downloaded float32 upstream file, never int8 first', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hs-default-'));
    try {
      expect(await defaultBackboneName({ modelsDir: dir })).toBe('mobilenetv2-12-fp32-embed');
      await writeFile(path.join(dir, 'mobilenetv2-12-int8.onnx'), 'x');
      await writeFile(path.join(dir, 'mobilenetv2-12.onnx'), 'x');
      expect(await defaultBackboneName({ modelsDir: dir })).toBe('mobilenetv2-12');
      await writeFile(path.join(dir, 'mobilenetv2-12-fp32-embed.onnx'), 'x');
      expect(await defaultBackboneName({ modelsDir: dir })).toBe('mobilenetv2-12-fp32-embed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
