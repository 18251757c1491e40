/**
 * Out-of-domain detection on real data: for each shared dataset, fit the detector on its training
 * split (default backbone, 5 stratified folds for calibration) and measure
 *   - the false-alarm rate on its held-out in-domain split (val/test),
 *   - the detection rate on every image of the other shared datasets and on the shared photos,
 * for both scoring methods, plus the must-hold case: the cat photo sent to the chest X-ray model.
 *
 *   npx tsx bench/ood.ts [--method knn,centroid] [--rate 0.05] [--cache DIR] [--json FILE]
 *
 * Embeddings are cached (by backbone id and image sha256) in DIR, default
 * $TMPDIR/headstart-bench-embeddings, so a rerun skips the backbone. Reads HEADSTART_SHARED
 * (default ../shared) and HEADSTART_MODELS (default <shared>/models).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FsObjectStore } from '../src/adapters/local/FsObjectStore.js';
import { Backbone } from '../src/backbone/Backbone.js';
import { sha256Hex } from '../src/dataset/keys.js';
import { EmbeddingCache } from '../src/embeddings/EmbeddingCache.js';
import { createRandom } from '../src/training/random.js';
import { stratifiedFolds } from '../src/training/stratifiedFolds.js';
import { fitOutOfDomain, scoreOutOfDomain, type OutOfDomainMethod, type OutOfDomainModel } from '../src/transfer/outOfDomain.js';
import { modelsDir as sharedModelsDir, sharedDir } from '../test/helpers/shared.js';

const shared = sharedDir();
const modelsDir = sharedModelsDir();

const DATASETS = [
  { name: 'hymenoptera', train: 'train', heldOut: 'val' },
  { name: 'fashion_mnist', train: 'train', heldOut: 'test' },
  { name: 'chest_xray', train: 'train', heldOut: 'test' },
] as const;
const IMAGE_FILE = /\.(png|jpe?g|gif|webp|tiff?)$/i;

interface Item {
  file: string;
  label: string;
  embedding?: Float32Array;
}

async function listSplit(dataset: string, split: string): Promise<Item[]> {
  const dir = path.join(shared, 'datasets', dataset, split);
  const items: Item[] = [];
  for (const label of (await readdir(dir)).sort()) {
    for (const file of (await readdir(path.join(dir, label))).sort()) {
      if (IMAGE_FILE.test(file)) items.push({ file: path.join(dir, label, file), label });
    }
  }
  return items;
}

async function embedAll(backbone: Backbone, cache: EmbeddingCache, items: Item[]): Promise<Item[]> {
  const batch = 32;
  let computed = 0;
  for (let start = 0; start < items.length; start += batch) {
    const chunk = items.slice(start, start + batch);
    const bytes = await Promise.all(chunk.map((item) => readFile(item.file)));
    const shas = bytes.map((b) => sha256Hex(b));
    const cached = await cache.getMany(backbone.id, shas);
    const missing = chunk.flatMap((_, i) => (cached[i] === undefined ? [i] : []));
    const fresh = missing.length > 0 ? await backbone.embedImages(missing.map((i) => bytes[i] as Buffer)) : [];
    for (const [j, i] of missing.entries()) {
      const result = fresh[j];
      if (result instanceof Float32Array) {
        await cache.put(backbone.id, shas[i] as string, result);
        cached[i] = result;
        computed++;
      } else {
        console.error(`skipped ${chunk[i]?.file}: ${result?.message}`);
      }
    }
    chunk.forEach((item, i) => {
      const e = cached[i];
      if (e !== undefined) item.embedding = e;
    });
  }
  if (computed > 0) console.error(`embedded ${computed} images (the rest from the cache)`);
  return items.filter((item) => item.embedding !== undefined);
}

function rate(model: OutOfDomainModel, items: Item[]): number {
  if (items.length === 0) return NaN;
  return scoreOutOfDomain(model, items.map((i) => i.embedding as Float32Array)).filter((s) => s.outOfDomain).length / items.length;
}

function pct(x: number): string {
  return Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      method: { type: 'string', default: 'knn,centroid' },
      rate: { type: 'string', default: '0.05' },
      cache: { type: 'string', default: path.join(os.tmpdir(), 'headstart-bench-embeddings') },
      json: { type: 'string' },
    },
  });
  const methods = (values.method ?? '').split(',').filter(Boolean) as OutOfDomainMethod[];
  const falseAlarmRate = Number(values.rate);
  const backbone = await Backbone.load(undefined, { modelsDir });
  const cache = new EmbeddingCache(new FsObjectStore(values.cache as string));
  console.error(`backbone ${backbone.id}; embedding cache ${values.cache}`);

  const splits = new Map<string, { train: Item[]; heldOut: Item[]; all: Item[] }>();
  for (const ds of DATASETS) {
    const train = await embedAll(backbone, cache, await listSplit(ds.name, ds.train));
    const heldOut = await embedAll(backbone, cache, await listSplit(ds.name, ds.heldOut));
    splits.set(ds.name, { train, heldOut, all: [...train, ...heldOut] });
  }
  const photoDir = path.join(shared, 'images');
  const photos = await embedAll(
    backbone,
    cache,
    (await readdir(photoDir)).filter((f) => IMAGE_FILE.test(f)).sort().map((f) => ({ file: path.join(photoDir, f), label: f })),
  );

  const rows: Record<string, unknown>[] = [];
  console.log(`\nOut-of-domain detection, nominal false-alarm rate ${pct(falseAlarmRate)} (out-of-fold calibration, 5 folds)\n`);
  console.log('| dataset | method | train | threshold | false alarms (held-out) | ' + DATASETS.map((d) => `detected: ${d.name}`).join(' | ') + ' | detected: photos | fit ms |');
  console.log('|---|---|---|---|---|' + DATASETS.map(() => '---|').join('') + '---|---|');
  for (const ds of DATASETS) {
    const { train, heldOut } = splits.get(ds.name)!;
    const classNames = [...new Set(train.map((i) => i.label))].sort();
    const labels = Int32Array.from(train.map((i) => classNames.indexOf(i.label)));
    const folds = stratifiedFolds(labels, classNames.length, 5, createRandom(0));
    const d = (train[0]?.embedding as Float32Array).length;
    const embeddings = new Float32Array(train.length * d);
    train.forEach((item, i) => embeddings.set(item.embedding as Float32Array, i * d));
    for (const method of methods) {
      const started = performance.now();
      const model = await fitOutOfDomain({ embeddings, dims: [train.length, d], labels, folds }, { method, falseAlarmRate });
      const fitMs = performance.now() - started;
      const detected = Object.fromEntries(DATASETS.map((o) => [o.name, o.name === ds.name ? NaN : rate(model, splits.get(o.name)!.all)]));
      const photoScores = scoreOutOfDomain(model, photos.map((p) => p.embedding as Float32Array));
      const row = {
        dataset: ds.name,
        method,
        trainImages: train.length,
        heldOutImages: heldOut.length,
        threshold: model.threshold,
        oofFalseAlarmRate: model.calibration.oofFalseAlarmRate,
        heldOutFalseAlarmRate: rate(model, heldOut),
        detected,
        photosDetected: photoScores.filter((s) => s.outOfDomain).length / photos.length,
        photos: Object.fromEntries(photos.map((p, i) => [path.basename(p.file), photoScores[i]])),
        referenceRows: model.referenceRows,
        fitMs,
      };
      rows.push(row);
      console.log(
        `| ${ds.name} | ${method} | ${train.length} | ${model.threshold.toFixed(3)} | ${pct(row.heldOutFalseAlarmRate)} (${heldOut.length}) | ` +
          DATASETS.map((o) => pct(detected[o.name] as number)).join(' | ') +
          ` | ${pct(row.photosDetected)} (${photos.length}) | ${fitMs.toFixed(0)} |`,
      );
    }
  }

  console.log('\nPhoto scores (score / threshold; flagged when above):');
  for (const row of rows) {
    const photosOf = row['photos'] as Record<string, { score: number; outOfDomain: boolean }>;
    const line = Object.entries(photosOf).map(([name, s]) => `${name} ${s.score.toFixed(3)}${s.outOfDomain ? '' : ' (NOT flagged)'}`);
    console.log(`  ${row['dataset']}/${row['method']} (threshold ${(row['threshold'] as number).toFixed(3)}): ${line.join(', ')}`);
  }
  const cat = rows.filter((r) => r['dataset'] === 'chest_xray').map((r) => ({ method: r['method'], ...(r['photos'] as Record<string, unknown>)['chelsea.png'] as object }));
  console.log(`\nCat photo (chelsea.png) sent to the chest X-ray model: ${JSON.stringify(cat)}`);
  if (values.json) await writeFile(values.json, JSON.stringify({ backbone: backbone.id, falseAlarmRate, rows }, null, 2));
  await backbone.release();
}

await main();
