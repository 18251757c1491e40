/**
 * Peak memory and time of one extract batch (the Lambda's unit of work): the 10 largest photos of
 * the hymenoptera set (up to 2592 px wide) through extractObjects with the real backbone, in a
 * fresh process. The figure sizes the extract function's memory (infra/lib/config.ts).
 *
 *   npx tsx bench/extract-memory.ts
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsObjectStore } from '../src/adapters/local/FsObjectStore.js';
import { openHomeDatabase } from '../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../src/adapters/local/SqliteDatasetIndex.js';
import { Backbone } from '../src/backbone/Backbone.js';
import { extractObjects } from '../src/pipeline/extract.js';
import { modelsDir as sharedModelsDir, sharedDir } from '../test/helpers/shared.js';

const shared = sharedDir();
const modelsDir = sharedModelsDir();
const root = path.join(shared, 'datasets', 'hymenoptera', 'train');

const files: { file: string; size: number; label: string }[] = [];
for (const label of await readdir(root)) {
  for (const file of await readdir(path.join(root, label))) files.push({ file, label, size: (await stat(path.join(root, label, file))).size });
}
const largest = files.sort((a, b) => b.size - a.size).slice(0, 10);
const dir = await mkdtemp(path.join(tmpdir(), 'hs-extract-mem-'));
try {
  const store = new FsObjectStore(dir);
  // The local runtime's index: a SQLite file beside the bucket, as under HEADSTART_HOME.
  const db = openHomeDatabase(path.join(dir, 'headstart.db'));
  const index = new SqliteDatasetIndex(db);
  const backbone = await Backbone.load(undefined, { modelsDir });
  const rssAfterLoad = process.memoryUsage().rss;
  for (const f of largest) await store.put(`datasets/mem/${f.label}/${f.file}`, await readFile(path.join(root, f.label, f.file)));
  const t = performance.now();
  const result = await extractObjects(largest.map((f, i) => ({ id: String(i), kind: 'created' as const, key: `datasets/mem/${f.label}/${f.file}` })), { store, index, embedder: backbone });
  const ms = performance.now() - t;
  const embedded = result.outcomes.filter((o) => o.status === 'embedded').length;
  console.log(`| measure | extract batch of 10 largest hymenoptera photos (${(largest.reduce((s, f) => s + f.size, 0) / 2 ** 20).toFixed(1)} MiB of JPEG) |`);
  console.log('|---|---|');
  console.log(`| embedded | ${embedded}/10 |`);
  console.log(`| batch time | ${ms.toFixed(0)} ms |`);
  console.log(`| RSS after backbone load | ${(rssAfterLoad / 2 ** 20).toFixed(0)} MiB |`);
  console.log(`| peak RSS (process) | ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB |`);
  await backbone.release();
  db.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
