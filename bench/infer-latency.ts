/**
 * Cold start and warm latency of the infer Lambda, measured locally through its API Gateway
 * adapter, on the deployable bundle (esbuild output + onnxruntime-node + sharp + the model, as
 * scripts/bundle-functions.ts packages it) against moto_server's S3.
 *
 *   npx tsx bench/infer-latency.ts [--cold 5] [--warm 50]
 *
 * Cold: a fresh Node process per run; "process start to first prediction" is performance.now() in
 * that process when the first 200 comes back (Node's clock starts at process start), so it covers
 * module loading, the backbone session and the first head load. Lambda's own init (container,
 * download of the asset) comes on top. Warm: the same process, one image per request, p50/p95.
 * Baseline printed beside it: the bare backbone (preprocess + onnxruntime run) on the same images,
 * the floor the handler cannot beat.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { DynamoDatasetIndex } from '../src/adapters/aws/DynamoDatasetIndex.js';
import { S3ObjectStore } from '../src/adapters/aws/S3ObjectStore.js';
import { Backbone } from '../src/backbone/Backbone.js';
import { extractObjects } from '../src/pipeline/extract.js';
import { trainDataset } from '../src/pipeline/train.js';
import { bundleFunctions } from '../scripts/bundle-functions.js';
import { createBucket, createIndexTable, motoDynamoClient, motoS3Client, startMoto } from '../test/helpers/moto.js';
import { modelsDir as sharedModelsDir, sharedDir } from '../test/helpers/shared.js';

const { values } = parseArgs({ options: { cold: { type: 'string', default: '5' }, warm: { type: 'string', default: '50' } } });
const COLD = Number(values.cold);
const WARM = Number(values.warm);
const shared = sharedDir();
const modelsDir = sharedModelsDir();
const xrays = path.join(shared, 'datasets', 'chest_xray');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

async function images(split: string, label: string, count: number): Promise<{ file: string; bytes: Buffer }[]> {
  const dir = path.join(xrays, split, label);
  const files = (await readdir(dir)).sort().slice(0, count);
  return Promise.all(files.map(async (file) => ({ file, bytes: await readFile(path.join(dir, file)) })));
}

// The child: loads the bundle, answers one prediction (cold), then WARM more; prints JSON timings.
const CHILD = `
const start = performance.now();
const { handler } = await import(process.env.BUNDLE);
const loaded = performance.now();
const images = JSON.parse(process.env.IMAGES);
const fs = await import('node:fs');
const event = (file) => ({ version: '2.0', routeKey: '$default', rawPath: '/datasets/xray/predict', rawQueryString: '',
  headers: { 'content-type': 'image/jpeg' }, requestContext: { http: { method: 'POST', path: '/datasets/xray/predict' } },
  body: fs.readFileSync(file).toString('base64'), isBase64Encoded: true });
const first = await handler(event(images[0]));
if (first.statusCode !== 200) throw new Error('first prediction failed: ' + first.body);
const firstAt = performance.now();
const warm = [];
for (let i = 0; i < Number(process.env.WARM); i++) {
  const t = performance.now();
  const r = await handler(event(images[i % images.length]));
  if (r.statusCode !== 200) throw new Error('prediction failed: ' + r.body);
  warm.push(performance.now() - t);
}
console.log(JSON.stringify({ start, loaded, firstAt, warm, maxRssKiB: process.resourceUsage().maxRSS }));
`;

async function main(): Promise<void> {
  const run = promisify(execFile);
  console.log('packaging the infer function (scripts/bundle-functions.ts)...');
  const { infer } = await bundleFunctions({ functions: ['infer'], modelsDir });
  console.log(`bundle: ${infer.dir} (${(infer.bytes / 2 ** 20).toFixed(1)} MiB unzipped)`);

  const moto = await startMoto();
  const s3 = motoS3Client(moto.endpoint);
  const dynamo = motoDynamoClient(moto.endpoint);
  try {
    const bucket = await createBucket(s3);
    const store = new S3ObjectStore(s3, bucket);
    // The dataset index table the stack creates; the handler process is pointed at it too (TABLE).
    const table = await createIndexTable(dynamo);
    const index = new DynamoDatasetIndex(dynamo, table);
    const backbone = await Backbone.load(undefined, { modelsDir });
    const train = [...(await images('train', 'normal', 20)).map((i) => ({ ...i, label: 'normal' })), ...(await images('train', 'pneumonia', 20)).map((i) => ({ ...i, label: 'pneumonia' }))];
    for (const i of train) await store.put(`datasets/xray/${i.label}/${i.file}`, i.bytes);
    await extractObjects(train.map((i, n) => ({ id: String(n), kind: 'created' as const, key: `datasets/xray/${i.label}/${i.file}` })), { store, index, embedder: backbone });
    const manifest = await trainDataset({ store, index, backbone }, 'xray', { report: false, standalone: false });
    console.log(`model ${manifest.version} trained on ${manifest.data.images} chest X-rays\n`);

    const testFiles = [...(await readdir(path.join(xrays, 'test', 'normal'))).sort().slice(0, 10).map((f) => path.join(xrays, 'test', 'normal', f))];

    // Baseline: the bare backbone on the same images, in this warm process.
    const bytes = await Promise.all(testFiles.map((f) => readFile(f)));
    for (const b of bytes.slice(0, 3)) await backbone.embedImages([b]);
    const bare: number[] = [];
    for (let i = 0; i < WARM; i++) {
      const t = performance.now();
      await backbone.embedImages([bytes[i % bytes.length] as Buffer]);
      bare.push(performance.now() - t);
    }
    await backbone.release();

    const env = {
      ...process.env,
      BUNDLE: path.join(infer.dir, 'index.mjs'),
      IMAGES: JSON.stringify(testFiles),
      WARM: String(WARM),
      BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
      TABLE: table,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      HEADSTART_MODELS: path.join(infer.dir, 'models'),
      TRAIN_JOB_QUEUE: 'unused',
      TRAIN_JOB_DEFINITION: 'unused',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: '1',
    };
    const cold: { load: number; first: number }[] = [];
    let maxRssKiB = 0;
    let warm: number[] = [];
    for (let i = 0; i < COLD; i++) {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHILD], { env: { ...env, WARM: i === 0 ? String(WARM) : '0' }, cwd: infer.dir });
      const r = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { loaded: number; firstAt: number; warm: number[]; maxRssKiB: number };
      maxRssKiB = Math.max(maxRssKiB, r.maxRssKiB);
      cold.push({ load: r.loaded, first: r.firstAt });
      if (i === 0) warm = r.warm;
    }
    const firsts = cold.map((c) => c.first).sort((a, b) => a - b);
    const loads = cold.map((c) => c.load).sort((a, b) => a - b);
    const w = [...warm].sort((a, b) => a - b);
    const b = [...bare].sort((a, b2) => a - b2);
    console.log(`| measure | infer handler (bundle, via API Gateway adapter) | baseline: bare backbone embed |`);
    console.log(`|---|---|---|`);
    console.log(`| cold: process start to module loaded (median of ${COLD}) | ${fmt(percentile(loads, 50))} | - |`);
    console.log(`| cold: process start to first prediction (median of ${COLD}; min ${fmt(firsts[0] ?? 0)}, max ${fmt(firsts.at(-1) ?? 0)}) | ${fmt(percentile(firsts, 50))} | - |`);
    console.log(`| warm per image p50 (${WARM} requests) | ${fmt(percentile(w, 50))} | ${fmt(percentile(b, 50))} |`);
    console.log(`| warm per image p95 | ${fmt(percentile(w, 95))} | ${fmt(percentile(b, 95))} |`);
    console.log(`| peak resident memory of the handler process | ${(maxRssKiB / 1024).toFixed(0)} MiB | - |`);
  } finally {
    s3.destroy();
    dynamo.destroy();
    await moto.stop();
  }
}

await main();
