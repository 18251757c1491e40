/**
 * How the data plane grows with the dataset: `npx tsx bench/scale.ts [--n N]... [--adapter sqlite|dynamo]... [--train] [--index-only] [--json]`.
 *
 * For each N it fills the dataset index and the embedding store with N synthetic records and
 * embeddings (1280-d, 100 labels) through the real adapters (SQLite + the folder store locally;
 * DynamoDB + S3 on moto_server), then measures, in this run, requests and wall time of:
 *   status      datasetStatus (what `headstart status` and GET /datasets/{name} answer)
 *   trainRoute  POST /datasets/{name}/train through the router (the job is submitted, not run)
 *   compaction  packing the per-image cache into .npy shards (first run: every row is new)
 *   trainLoad   loading the training matrix from the index and the shards, after compaction
 *   cliStatus   `node bin/headstart.js status` as a new process (SQLite only)
 * and, with --train (N <= 100,000), a full training run beside scikit-learn at equal threads and an
 * equal grid (bench/lib/trainBench.ts). Requests are counted at the adapter boundary: every S3 or
 * DynamoDB call (SDK middleware), every SQLite statement batch and every folder-store call.
 *
 * --index-only fills and measures the index alone (status and the train route), no embeddings.
 *
 * Defaults: SQLite at 10,000, 100,000 and 1,000,000 (at 1,000,000 only the index is filled:
 * 1M embeddings would be 5 GB of files, and a 5 GB matrix exceeds Node 20's 4 GiB typed-array
 * limit, so compaction and trainLoad stop at 100,000); DynamoDB + S3 at 10,000 and 100,000.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { toItem, DynamoDatasetIndex } from '../src/adapters/aws/DynamoDatasetIndex.js';
import { DynamoTrainingLock } from '../src/adapters/aws/DynamoTrainingLock.js';
import { BatchJobRunner } from '../src/adapters/aws/BatchJobRunner.js';
import { S3ObjectStore } from '../src/adapters/aws/S3ObjectStore.js';
import { FsObjectStore } from '../src/adapters/local/FsObjectStore.js';
import { homeDatabasePath, openHomeDatabase } from '../src/adapters/local/HomeDatabase.js';
import { LocalQueue } from '../src/adapters/local/LocalQueue.js';
import { SqliteDatasetIndex } from '../src/adapters/local/SqliteDatasetIndex.js';
import { route, type ApiContext } from '../src/api/router.js';
import { embeddingKey } from '../src/dataset/keys.js';
import { EmbeddingCache } from '../src/embeddings/EmbeddingCache.js';
import { LocalJobRunner } from '../src/local/LocalJobRunner.js';
import { datasetStatus, type DataPlane } from '../src/pipeline/status.js';
import { compactTrainingEmbeddings, loadTrainingData } from '../src/pipeline/trainingData.js';
import type { DatasetIndex, IndexEntry } from '../src/ports/DatasetIndex.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../src/ports/ObjectStore.js';
import { mapLimit } from '../src/util/mapLimit.js';
import { FakeBatch } from '../test/helpers/fakes.js';
import { createBucket, createIndexTable, motoDynamoClient, motoS3Client, startMoto } from '../test/helpers/moto.js';
import { trainBesideSklearn, type TrainBenchResult } from './lib/trainBench.js';

const run = promisify(execFile);
const DIMS = 1280;
const LABELS = 100;
const DATASET = 'scale';
const BACKBONE = 'synthetic@0000000000000000';

type Adapter = 'sqlite' | 'dynamo';
interface Measure {
  requests: number;
  ms: number;
}
interface Row {
  n: number;
  adapter: Adapter;
  status: Measure;
  trainRoute: Measure;
  compaction?: Measure & { shards: number };
  trainLoad?: Measure;
  cliStatus?: { ms: number };
  fillMs: number;
  train?: Pick<TrainBenchResult, 'ms' | 'peakRssMb' | 'sklearnMs' | 'accuracy' | 'sklearnAccuracy'>;
}

/** Counts every call into a store (a folder-store list counts one per 1,000 keys, like an S3 page). */
class CountingStore implements ObjectStore {
  requests = 0;
  constructor(private readonly inner: ObjectStore) {}
  get(key: string): Promise<Uint8Array | undefined> {
    this.requests++;
    return this.inner.get(key);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    this.requests++;
    return this.inner.head(key);
  }
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void> {
    this.requests++;
    return this.inner.put(key, body, options);
  }
  delete(key: string): Promise<void> {
    this.requests++;
    return this.inner.delete(key);
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let n = 0;
    this.requests++;
    for await (const info of this.inner.list(prefix)) {
      if (++n % 1000 === 0) this.requests++;
      yield info;
    }
  }
}

