/**
 * Does transfer help on the shared datasets, and does the verdict agree with a real test split?
 *
 *   npx tsx bench/transfer.ts [--datasets hymenoptera,chest_xray,fashion_mnist] [--curve] [--json out.json]
 *   npx tsx bench/transfer.ts --logme-reference     # only the LogME-vs-numpy cases of the integration test
 *
 * For each dataset: the train split is uploaded to a temporary local bucket and extracted with the
 * default backbone, exactly as the product does; assessDataset then measures LogME and the
 * cross-validated linear probe for every backbone on disk (mobilenetv2-12-int8 embeddings are
 * computed on demand), the pixel baseline, and the verdict. Then the heads it trained on the whole
 * train split score the held-out split (val/test): the gain measured there is what the verdict
 * predicts. Alongside, LogME is recomputed by bench/logme_reference.py (numpy, the paper's
 * Algorithm 1 with a full SVD) on the same matrices, with the relative differences.
 *
 * Needs python3 with numpy for the reference column; the product and the tests do not.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsObjectStore } from '../src/adapters/local/FsObjectStore.js';
import { openHomeDatabase } from '../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../src/adapters/local/SqliteDatasetIndex.js';
import { Backbone } from '../src/backbone/Backbone.js';
import { listBackbones } from '../src/backbone/resolveBackbone.js';
import { datasetObjectKey } from '../src/dataset/keys.js';
import { extractObjects } from '../src/pipeline/extract.js';
import { loadTrainingData } from '../src/pipeline/trainingData.js';
import { classificationMetrics } from '../src/training/metrics.js';
import { predictHead } from '../src/training/predictHead.js';
import type { TrainedHead } from '../src/training/types.js';
import { assessDataset, type TrainedArm, type TransferAssessment } from '../src/transfer/assess.js';
import { logme } from '../src/transfer/logme.js';
import { fitStandardizer, pixelFeatures, PIXEL_FEATURES, PIXEL_FEATURES_ID, standardize, type Standardizer } from '../src/transfer/pixelFeatures.js';
import { decideVerdict, measureGain, tallyFromConfusion, type ClassTally } from '../src/transfer/verdict.js';
import { modelsDir as sharedModelsDir, sharedDir } from '../test/helpers/shared.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = sharedDir();
const modelsDir = sharedModelsDir();
const HELD_OUT_SPLIT: Record<string, string> = { hymenoptera: 'val', chest_xray: 'test', fashion_mnist: 'test' };

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(name);

interface LabelledImages {
  labels: string[];
  files: string[];
  bytes: Uint8Array[];
}

/**
 * <split>/<label>/<file>, labels and files sorted by code unit (not locale), so the order and any
 * "first k per class" subset are the same on every machine. The integration test uses the same rule.
 */
async function readSplit(dataset: string, split: string, perClass?: number): Promise<LabelledImages> {
  const root = path.join(shared, 'datasets', dataset, split);
  const out: LabelledImages = { labels: [], files: [], bytes: [] };
  const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  for (const label of (await readdir(root)).filter((l) => !l.startsWith('.')).sort(byCodeUnit)) {
    const files = (await readdir(path.join(root, label))).filter((f) => !f.startsWith('.')).sort(byCodeUnit);
    for (const file of perClass === undefined ? files : files.slice(0, perClass)) {
      out.labels.push(label);
      out.files.push(file);
      out.bytes.push(new Uint8Array(await readFile(path.join(root, label, file))));
    }
  }
  return out;
}

function labelIndices(labels: readonly string[], classNames: readonly string[]): Int32Array {
  return Int32Array.from(labels, (l) => classNames.indexOf(l));
}

async function embedAll(backbone: Backbone, bytes: readonly Uint8Array[]): Promise<Float32Array> {
  const rows = await backbone.embedImages(bytes);
  const out = new Float32Array(rows.length * backbone.embeddingSize);
  rows.forEach((r, i) => {
    if (!(r instanceof Float32Array)) throw new Error(`image ${i} failed: ${r.message}`);
    out.set(r, i * backbone.embeddingSize);
  });
  return out;
}

async function pixelsAll(bytes: readonly Uint8Array[]): Promise<Float32Array> {
  const rows = await pixelFeatures(bytes);
  const out = new Float32Array(rows.length * PIXEL_FEATURES);
  rows.forEach((r, i) => {
    if (!(r instanceof Float32Array)) throw new Error(`image ${i} failed: ${r.message}`);
    out.set(r, i * PIXEL_FEATURES);
  });
  return out;
}

interface LogmeComparison {
  name: string;
  n: number;
  d: number;
  js: number;
  numpy: number;
  relative: number;
  jsMs: number;
  numpyMs: number;
}

