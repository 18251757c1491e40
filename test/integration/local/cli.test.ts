/**
 * The CLI contract, as scripts outside the repo call it: `npx headstart <command>` in a child
 * process, on real images, with state in a temporary HEADSTART_HOME. Covers upload (with refused
 * files), status, train, predict, eval, models/promote/rollback, report, and error exits.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetsDir, imagesDir, modelsDir, repoDir } from '../../helpers/shared.js';

const run = promisify(execFile);
const PER_LABEL = 10;

let home: string;
let work: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function headstart(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(repoDir(), 'bin', 'headstart.js'), ...args], {
      cwd: work,
      env: { ...process.env, HEADSTART_HOME: home },
      maxBuffer: 32 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function copySubset(split: string, into: string, count: number): Promise<void> {
  for (const label of ['ants', 'bees']) {
    const from = path.join(datasetsDir(), 'hymenoptera', split, label);
    await mkdir(path.join(into, label), { recursive: true });
    for (const file of (await readdir(from)).sort().slice(0, count)) await cp(path.join(from, file), path.join(into, label, file));
  }
}

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'hs-cli-home-'));
  work = await mkdtemp(path.join(tmpdir(), 'hs-cli-work-'));
  await copySubset('train', path.join(work, 'train'), PER_LABEL);
  await copySubset('val', path.join(work, 'val'), 6);
  await writeFile(path.join(work, 'train', 'ants', 'notes.jpg'), 'this is a text file, not a JPEG');
  await writeFile(path.join(work, 'train', 'stray.jpg'), 'outside any label folder');
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('headstart CLI', () => {
  it('upload: embeds the images, reports refused files with reasons, exits 0', async () => {
    const r = await headstart('upload', 'train', '--dataset', 'bugs', '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { embedded: number; skipped: number; failed: { file: string; error: string }[] };
    expect(summary.embedded).toBe(2 * PER_LABEL);
    expect(summary.skipped).toBe(0);
    const failures = Object.fromEntries(summary.failed.map((f) => [path.basename(f.file), f.error]));
    expect(failures['notes.jpg']).toMatch(/not an image/i);
    expect(failures['stray.jpg']).toMatch(/label folder/);
  });

  it('upload again: everything is skipped as already cached', async () => {
    const r = await headstart('upload', 'train', '--dataset', 'bugs');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`embedded 0, skipped ${2 * PER_LABEL}`);
  });

  it('status --json: counts per label and every failed object with its reason', async () => {
    const r = await headstart('status', 'bugs', '--json');
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as { labels: Record<string, number>; pending: number; failures: { key: string; error: string }[]; model: unknown };
    expect(status.labels).toEqual({ ants: PER_LABEL, bees: PER_LABEL });
    expect(status.pending).toBe(0);
    expect(status.failures).toEqual([expect.objectContaining({ key: 'datasets/bugs/ants/notes.jpg', error: expect.stringMatching(/not an image/i) })]);
    expect(status.model).toBeNull();
  });

  let firstVersion = '';
  it('train --json: publishes a version with validation metrics', async () => {
    const r = await headstart('train', 'bugs', '--json');
    expect(r.code).toBe(0);
    const model = JSON.parse(r.stdout) as { version: string; accuracy: number; labels: string[]; confusion: number[][]; assessment: { verdict: string } };
    expect(model.labels).toEqual(['ants', 'bees']);
    expect(['helps', 'helps little', 'does not help']).toContain(model.assessment.verdict);
    expect(model.accuracy).toBeGreaterThan(0.7);
    expect(model.confusion.flat().reduce((a, b) => a + b, 0)).toBe(2 * PER_LABEL);
    firstVersion = model.version;
  });

  it('predict --json: one JSON line per image, naming the model; a bad file exits 1 after the rest', async () => {
    await writeFile(path.join(work, 'broken.png'), 'not a png');
    const r = await headstart('predict', 'bugs', 'val/ants', 'broken.png', '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.png: .*not an image/i);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(expect.arrayContaining(['file', 'label', 'probability', 'top', 'model', 'outOfDomain']));
      expect(line['model']).toBe(firstVersion);
    }
    expect(lines.filter((l) => l['label'] === 'ants').length).toBeGreaterThanOrEqual(4);
  });

  it('predict flags a photo far from the training images as out of domain', async () => {
    const r = await headstart('predict', 'bugs', path.join(imagesDir(), 'coffee.png'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outOfDomain: true });
  });

  it('eval --json: scores a labelled folder with the current model', async () => {
    const r = await headstart('eval', 'bugs', 'val', '--json');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { accuracy: number; macroF1: number; n: number; labels: string[]; confusion: number[][]; perClass: Record<string, unknown>; unreadable: number };
    expect(result.n).toBe(12);
    expect(result.unreadable).toBe(0);
    expect(result.labels).toEqual(['ants', 'bees']);
    expect(result.accuracy).toBeGreaterThan(0.6);
    expect(Object.keys(result.perClass)).toEqual(['ants', 'bees']);

    // An unreadable image is an error in the denominator, not left out of it.
    const withBroken = path.join(work, 'val-with-broken');
    await cp(path.join(work, 'val'), withBroken, { recursive: true });
    await writeFile(path.join(withBroken, 'ants', 'torn.jpg'), 'not a JPEG at all');
    const b = await headstart('eval', 'bugs', withBroken, '--json');
    expect(b.code).toBe(0);
    const broken = JSON.parse(b.stdout) as { accuracy: number; n: number; unreadable: number; failed: { file: string }[]; confusion: number[][] };
    expect(broken.n).toBe(13);
    expect(broken.unreadable).toBe(1);
    expect(broken.failed.map((f) => path.basename(f.file))).toEqual(['torn.jpg']);
    expect(broken.accuracy).toBeCloseTo((result.accuracy * 12) / 13, 10);
    expect(b.stderr).toMatch(/torn\.jpg/);
  });

  it('models, promote and rollback move the current version', async () => {
    const second = JSON.parse((await headstart('train', 'bugs', '--json', '--seed', '1')).stdout) as { version: string };
    const listed = JSON.parse((await headstart('models', 'bugs', '--json')).stdout) as { current: string; models: { version: string }[] };
    expect(listed.current).toBe(second.version);
    expect(listed.models.map((m) => m.version)).toEqual([firstVersion, second.version]);
    expect((await headstart('rollback', 'bugs')).stdout).toContain(firstVersion);
    expect((await headstart('promote', 'bugs', second.version)).code).toBe(0);
    const after = JSON.parse((await headstart('models', 'bugs', '--json')).stdout) as { current: string };
    expect(after.current).toBe(second.version);
  });

  it('assess --json: LogME and probe accuracy per backbone, the pixel baseline, and a verdict', async () => {
    const r = await headstart('assess', 'bugs', '--json');
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout) as {
      backbones: { id: string; logme: number; probeAccuracy: number }[];
      baselineAccuracy: number;
      gain: number;
      gainInterval: [number, number];
      verdict: string;
      chosen: string;
      thresholds: { helps: number; doesNotHelp: number };
      explanation: string;
    };
    expect(a.backbones.map((b) => b.id)).toEqual(expect.arrayContaining([expect.stringMatching(/^mobilenetv2-12-fp32-embed@/), expect.stringMatching(/^mobilenetv2-12-int8@/)]));
    for (const b of a.backbones) {
      expect(Number.isFinite(b.logme)).toBe(true);
      expect(b.probeAccuracy).toBeGreaterThan(0.5);
    }
    // Ants vs bees is close to ImageNet: 32x32 pixels alone do clearly worse than the backbone.
    const chosen = a.backbones.find((b) => b.id === a.chosen);
    expect(chosen, `chosen ${a.chosen} is one of the backbones`).toBeDefined();
    expect(a.baselineAccuracy).toBeGreaterThan(0);
    expect(a.baselineAccuracy).toBeLessThan(chosen!.probeAccuracy);
    expect(a.gain).toBeGreaterThan(0);
    expect(a.gainInterval[0]).toBeLessThanOrEqual(a.gain);
    expect(a.gainInterval[1]).toBeGreaterThanOrEqual(a.gain);
    // The verdict is the band the printed gain falls in.
    const band = a.gain >= a.thresholds.helps ? 'helps' : a.gain <= a.thresholds.doesNotHelp ? 'does not help' : 'helps little';
    expect(a.verdict).toBe(band);
    expect(a.explanation.length).toBeGreaterThan(20);
  });

  it('train --backbone auto trains on the best-ranked backbone, and its model is served', async () => {
    const model = JSON.parse((await headstart('train', 'bugs', '--backbone', 'auto', '--json')).stdout) as { backbone: string; assessment: { backbones: { id: string }[]; chosen: string } };
    expect(model.assessment.backbones.length).toBeGreaterThanOrEqual(2);
    expect(model.backbone).toBe(model.assessment.chosen);
    const predicted = JSON.parse((await headstart('predict', 'bugs', 'val/bees', '--json')).stdout.trim().split('\n')[0] ?? '{}') as { label: string };
    expect(['ants', 'bees']).toContain(predicted.label);
  });

  it('backbone add registers any ONNX classifier by its feature tensor; train --backbone uses it', async () => {
    const added = await headstart('backbone', 'add', path.join(modelsDir(), 'mobilenetv2-12-int8.onnx'), '--name', 'my-int8', '--feature-tensor', '627', '--json');
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: 'my-int8', embeddingSize: 1280 });
    const listed = JSON.parse((await headstart('backbones', '--json')).stdout) as { name: string; registered: boolean }[];
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'my-int8', registered: true })]));
    const model = JSON.parse((await headstart('train', 'bugs', '--backbone', 'my-int8', '--json')).stdout) as { backbone: string; accuracy: number };
    expect(model.backbone).toMatch(/^my-int8@/);
    expect(model.accuracy).toBeGreaterThan(0.7);
    const bad = await headstart('backbone', 'add', path.join(modelsDir(), 'mobilenetv2-12-int8.onnx'), '--name', 'broken', '--feature-tensor', 'no-such-tensor');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/no-such-tensor/);
  });

  it('report writes the self-contained HTML report', async () => {
    const r = await headstart('report', 'bugs', '--out', 'bugs.html');
    expect(r.code).toBe(0);
    const html = await readFile(path.join(work, 'bugs.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it.each([
    [['train', 'nothing-here'], /dataset "nothing-here"|no cached embeddings/],
    [['predict', 'nothing-here', 'val/ants'], /no trained model/],
    [['upload', 'no-such-folder', '--dataset', 'x'], /does not exist/],
    [['upload', 'train', '--dataset', '../escape'], /path separator|path segment/],
    [['promote', 'bugs', 'v-unknown'], /no model version/],
    [['eval', 'bugs'], /missing required argument/],
    [['bogus'], /unknown command/],
  ])('%j fails with a message naming the problem and a non-zero exit', async (args, message) => {
    const r = await headstart(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