/** Counts every request an AWS SDK client sends. */
function countRequests(client: S3Client | DynamoDBClient): { n: number } {
  const counter = { n: 0 };
  (client.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      counter.n++;
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  return counter;
}

function entryOf(i: number): IndexEntry {
  const label = `label${String(i % LABELS).padStart(3, '0')}`;
  const file = `img${String(i).padStart(7, '0')}.png`;
  return { key: `datasets/${DATASET}/${label}/${file}`, dataset: DATASET, label, file, etag: `e${i}`, size: 700, state: 'embedded', sha256: sha(i), backbone: BACKBONE, updatedAt: '2026-12-01T00:00:00.000Z' };
}

function sha(i: number): string {
  return i.toString(16).padStart(64, '0');
}

/** A cheap, distinct vector per row: training content does not matter to what is measured here. */
function vectorOf(i: number): Float32Array {
  const v = new Float32Array(DIMS);
  for (let j = 0; j < DIMS; j++) v[j] = ((i * 31 + j * 17) % 1000) / 1000;
  return v;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

async function measureCommon(plane: DataPlane, jobs: ApiContext['jobs'], counted: () => number, withEmbeddings: boolean): Promise<Omit<Row, 'n' | 'adapter' | 'fillMs'>> {
  let before = counted();
  const status = await timed(() => datasetStatus(plane, DATASET));
  if (status.value.images !== (status.value.images > 0 ? status.value.images : -1)) throw new Error('status counted nothing');
  const statusMeasure = { requests: counted() - before, ms: status.ms };

  before = counted();
  const context: ApiContext = { ...plane, jobs, predictor: () => Promise.reject(new Error('no predictor in the benchmark')) };
  const response = await timed(() => route({ method: 'POST', path: `/datasets/${DATASET}/train`, headers: {}, body: new Uint8Array() }, context));
  if (response.value.status !== 202) throw new Error(`train route answered ${response.value.status}: ${String(response.value.body)}`);
  const trainRoute = { requests: counted() - before, ms: response.ms };
  if (!withEmbeddings) return { status: statusMeasure, trainRoute };

  before = counted();
  const compaction = await timed(() => compactTrainingEmbeddings(plane, DATASET, BACKBONE));
  const compactionMeasure = { requests: counted() - before, ms: compaction.ms, shards: compaction.value.shards };
  before = counted();
  const load = await timed(() => loadTrainingData(plane, DATASET, BACKBONE));
  if (load.value.dims[0] !== status.value.images) throw new Error(`loaded ${load.value.dims[0]} rows, expected ${status.value.images}`);
  return { status: statusMeasure, trainRoute, compaction: compactionMeasure, trainLoad: { requests: counted() - before, ms: load.ms } };
}

async function sqliteRow(n: number): Promise<Row> {
  const home = await mkdtemp(path.join(tmpdir(), 'headstart-scale-'));
  try {
    const db = openHomeDatabase(homeDatabasePath(home));
    const index = new SqliteDatasetIndex(db);
    const store = new CountingStore(new FsObjectStore(path.join(home, 'bucket'), { fsync: false }));
    const withEmbeddings = n <= 100_000 && !args.indexOnly;
    const fill = await timed(async () => {
      for (let start = 0; start < n; start += 5_000) await index.put(Array.from({ length: Math.min(5_000, n - start) }, (_, k) => entryOf(start + k)));
      if (withEmbeddings) {
        const cache = new EmbeddingCache(store);
        await mapLimit(Array.from({ length: n }, (_, i) => i), 16, (i) => cache.put(BACKBONE, sha(i), vectorOf(i)));
      }
    });
    const queue = new LocalQueue({ db });
    // The queue's count and the job insert are one SQLite statement batch each: counted here.
    let other = 0;
    const plane: DataPlane = {
      store,
      index,
      pendingFor: async (ds) => {
        other++;
        return queue.pendingFor(ds);
      },
    };
    const runner = new LocalJobRunner(db, async () => ({ version: 'not-trained' }));
    const jobs: ApiContext['jobs'] = {
      submit: (ds) => {
        other++;
        return runner.submit(ds);
      },
      get: (id) => runner.get(id),
    };
    const counted = (): number => index.requests + store.requests + other;
    const row: Row = { n, adapter: 'sqlite', fillMs: fill.ms, ...(await measureCommon(plane, jobs, counted, withEmbeddings)) };
    db.close();
    // A new process, as a user runs it: start, open the home, read the counters, print.
    const cli = await timed(() => run(process.execPath, [path.join(import.meta.dirname, '..', 'bin', 'headstart.js'), 'status', DATASET, '--json'], { env: { ...process.env, HEADSTART_HOME: home }, maxBuffer: 1 << 26 }));
    row.cliStatus = { ms: cli.ms };
    return row;
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

async function dynamoRow(n: number, endpoint: string, withEmbeddings: boolean): Promise<Row> {
  const dynamo = motoDynamoClient(endpoint);
  const s3 = motoS3Client(endpoint);
  const table = await createIndexTable(dynamo);
  const bucket = await createBucket(s3);
  const fill = await timed(async () => {
    // Seeding writes the items the adapter would write (entries, counters, dataset row) in bulk:
    // moto copies the whole table per transaction, so N transactional puts would take hours.
    const counts = new Map<string, number>();
    const items = Array.from({ length: n }, (_, i) => {
      const entry = entryOf(i);
      counts.set(entry.label as string, (counts.get(entry.label as string) ?? 0) + 1);
      return toItem(entry, 1);
    });
    items.push(...[...counts].map(([label, c]) => ({ pk: { S: `C#${DATASET}` }, sk: { S: `embedded#${label}` }, n: { N: String(c) } })));
    items.push({ pk: { S: 'D' }, sk: { S: `#${DATASET}` }, n: { N: String(n) } });
    for (let start = 0; start < items.length; start += 25) {
      await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [table]: items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    if (withEmbeddings) await mapLimit(Array.from({ length: n }, (_, i) => i), 16, async (i) => {
      const v = vectorOf(i);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: embeddingKey(BACKBONE, sha(i)), Body: new Uint8Array(v.buffer) }));
    });
  });
  const dynamoCount = countRequests(dynamo);
  const s3Count = countRequests(s3);
  const store = new S3ObjectStore(s3, bucket);
  const index = new DynamoDatasetIndex(dynamo, table);
  const jobs = new BatchJobRunner({ client: new FakeBatch().asClient(), jobQueue: 'q', jobDefinition: 'd', store, lock: new DynamoTrainingLock(dynamo, table) });
  const row = await measureCommon({ store, index }, jobs, () => dynamoCount.n + s3Count.n, withEmbeddings);
  return { n, adapter: 'dynamo', fillMs: fill.ms, ...row };
}

function parseArgs(argv: string[]): { ns: number[]; adapters: Adapter[]; train: boolean; json: boolean; indexOnly: boolean } {
  const ns: number[] = [];
  const adapters: Adapter[] = [];
  let train = false;
  let json = false;
  let indexOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--n') ns.push(Number(argv[++i]));
    else if (arg === '--adapter') adapters.push(argv[++i] as Adapter);
    else if (arg === '--train') train = true;
    else if (arg === '--json') json = true;
    else if (arg === '--index-only') indexOnly = true;
    else throw new Error(`unknown argument ${arg}; usage: bench/scale.ts [--n N]... [--adapter sqlite|dynamo]... [--train] [--index-only] [--json]`);
  }
  for (const n of ns) if (!(Number.isInteger(n) && n >= LABELS * 2)) throw new Error(`--n must be an integer >= ${LABELS * 2}, got ${n}`);
  return { ns, adapters: adapters.length > 0 ? adapters : ['sqlite', 'dynamo'], train, json, indexOnly };
}

const args = parseArgs(process.argv.slice(2));
const rows: Row[] = [];
const emit = (row: Row): void => {
  rows.push(row);
  if (args.json) {
    console.log(JSON.stringify(row));
    return;
  }
  const m = (x: Measure | undefined): string => (x === undefined ? '-' : `${x.requests} req ${x.ms.toFixed(0)} ms`);
  console.log(
    `${row.adapter.padEnd(6)} N=${String(row.n).padStart(9)} | status ${m(row.status)} | train route ${m(row.trainRoute)} | compaction ${m(row.compaction)}${row.compaction ? ` (${row.compaction.shards} shards)` : ''} | trainLoad ${m(row.trainLoad)}${row.cliStatus ? ` | CLI status ${row.cliStatus.ms.toFixed(0)} ms` : ''}${row.train ? ` | train ${(row.train.ms / 1000).toFixed(1)} s, ${row.train.peakRssMb.toFixed(0)} MB, acc ${(100 * row.train.accuracy).toFixed(2)}% vs scikit-learn ${(row.train.sklearnMs / 1000).toFixed(1)} s, acc ${(100 * row.train.sklearnAccuracy).toFixed(2)}%` : ''}`,
  );
};

if (args.adapters.includes('sqlite')) {
  for (const n of args.ns.length > 0 ? args.ns : [10_000, 100_000, 1_000_000]) {
    const row = await sqliteRow(n);
    if (args.train && n <= 100_000) {
      const t = await trainBesideSklearn(n);
      row.train = { ms: t.ms, peakRssMb: t.peakRssMb, sklearnMs: t.sklearnMs, accuracy: t.accuracy, sklearnAccuracy: t.sklearnAccuracy };
    }
    emit(row);
  }
}
if (args.adapters.includes('dynamo')) {
  // Threaded: the measured work makes no concurrent transactions, and seeding is many plain writes.
  const moto = await startMoto({ threaded: true });
  try {
    for (const n of args.ns.length > 0 ? args.ns.filter((x) => x <= 100_000) : [10_000, 100_000]) emit(await dynamoRow(n, moto.endpoint, !args.indexOnly));
  } finally {
    await moto.stop();
  }
}

if (!args.json) {
  // Growth: how each figure scales from one N to the next (1.0 = flat; 10 = linear over a 10x step).
  for (const adapter of ['sqlite', 'dynamo'] as const) {
    const mine = rows.filter((r) => r.adapter === adapter);
    for (let i = 1; i < mine.length; i++) {
      const [a, b] = [mine[i - 1] as Row, mine[i] as Row];
      const g = (x?: Measure, y?: Measure): string => (x && y ? `${(y.requests / Math.max(1, x.requests)).toFixed(2)}x req, ${(y.ms / Math.max(0.01, x.ms)).toFixed(2)}x time` : '-');
      console.log(`growth ${adapter} ${a.n} -> ${b.n} (${(b.n / a.n).toFixed(0)}x N): status ${g(a.status, b.status)}; train route ${g(a.trainRoute, b.trainRoute)}; trainLoad ${g(a.trainLoad, b.trainLoad)}`);
    }
  }
  console.log(`limits: status and train route <= 100 requests at every N; trainLoad <= N/1000 + 100 requests`);
}