async function compareLogme(name: string, features: Float32Array, d: number, labels: Int32Array, classes: number, scratch: string): Promise<LogmeComparison> {
  const n = labels.length;
  const t0 = performance.now();
  const js = logme(features, [n, d], labels, classes).score;
  const jsMs = performance.now() - t0;
  const featuresPath = path.join(scratch, 'features.f32');
  const labelsPath = path.join(scratch, 'labels.i32');
  await writeFile(featuresPath, new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
  await writeFile(labelsPath, new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength));
  const t1 = performance.now();
  const out = execFileSync('python3', [path.join(repoRoot, 'bench', 'logme_reference.py'), featuresPath, labelsPath, String(n), String(d)], { maxBuffer: 1 << 24 }).toString();
  const numpyMs = performance.now() - t1;
  const numpy = (JSON.parse(out) as { score: number }).score;
  return { name, n, d, js, numpy, relative: Math.abs(js - numpy) / Math.abs(numpy), jsMs, numpyMs };
}

/** The LogME cases the integration test pins (same images, same order, same features). */
async function logmeCases(backbone: Backbone, scratch: string): Promise<LogmeComparison[]> {
  const results: LogmeComparison[] = [];
  for (const dataset of ['hymenoptera', 'chest_xray']) {
    const split = await readSplit(dataset, 'train');
    const classNames = [...new Set(split.labels)];
    results.push(await compareLogme(`${dataset} train, ${backbone.spec.name}`, await embedAll(backbone, split.bytes), backbone.embeddingSize, labelIndices(split.labels, classNames), classNames.length, scratch));
  }
  const small = await readSplit('hymenoptera', 'train', 20);
  const classNames = [...new Set(small.labels)];
  const labels = labelIndices(small.labels, classNames);
  results.push(await compareLogme(`hymenoptera train 20/class, ${backbone.spec.name}`, await embedAll(backbone, small.bytes), backbone.embeddingSize, labels, 2, scratch));
  // Centred pixels: N < D and rank N - 1, so one zero eigenvalue among the N.
  const chest = await readSplit('chest_xray', 'train');
  const chestClasses = [...new Set(chest.labels)];
  const pixels = await pixelsAll(chest.bytes);
  results.push(
    await compareLogme('chest_xray train, standardised pixels', standardize(pixels, PIXEL_FEATURES, fitStandardizer(pixels, PIXEL_FEATURES)), PIXEL_FEATURES, labelIndices(chest.labels, chestClasses), 2, scratch),
  );
  return results;
}

function printLogme(rows: LogmeComparison[], digits = 6): void {
  console.log('\nLogME, src/transfer/logme.ts vs bench/logme_reference.py (numpy full SVD)');
  console.log('| case | N | D | LogME (JS) | LogME (numpy) | rel. diff | JS ms | numpy ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.n} | ${r.d} | ${r.js.toFixed(digits)} | ${r.numpy.toFixed(digits)} | ${r.relative.toExponential(1)} | ${r.jsMs.toFixed(0)} | ${r.numpyMs.toFixed(0)} |`);
  }
}

/** Per-class right/total of a head's argmax on labelled rows. */
async function scoreOn(head: TrainedHead, features: Float32Array, labels: Int32Array): Promise<{ tally: ClassTally; accuracy: number; balancedAccuracy: number }> {
  const k = head.classNames.length;
  const probabilities = await predictHead(head, features, labels.length);
  const predicted = Int32Array.from({ length: labels.length }, (_, i) => {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probabilities[i * k + c] as number) > (probabilities[i * k + best] as number)) best = c;
    return best;
  });
  const metrics = classificationMetrics(labels, predicted, head.classNames);
  return { tally: tallyFromConfusion(metrics.confusion), accuracy: metrics.accuracy, balancedAccuracy: metrics.balancedAccuracy };
}

interface DatasetRow {
  dataset: string;
  assessment: TransferAssessment;
  test: { split: string; n: number; probe: number; baseline: number; gain: number; standardError: number; verdict: string; agrees: boolean };
  logme: LogmeComparison[];
  extractMs: number;
  testMs: number;
}

