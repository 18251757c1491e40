/**
 * Extraction speed, whole path and parts, beside a plain Python pipeline, in one run:
 *
 *   (a) `headstart upload` end to end: a new process, `node bin/headstart.js upload <folder> --json`
 *       into an empty HEADSTART_HOME (process start, backbone load, copy, queue, decode, backbone,
 *       cache and record writes);
 *   (b) in-process: upload() on a runtime whose backbone is already loaded (no process start);
 *   (c) the backbone alone on preprocessed tensors, batches of 32;
 *   (d) bench/extract_baseline.py: Pillow + onnxruntime, the same numerics and model, batch 32,
 *       default threads, one embedding file per image; a new process, timed like (a).
 *
 * Then where the time goes: each stage alone, one image at a time (decode, resize+crop,
 * normalise, backbone per image, store writes) against (b), and Python's own stage clock.
 *
 *   npx tsx bench/extract.ts [--repeat 3] [--sets hymenoptera,fashion_mnist] [--limit N]
 *
 * Runs (a) and (d) alternately, `--repeat` times each, and reports medians: the dev machine is
 * shared, so the two must see the same load. The Python side runs in .bench/venv-extract
 * (onnxruntime, numpy, pillow from the local package mirror), made on first use.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Backbone } from '../src/backbone/Backbone.js';
import { findCatalogueEntry, DEFAULT_BACKBONE } from '../src/backbone/catalogue.js';
import { normalizeToChw, planResizeAndCrop, preprocess } from '../src/image/preprocess.js';
import { inspectImage } from '../src/image/validate.js';
import { localConfig } from '../src/config.js';
import { LocalRuntime } from '../src/local/LocalRuntime.js';
import { upload } from '../src/cli/commands/upload.js';
import { modelsDir as sharedModelsDir, repoDir, sharedDir } from '../test/helpers/shared.js';
import { buildCli, cliBuildIsFresh } from '../scripts/build-cli.js';

const argv = process.argv.slice(2);
const arg = (flag: string, fallback: string): string => {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] ? (argv[i + 1] as string) : fallback;
};
const repeat = Number(arg('--repeat', '3'));
const sets = arg('--sets', 'hymenoptera,fashion_mnist').split(',');
const limitArg = argv.includes('--limit') ? Number(arg('--limit', '0')) : undefined;

const repo = repoDir();
const modelsDir = sharedModelsDir();
const spec = findCatalogueEntry(DEFAULT_BACKBONE)!;
const modelFile = path.join(modelsDir, spec.file);

const SETS: Record<string, { folder: string; limit: number; what: string }> = {
  hymenoptera: { folder: path.join(sharedDir(), 'datasets', 'hymenoptera', 'train'), limit: 244, what: 'hymenoptera train (JPEG photos)' },
  fashion_mnist: { folder: path.join(sharedDir(), 'datasets', 'fashion_mnist', 'train'), limit: 1000, what: 'fashion_mnist train (28 px PNG)' },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** The labelled folder cut to its first `limit` files (sorted), as hard links (same disk), so every side reads the same images. */
async function labelledSubset(folder: string, limit: number, into: string): Promise<{ dir: string; files: string[] }> {
  const files: { label: string; file: string }[] = [];
  for (const label of (await readdir(folder)).sort()) for (const file of (await readdir(path.join(folder, label))).sort()) files.push({ label, file });
  const chosen = files.slice(0, limit);
  const dir = path.join(into, 'images');
  const { mkdir, link } = await import('node:fs/promises');
  for (const f of chosen) {
    await mkdir(path.join(dir, f.label), { recursive: true });
    await link(path.join(folder, f.label, f.file), path.join(dir, f.label, f.file));
  }
  return { dir, files: chosen.map((f) => path.join(folder, f.label, f.file)) };
}

function pythonBin(): string {
  const venv = path.join(repo, '.bench', 'venv-extract');
  const py = path.join(venv, 'bin', 'python');
  const ready = existsSync(py) && spawnSync(py, ['-c', 'import onnxruntime, numpy, PIL'], { stdio: 'ignore' }).status === 0;
  if (!ready) {
    process.stderr.write('making .bench/venv-extract (onnxruntime, numpy, pillow from the local package mirror)\n');
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--index-url', 'file:///opt/pypi/simple', '--extra-index-url', 'file:///opt/pypi-more/simple', 'onnxruntime', 'numpy', 'pillow'], { stdio: 'inherit' });
  }
  return py;
}

interface PythonRun {
  images: number;
  wallS: number;
  stages: Record<string, number>;
}

