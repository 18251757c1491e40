// The upload progress the CLI's bar shows: its total is known before the first image is extracted
// and the count never goes backwards (it used to start from a total taken while files were still
// being copied, and jump back to 0 at the end of the copy).
import { link, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upload } from '../../../src/cli/commands/upload.js';
import { LocalRuntime } from '../../../src/local/LocalRuntime.js';
import { datasetsDir, modelsDir } from '../../helpers/shared.js';

let work: string;
let runtime: LocalRuntime;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hs-upload-progress-'));
  for (const label of ['ants', 'bees']) {
    const from = path.join(datasetsDir(), 'hymenoptera', 'val', label);
    await mkdir(path.join(work, 'images', label), { recursive: true });
    for (const file of (await readdir(from)).sort().slice(0, 12)) await link(path.join(from, file), path.join(work, 'images', label, file));
  }
  runtime = await LocalRuntime.open({ home: path.join(work, 'home'), backbone: 'mobilenetv2-12-fp32-embed', device: 'cpu' }, { consume: true });
  process.env['HEADSTART_MODELS'] = modelsDir();
});

afterAll(async () => {
  await runtime?.close();
  await rm(work, { recursive: true, force: true });
});

describe('upload progress', () => {
  it('reports the full total from the first call, counts up to it, and never goes backwards', async () => {
    // Backbone already loaded: extraction starts while the copy is still going, the case that
    // used to show a growing total and then a jump back to 0.
    await runtime.backbone();
    const calls: [number, number][] = [];
    const summary = await upload(runtime, path.join(work, 'images'), 'progress', (done, total) => calls.push([done, total]));
    expect(summary.embedded).toBe(24);
    expect(calls[0]).toEqual([0, 24]);
    expect(new Set(calls.map(([, total]) => total))).toEqual(new Set([24]));
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThanOrEqual(calls[i - 1]![0]);
    expect(calls.at(-1)).toEqual([24, 24]);
    // Extraction ran in more than one batch, so there were steps in between.
    expect(calls.length).toBeGreaterThan(2);
  });
});