async function benchDataset(dataset: string, backbones: Backbone[], scratch: string, curve: boolean): Promise<DatasetRow> {
  const extractor = backbones[0] as Backbone;
  const storeDir = await mkdtemp(path.join(tmpdir(), `hs-bench-${dataset}-`));
  // The local runtime's index: a SQLite file beside the bucket, as under HEADSTART_HOME.
  const db = openHomeDatabase(path.join(storeDir, 'headstart.db'));
  try {
    const store = new FsObjectStore(path.join(storeDir, 'bucket'));
    const index = new SqliteDatasetIndex(db);
    const plane = { store, index };
    const train = await readSplit(dataset, 'train');
    const t0 = performance.now();
    const keys = train.files.map((file, i) => datasetObjectKey(dataset, train.labels[i] as string, file));
    for (const [i, key] of keys.entries()) await store.put(key, train.bytes[i] as Uint8Array);
    for (let start = 0; start < keys.length; start += 32) {
      const result = await extractObjects(
        keys.slice(start, start + 32).map((key, j) => ({ id: `e${start + j}`, kind: 'created' as const, key })),
        { store, index, embedder: extractor },
      );
      if (result.failedIds.length > 0) throw new Error(`extraction failed for ${result.failedIds.length} images`);
    }
    const extractMs = performance.now() - t0;
    process.stderr.write(`${dataset}: extracted ${keys.length} images in ${(extractMs / 1000).toFixed(1)} s\n`);

    const heads = new Map<string, TrainedArm>();
    const assessment = await assessDataset(plane, dataset, {
      backbones,
      onTrainedHead: (arm) => heads.set(arm.id, arm),
      learningCurve: curve,
      log: (m) => process.stderr.write(`${dataset}: ${m}\n`),
    });

    // Held-out split: the heads trained on the whole train split, scored on images they never saw.
    const t1 = performance.now();
    const splitName = HELD_OUT_SPLIT[dataset] as string;
    const heldOut = await readSplit(dataset, splitName);
    const testLabels = labelIndices(heldOut.labels, assessment.classNames);
    const chosen = backbones.find((b) => b.id === assessment.chosen) as Backbone;
    const probeArm = heads.get(chosen.id) as TrainedArm;
    const baseArm = heads.get(PIXEL_FEATURES_ID) as TrainedArm;
    const probe = await scoreOn(probeArm.head, await embedAll(chosen, heldOut.bytes), testLabels);
    const testPixels = standardize(await pixelsAll(heldOut.bytes), PIXEL_FEATURES, baseArm.standardizer as Standardizer);
    const baseline = await scoreOn(baseArm.head, testPixels, testLabels);
    const testVerdict = decideVerdict(measureGain(probe.tally, baseline.tally));
    const testMs = performance.now() - t1;

    // LogME side by side with numpy, on the matrices the assessment used (cache order by key).
    const comparisons: LogmeComparison[] = [];
    for (const backbone of backbones) {
      const data = await loadTrainingData(plane, dataset, backbone.id);
      comparisons.push(await compareLogme(`${dataset}, ${backbone.spec.name}`, data.embeddings, data.dims[1], data.labels, data.classNames.length, scratch));
    }
    const data = await loadTrainingData(plane, dataset, extractor.id);
    const pixels = await pixelsAll(await Promise.all(data.keys.map(async (key) => (await store.get(key)) as Uint8Array)));
    comparisons.push(await compareLogme(`${dataset}, standardised pixels`, standardize(pixels, PIXEL_FEATURES, fitStandardizer(pixels, PIXEL_FEATURES)), PIXEL_FEATURES, data.labels, data.classNames.length, scratch));
    const small = await readSplit(dataset, 'train', 20);
    comparisons.push(await compareLogme(`${dataset} 20/class (N<D), ${extractor.spec.name}`, await embedAll(extractor, small.bytes), extractor.embeddingSize, labelIndices(small.labels, assessment.classNames), assessment.classNames.length, scratch));

    return {
      dataset,
      assessment,
      test: {
        split: splitName,
        n: testLabels.length,
        probe: probe.balancedAccuracy,
        baseline: baseline.balancedAccuracy,
        gain: testVerdict.gain.value,
        standardError: testVerdict.gain.standardError,
        verdict: testVerdict.verdict,
        agrees: testVerdict.verdict === assessment.verdict,
      },
      logme: comparisons,
      extractMs,
      testMs,
    };
  } finally {
    db.close();
    await rm(storeDir, { recursive: true, force: true });
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}`;

function printTable(rows: DatasetRow[]): void {
  console.log('\nTransfer: LogME and cross-validated linear probe per backbone, pixel baseline, verdict (balanced accuracy, %)');
  console.log('| dataset | N | features | LogME | rank LogME / probe | CV probe | CV acc (plain) | lambda |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const { dataset, assessment: a } of rows) {
    for (const b of a.backbones) {
      console.log(`| ${dataset} | ${a.n} | ${b.name} | ${b.logme.toFixed(4)} | ${b.rankByLogme} / ${b.rankByProbe} | ${pct(b.probeBalancedAccuracy)} | ${pct(b.probeAccuracy)} | ${b.lambda} |`);
    }
    console.log(`| ${dataset} | ${a.n} | ${PIXEL_FEATURES_ID} (baseline) | ${a.baseline.logme.toFixed(4)} | - | ${pct(a.baseline.balancedAccuracy)} | ${pct(a.baseline.accuracy)} | ${a.baseline.lambda} |`);
  }
  console.log('\nVerdict (cross-validated on train) vs the gain measured on the held-out split');
  console.log('| dataset | chosen | CV gain ± SE (pts) | CV 95% interval | verdict | confident | held-out split | N | probe | baseline | held-out gain ± SE | held-out verdict | agrees |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { dataset, assessment: a, test: t } of rows) {
    console.log(
      `| ${dataset} | ${a.chosen.split('@')[0]} | ${pct(a.gain.value)} ± ${pct(a.gain.standardError)} | ${pct(a.gain.low)} .. ${pct(a.gain.high)} | ${a.verdict}${a.negativeTransfer ? ' (negative transfer)' : ''} | ${a.confident ? 'yes' : 'no'} | ` +
        `${t.split} | ${t.n} | ${pct(t.probe)} | ${pct(t.baseline)} | ${pct(t.gain)} ± ${pct(t.standardError)} | ${t.verdict} | ${t.agrees ? 'yes' : 'NO'} |`,
    );
  }
  console.log('\nTimings (s)');
  console.log('| dataset | extract (fp32) | assess total | of which read+pixels+on-demand embeddings | baseline probe | probes | learning curve | held-out scoring |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const { dataset, assessment: a, extractMs, testMs } of rows) {
    const probes = a.backbones.map((b) => `${b.name.replace('mobilenetv2-12-', '')} ${(b.timings.probeMs / 1000).toFixed(1)} (${b.embeddedNow} embedded now)`).join(', ');
    console.log(
      `| ${dataset} | ${(extractMs / 1000).toFixed(1)} | ${(a.timings.totalMs / 1000).toFixed(1)} | ${(a.timings.readMs / 1000).toFixed(1)} | ${(a.baseline.timings.probeMs / 1000).toFixed(1)} | ${probes} | ${a.timings.learningCurveMs !== undefined ? (a.timings.learningCurveMs / 1000).toFixed(1) : '-'} | ${(testMs / 1000).toFixed(1)} |`,
    );
  }
  for (const { dataset, assessment: a } of rows) {
    if (!a.learningCurve) continue;
    console.log(`\nLearning curve, ${dataset} (${a.chosen.split('@')[0]} vs pixels; held-out ${a.learningCurve.heldOut} images, ${a.learningCurve.points[0]?.seeds} seeds, balanced accuracy %)`);
    console.log('| k per class | train images | embedding mean ± std | baseline mean ± std |');
    console.log('|---|---|---|---|');
    for (const p of a.learningCurve.points) {
      console.log(`| ${p.k} | ${p.trainImages} | ${pct(p.embedding.mean)} ± ${pct(p.embedding.std)} | ${pct(p.baseline.mean)} ± ${pct(p.baseline.std)} |`);
    }
  }
  for (const { dataset, assessment: a } of rows) console.log(`\n${dataset}: ${a.explanation}`);
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'hs-logme-'));
  const names = (await listBackbones(undefined, { modelsDir })).map((b) => b.spec.name);
  // The default backbone first: it plays the extraction backbone, the others are embedded on demand.
  const ordered = ['mobilenetv2-12-fp32-embed', ...names.filter((n) => n !== 'mobilenetv2-12-fp32-embed')].filter((n) => names.includes(n));
  const backbones: Backbone[] = [];
  try {
    for (const name of ordered) backbones.push(await Backbone.load(name, { modelsDir }));
    if (flag('--logme-reference')) {
      printLogme(await logmeCases(backbones[0] as Backbone, scratch), 12);
      return;
    }
    const datasets = (argument('--datasets') ?? 'hymenoptera,chest_xray,fashion_mnist').split(',');
    const rows: DatasetRow[] = [];
    for (const dataset of datasets) rows.push(await benchDataset(dataset, backbones, scratch, flag('--curve')));
    printTable(rows);
    printLogme(rows.flatMap((r) => r.logme));
    const jsonPath = argument('--json');
    if (jsonPath) {
      await writeFile(jsonPath, JSON.stringify(rows.map((r) => ({ ...r, assessment: { ...r.assessment } })), null, 2));
    }
  } finally {
    await Promise.all(backbones.map((b) => b.release()));
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