function runPython(py: string, images: string, out: string): PythonRun {
  const t = performance.now();
  const res = spawnSync(py, [path.join(repo, 'bench', 'extract_baseline.py'), modelFile, images, '--out', out], { encoding: 'utf8' });
  const wallS = (performance.now() - t) / 1000;
  if (res.status !== 0) throw new Error(`extract_baseline.py failed: ${res.stderr}`);
  const json = JSON.parse(res.stdout.trim().split('\n').at(-1) as string) as { images: number; stages: Record<string, number> };
  return { images: json.images, wallS, stages: json.stages };
}

function runCli(images: string, home: string): { wallS: number; embedded: number } {
  const t = performance.now();
  const res = spawnSync(process.execPath, [path.join(repo, 'bin', 'headstart.js'), 'upload', images, '--dataset', 'bench', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, HEADSTART_HOME: home, HEADSTART_MODELS: modelsDir },
  });
  const wallS = (performance.now() - t) / 1000;
  if (res.status !== 0) throw new Error(`headstart upload failed (${res.status}): ${res.stderr}`);
  const summary = JSON.parse(res.stdout) as { embedded: number; failed: unknown[] };
  return { wallS, embedded: summary.embedded };
}

async function stageClock(files: string[], backbone: Backbone): Promise<Record<string, number>> {
  const bytes = await Promise.all(files.map((f) => readFile(f)));
  const p = spec.preprocessing;
  const ms = { decode: 0, resize: 0, normalise: 0 };
  const crops: Buffer[] = [];
  for (const b of bytes) {
    let t = performance.now();
    await sharp(b, { ignoreIcc: true, autoOrient: true, failOn: 'error' }).removeAlpha().raw().toBuffer();
    ms.decode += performance.now() - t;
    t = performance.now();
    const info = await inspectImage(b);
    const plan = planResizeAndCrop(info.orientedWidth, info.orientedHeight, p);
    const crop = await sharp(b, { ignoreIcc: true, autoOrient: true, failOn: 'error' })
      .resize(plan.width, plan.height, { kernel: 'linear', fit: 'fill', fastShrinkOnLoad: false })
      .extract({ left: plan.left, top: plan.top, width: p.crop, height: p.crop })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer();
    // decode + resize + crop in one pipeline, less the decode alone.
    ms.resize += performance.now() - t;
    crops.push(crop);
  }
  ms.resize = Math.max(0, ms.resize - ms.decode);
  const out = new Float32Array(3 * p.crop * p.crop);
  const t = performance.now();
  for (const c of crops) normalizeToChw(c, p.crop, p, out, 0);
  ms.normalise = performance.now() - t;
  const xs = await Promise.all(bytes.map((b) => preprocess(b, p)));
  const tb = performance.now();
  const rows = await backbone.embed(xs);
  const backboneMs = performance.now() - tb;
  const dir = await mkdtemp(path.join(tmpdir(), 'hs-bench-writes-'));
  const tw = performance.now();
  await Promise.all(rows.map((r, i) => writeFile(path.join(dir, `${i}.f32`), new Uint8Array(r.buffer, r.byteOffset, r.byteLength))));
  const writesMs = performance.now() - tw;
  await rm(dir, { recursive: true, force: true });
  const n = files.length;
  return { decode: ms.decode / n, resize: ms.resize / n, normalise: ms.normalise / n, backbone: backboneMs / n, writes: writesMs / n };
}

const fmt = (x: number, d = 1): string => x.toFixed(d);
const say = (line: string): void => void process.stderr.write(`[extract] ${line}\n`);
// (a) runs the compiled CLI: make sure it is the code in this tree.
if (!cliBuildIsFresh(repo)) await buildCli(repo);
const py = pythonBin();
const scratch = await mkdtemp(path.join(tmpdir(), 'hs-bench-extract-'));
const lines: string[] = [];
try {
  for (const name of sets) {
    const set = SETS[name];
    if (!set) throw new Error(`unknown set ${name}; one of ${Object.keys(SETS).join(', ')}`);
    const setDir = await mkdtemp(path.join(scratch, `${name}-`));
    const { dir, files } = await labelledSubset(set.folder, limitArg ?? set.limit, setDir);
    const n = files.length;

    // (a) and (d), alternately, on fresh state each time.
    const cli: number[] = [];
    const python: PythonRun[] = [];
    for (let r = 0; r < repeat; r++) {
      const home = await mkdtemp(path.join(setDir, 'home-'));
      say(`${name} run ${r + 1}/${repeat}: CLI upload of ${n} images`);
      const res = runCli(dir, home);
      if (res.embedded !== n) throw new Error(`upload embedded ${res.embedded} of ${n}`);
      cli.push(res.wallS);
      await rm(home, { recursive: true, force: true });
      const out = await mkdtemp(path.join(setDir, 'py-'));
      say(`${name} run ${r + 1}/${repeat}: Python baseline`);
      python.push(runPython(py, dir, out));
      await rm(out, { recursive: true, force: true });
    }

    // (b): in-process, backbone loaded before the clock starts.
    say(`${name}: in-process upload`);
    process.env['HEADSTART_HOME'] = await mkdtemp(path.join(setDir, 'home-b-'));
    process.env['HEADSTART_MODELS'] = modelsDir;
    const runtime = await LocalRuntime.open(localConfig(), { consume: true });
    const backbone = await runtime.backbone();
    const tb = performance.now();
    const summary = await upload(runtime, dir, 'bench');
    const inProcessS = (performance.now() - tb) / 1000;
    await runtime.close();
    if (summary.embedded !== n) throw new Error(`in-process upload embedded ${summary.embedded} of ${n}`);

    // (c) and the stage clock, with a backbone of the same settings as the runtime's.
    say(`${name}: stages one at a time`);
    const clockBackbone = await Backbone.load(undefined, { modelsDir });
    const stages = await stageClock(files, clockBackbone);
    await clockBackbone.release();
    void backbone;

    const aRate = n / median(cli);
    const dRate = n / median(python.map((p) => p.wallS));
    const bRate = n / inProcessS;
    const cRate = 1000 / stages['backbone']!;
    const stageSum = Object.values(stages).reduce((s, x) => s + x, 0);
    const pyStages = Object.fromEntries(Object.keys(python[0]!.stages).map((k) => [k, median(python.map((p) => (p.stages[k] ?? 0) * 1000 / p.images))]));
    const pyCompute = ['decode', 'resize', 'normalise', 'backbone', 'writes', 'read'].reduce((s, k) => s + (pyStages[k] ?? 0), 0);

    lines.push(`## ${set.what}: ${n} images, median of ${repeat}`);
    lines.push('');
    lines.push('| path | headstart img/s | Python (Pillow + onnxruntime, batch 32) img/s | ratio |');
    lines.push('|---|---|---|---|');
    lines.push(`| (a) CLI upload, process start to exit | ${fmt(aRate)} | ${fmt(dRate)} (process start to exit) | ${fmt(aRate / dRate, 2)}x |`);
    lines.push(`| (b) in-process upload, backbone loaded | ${fmt(bRate)} | ${fmt(1000 / pyCompute)} (its loop, session loaded) | ${fmt(bRate / (1000 / pyCompute), 2)}x |`);
    lines.push(`| (c) backbone alone, preprocessed, batch 32 | ${fmt(cRate)} | ${fmt(1000 / pyStages['backbone']!)} | ${fmt(cRate / (1000 / pyStages['backbone']!), 2)}x |`);
    lines.push('');
    lines.push('Where the time goes, ms per image (each stage alone, one image at a time; Python from its own clock):');
    lines.push('');
    lines.push('| stage | headstart | Python |');
    lines.push('|---|---|---|');
    for (const k of ['decode', 'resize', 'normalise', 'backbone', 'writes'] as const) lines.push(`| ${k === 'resize' ? 'resize + crop' : k === 'writes' ? 'store writes' : k} | ${fmt(stages[k]!, 2)} | ${fmt(pyStages[k] ?? 0, 2)} |`);
    lines.push(`| sum of stages | ${fmt(stageSum, 2)} | ${fmt(pyCompute, 2)} (with file reads) |`);
    lines.push(`| (b) measured: pipelined, plus queue, records and copies | ${fmt(1000 / bRate, 2)} | |`);
    lines.push(`| (a) measured: plus process start and backbone load (${fmt(median(cli) - inProcessS, 2)} s) | ${fmt(1000 / aRate, 2)} | ${fmt(1000 / dRate, 2)} |`);
    lines.push('');
    lines.push(`Decode share of the headstart stages: ${fmt((100 * stages['decode']!) / stageSum)}% (decode + resize + normalise: ${fmt((100 * (stages['decode']! + stages['resize']! + stages['normalise']!)) / stageSum)}%). ` +
      `Overlap and batching: stages add to ${fmt(stageSum, 2)} ms, the in-process path takes ${fmt(1000 / bRate, 2)} ms per image.`);
    lines.push(`Runs, s: CLI ${cli.map((x) => fmt(x, 2)).join(' ')}; Python ${python.map((p) => fmt(p.wallS, 2)).join(' ')}`);
    lines.push('');
    process.stdout.write(`${lines.splice(0).join('\n')}\n`);
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
