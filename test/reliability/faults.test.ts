/**
 * Faults on one machine: duplicated and reordered events, a CLI killed mid-extraction and
 * mid-publish, predictions served while versions are promoted and rolled back, and a small load
 * smoke test. Every fault ends with a count of objects lost or duplicated, written with the other
 * outcomes to test-results/reliability-faults.md.
 *
 * One backbone for the file (the local runtime's); the CLI runs as a child process where a
 * process is killed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load.js';
import { FsObjectStore } from '../../src/adapters/local/FsObjectStore.js';
import { homeDatabasePath, openHomeDatabase } from '../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../src/adapters/local/SqliteDatasetIndex.js';
import { LocalQueue } from '../../src/adapters/local/LocalQueue.js';
import { objectEventMessageBody, parseLocalEventMessages } from '../../src/adapters/local/localEvents.js';
import type { Backbone } from '../../src/backbone/Backbone.js';
import { upload } from '../../src/cli/commands/upload.js';
import { localConfig } from '../../src/config.js';
import { datasetObjectKey, embeddingKey } from '../../src/dataset/keys.js';
import { HeadModel } from '../../src/head/HeadModel.js';
import { LocalRuntime } from '../../src/local/LocalRuntime.js';
import { serve, type RunningServer } from '../../src/local/server.js';
import { extractObjects } from '../../src/pipeline/extract.js';
import { datasetStatus, type DataPlane } from '../../src/pipeline/status.js';
import { collectEntries } from '../../src/ports/DatasetIndex.js';
import type { ObjectEvent } from '../../src/ports/ObjectEvent.js';
import { listAll } from '../../src/ports/ObjectStore.js';
import { ModelRegistry } from '../../src/registry/ModelRegistry.js';
import {
  hymenoptera,
  maxAbsDiff,
  OutcomeTable,
  pipelineState,
  rawRequest,
  runCli,
  sha256,
  shuffled,
  spawnCli,
  stateDifferences,
  waitFor,
  writeLabelledFolder,
  type SharedImage,
} from '../helpers/reliability.js';

const table = new OutcomeTable(
  'Reliability: faults',
  'reliability-faults.md',
  'Written by `npx vitest run test/reliability/faults.test.ts` (local runtime, CLI child processes). "lost" counts uploaded objects without a record or without their embedding; "duplicated" counts records or embeddings beyond one per object / per distinct content.',
);

let sandbox: string;
let runtime: LocalRuntime;
let backbone: Backbone;

beforeAll(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'hs-faults-'));
  // Consuming: the swap suite uploads through it and waits for its extraction.
  runtime = await LocalRuntime.open({ ...localConfig({}), home: path.join(sandbox, 'runtime-home') }, { consume: true });
  backbone = await runtime.backbone();
});

afterAll(async () => {
  const file = await table.write();
  console.log(`faults table: ${file}`);
  await runtime?.close();
  if (sandbox) await rm(sandbox, { recursive: true, force: true });
});

// -------------------------------------------------------------------------------------------------

/** Delivers message bodies through a local queue (SQS semantics) into extractObjects. */
async function deliver({ store, index }: DataPlane, bodies: readonly string[], options: { batchSize: number; concurrency: number }): Promise<{ dead: number }> {
  const queue = new LocalQueue();
  for (const body of bodies) await queue.send(body);
  queue.start(
    async (batch) => {
      const { events, unreadable } = parseLocalEventMessages(batch);
      const result = await extractObjects(events, { store, index, embedder: backbone });
      return { failedIds: [...result.failedIds, ...unreadable.map((u) => u.id)] };
    },
    { ...options, visibilityTimeoutMs: 120_000, maxReceives: 5, pollIntervalMs: 10 },
  );
  await queue.idle();
  await queue.stop();
  return { dead: queue.deadLetters().length };
}

/** A folder store that records its events, with its own (in-memory) dataset index. */
function recordingStore(root: string): { store: FsObjectStore; index: SqliteDatasetIndex; events: ObjectEvent[] } {
  const store = new FsObjectStore(root);
  const events: ObjectEvent[] = [];
  store.onEvent((event) => void events.push(event));
  return { store, index: new SqliteDatasetIndex(openHomeDatabase(':memory:')), events };
}

describe('at-least-once delivery (local queue + extractObjects)', () => {
  const DATASET = 'twice';
  let photos: SharedImage[];
  let replacement: SharedImage;
  let doomed: SharedImage;
  const keyOf = (i: number): string => datasetObjectKey(DATASET, i % 2 === 0 ? 'ants' : 'bees', `p${i}.jpg`);
  const doomedKey = datasetObjectKey(DATASET, 'ants', 'doomed.jpg');

  beforeAll(async () => {
    photos = [...(await hymenoptera('val', 'ants', 4, 30)), ...(await hymenoptera('val', 'bees', 4, 30))];
    [replacement, doomed] = [...(await hymenoptera('val', 'bees', 1, 40)), ...(await hymenoptera('val', 'ants', 1, 40))] as [SharedImage, SharedImage];
  });

  /** The reference: only the final objects, each event delivered once, in order. */
  async function cleanState(): Promise<Awaited<ReturnType<typeof pipelineState>>> {
    const { store, index, events } = recordingStore(await mkdtemp(path.join(sandbox, 'clean-')));
    for (const [i, photo] of photos.entries()) await store.put(keyOf(i), i === 0 ? replacement.bytes : photo.bytes);
    await deliver({ store, index }, events.map(objectEventMessageBody), { batchSize: 10, concurrency: 1 });
    return pipelineState({ store, index }, [DATASET]);
  }

  it.each([
    ['all events wait in the queue while p0 is overwritten and doomed.jpg deleted', 7, false],
    ['half the events are handled before the overwrite and the delete, the rest after', 11, true],
  ] as const)('every event twice, shuffled, concurrent batches: %s', async (scenario, seed, interleave) => {
    const clean = await cleanState();
    const { store, index, events } = recordingStore(await mkdtemp(path.join(sandbox, 'faulty-')));
    for (const [i, photo] of photos.entries()) await store.put(keyOf(i), photo.bytes);
    await store.put(doomedKey, doomed.bytes);
    const early = interleave ? events.splice(0, Math.ceil(events.length / 2)) : [];
    let dead = 0;
    if (early.length > 0) dead += (await deliver({ store, index }, shuffled([...early, ...early].map(objectEventMessageBody), seed), { batchSize: 3, concurrency: 2 })).dead;
    await store.put(keyOf(0), replacement.bytes); // overwrite while its first event may still be queued
    await store.delete(doomedKey); // delete while its created event is still queued
    const late = [...events, ...events, ...early, { id: 'stale', kind: 'created', key: doomedKey } as ObjectEvent];
    dead += (await deliver({ store, index }, shuffled(late.map(objectEventMessageBody), seed + 1), { batchSize: 3, concurrency: 2 })).dead;

    const state = await pipelineState({ store, index }, [DATASET]);
    // The cache is content-addressed and never shrinks: content that was present when an event was
    // handled keeps its embedding. Everything else must be exactly the clean state.
    const oncePresent = new Set([embeddingKey(backbone.id, sha256(photos[0]!.bytes)), embeddingKey(backbone.id, sha256(doomed.bytes))]);
    const extraEmbeddings = [...state.embeddings.keys()].filter((k) => !clean.embeddings.has(k));
    for (const key of extraEmbeddings) state.embeddings.delete(key);
    const differences = stateDifferences(state, clean);
    const finalKeys = photos.map((_, i) => keyOf(i));
    const lost = finalKeys.filter((k) => state.records[k]?.sha256 === undefined || !state.embeddings.has(embeddingKey(backbone.id, state.records[k]!.sha256!))).length;
    const duplicated = Object.keys(state.records).length - finalKeys.length;
    const row = table.record({
      area: 'at-least-once (local)',
      input: `${late.length + 2 * early.length} deliveries of ${events.length + early.length} events (seed ${seed}): ${scenario}`,
      expected: 'same records, embeddings and status as one clean delivery; 0 lost, 0 duplicated',
      observed: differences.length === 0 && dead === 0 && extraEmbeddings.every((k) => interleave && oncePresent.has(k)) ? `same records, embeddings and status as one clean delivery; ${lost} lost, ${duplicated} duplicated` : `differences: ${differences.join('; ')}; dead ${dead}; extra ${extraEmbeddings.join(',')}`,
      detail: `${Object.keys(state.records).length} records, ${state.embeddings.size} embeddings compared${extraEmbeddings.length ? `; ${extraEmbeddings.length} more cached for content present earlier (the overwritten and the deleted photo)` : ''}`,
    });
    expect(differences).toEqual([]);
    expect(dead).toBe(0);
    expect(row.observed).toBe(row.expected);
    if (!interleave) expect(extraEmbeddings).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------

/** Files under a folder (recursively), temp files of in-progress writes excluded. */
function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.hs-tmp-')).length;
}

/**
 * A count from a home's headstart.db, read through a connection of our own (WAL: it never blocks
 * the CLI that writes it). Undefined while the CLI has not created the file or its tables yet.
 */
function homeCount(home: string, sql: string, ...params: unknown[]): number | undefined {
  const file = homeDatabasePath(home);
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { fileMustExist: true, timeout: 5_000 });
  try {
    return (db.prepare(sql).get(...params) as { n: number }).n;
  } catch (error) {
    if (/no such table/.test(String(error))) return undefined;
    throw error;
  } finally {
    db.close();
  }
}

/** The home queue's messages still to be delivered, and its dead letters. */
function homeQueue(home: string): { waiting: number; dead: number } {
  return {
    waiting: homeCount(home, 'SELECT COUNT(*) AS n FROM messages WHERE dead = 0') ?? 0,
    dead: homeCount(home, 'SELECT COUNT(*) AS n FROM messages WHERE dead = 1') ?? 0,
  };
}

describe('a CLI killed mid-extraction, then mid-publish', () => {
  const DATASET = 'crash';
  let home: string;
  let folder: string;
  let store: FsObjectStore;
  let files: Array<{ key: string; bytes: Buffer }>;
  const cli = (...args: string[]) => runCli(args, { home, cwd: sandbox });

  beforeAll(async () => {
    home = path.join(sandbox, 'cli-home');
    folder = path.join(sandbox, 'crash-upload');
    const ants = await hymenoptera('train', 'ants', 20, 40);
    const bees = await hymenoptera('train', 'bees', 20, 40);
    // Two byte-identical copies: distinct contents < files, so a double count would show.
    const copies = [
      { name: 'copy-a.jpg', bytes: ants[0]!.bytes },
      { name: 'copy-b.jpg', bytes: ants[1]!.bytes },
    ];
    await writeLabelledFolder(folder, { ants: [...ants, ...copies], bees });
    files = [...[...ants, ...copies].map((p) => ({ key: datasetObjectKey(DATASET, 'ants', p.name), bytes: p.bytes })), ...bees.map((p) => ({ key: datasetObjectKey(DATASET, 'bees', p.name), bytes: p.bytes }))];
    store = new FsObjectStore(path.join(home, 'bucket'));
  });

  it('SIGKILL during extraction: the persisted queue resumes, no embedding lost or duplicated', async () => {
    const datasetDir = path.join(home, 'bucket', 'datasets', DATASET);
    const { child, exited, output } = spawnCli(['upload', folder, '--dataset', DATASET, '--json'], { home, cwd: sandbox });
    let recordsAtKill = -1;
    let finishedFirst = false;
    void exited.then(() => (finishedFirst = recordsAtKill < 0));
    // Kill once every file is in the bucket and extraction is part-way: some index entries, not all.
    await waitFor(
      'extraction to be part-way',
      () => {
        if (finishedFirst) return true;
        if (countFiles(datasetDir) !== files.length) return false;
        const records = homeCount(home, 'SELECT COUNT(*) AS n FROM entries WHERE dataset = ?', DATASET) ?? 0;
        if (records > 0 && records < files.length) {
          child.kill('SIGKILL');
          recordsAtKill = records;
          return true;
        }
        return false;
      },
      60_000,
      2,
    );
    const exit = await exited;
    expect(finishedFirst, `upload finished before it could be killed: ${output()}`).toBe(false);
    expect(exit.signal).toBe('SIGKILL');
    const queued = homeQueue(home);
    expect(queued.waiting).toBeGreaterThan(0);

    // Any command that opens the runtime resumes the queue; upload waits for it to drain.
    const resumeFolder = path.join(sandbox, 'resume-upload');
    const resumeImages = { ants: await hymenoptera('val', 'ants', 1, 50), bees: await hymenoptera('val', 'bees', 1, 50) };
    await writeLabelledFolder(resumeFolder, resumeImages);
    const resumed = await cli('upload', resumeFolder, '--dataset', 'resume', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);

    const homeDb = openHomeDatabase(homeDatabasePath(home));
    const records = await collectEntries(new SqliteDatasetIndex(homeDb), DATASET);
    homeDb.close();
    const byKey = new Map(records.map((r) => [r.key, r]));
    const contents = new Set(files.map((f) => sha256(f.bytes)));
    const embeddingKeys = new Set((await listAll(store, `embeddings/${backbone.id}/`)).map((o) => o.key));
    const lostRecords = files.filter((f) => byKey.get(f.key)?.sha256 !== sha256(f.bytes)).length;
    const lostEmbeddings = [...contents].filter((c) => !embeddingKeys.has(embeddingKey(backbone.id, c))).length;
    // The index holds one entry per key by construction, so duplication shows up elsewhere: entries
    // for keys that were never uploaded (a key written twice under two spellings), and files under
    // embeddings/ beyond one per distinct content (a write torn by the kill left beside the real one).
    const uploadedKeys = new Set(files.map((f) => f.key));
    const expectedEmbeddings = new Set([...contents, ...[...resumeImages.ants, ...resumeImages.bees].map((i) => sha256(i.bytes))].map((c) => embeddingKey(backbone.id, c)));
    const duplicatedRecords = records.filter((r) => !uploadedKeys.has(r.key)).length + [...embeddingKeys].filter((k) => !expectedEmbeddings.has(k)).length;
    // One embedding per content by construction of the key; check each is whole and right.
    const fresh = await backbone.embedImages(files.filter((f, i, all) => all.findIndex((g) => sha256(g.bytes) === sha256(f.bytes)) === i).map((f) => f.bytes));
    let wrong = 0;
    const distinct = files.filter((f, i, all) => all.findIndex((g) => sha256(g.bytes) === sha256(f.bytes)) === i);
    for (const [i, f] of distinct.entries()) {
      const bytes = await store.get(embeddingKey(backbone.id, sha256(f.bytes)));
      const stored = bytes && new Float32Array(new Uint8Array(bytes).buffer);
      if (stored && maxAbsDiff(stored, fresh[i] as Float32Array) > 1e-4) wrong++;
    }
    const after = homeQueue(home);
    const status = JSON.parse((await cli('status', DATASET, '--json')).stdout) as { labels: Record<string, number>; pending: number; failures: unknown[] };
    const again = JSON.parse((await cli('upload', folder, '--dataset', DATASET, '--json')).stdout) as { embedded: number; skipped: number; failed: unknown[] };

    const row = table.record({
      area: 'crash (local)',
      input: `SIGKILL \`headstart upload\` of ${files.length} files (${contents.size} distinct) with ${recordsAtKill} index entries written; resume with another upload`,
      expected: '0 lost, 0 corrupt, 0 duplicated; queue empty; re-upload embeds nothing',
      observed: `${lostRecords + lostEmbeddings} lost, ${wrong} corrupt, ${duplicatedRecords} duplicated; queue ${after.waiting === 0 && after.dead === 0 ? 'empty' : `${after.waiting} waiting, ${after.dead} dead`}; re-upload embeds ${again.embedded === 0 && again.skipped === files.length ? 'nothing' : again.embedded}`,
      detail: `${queued.waiting} messages were waiting in the home queue (headstart.db) at the kill; status ${JSON.stringify(status.labels)}, pending ${status.pending}; ${distinct.length} stored embeddings equal a fresh embedding (max diff <= 1e-4)`,
    });
    expect(row.observed).toBe(row.expected);
    expect(status).toMatchObject({ labels: { ants: 22, bees: 20 }, pending: 0, failures: [] });
  });

  it('SIGKILL while a training run publishes: no half-written version is ever visible, and a later train succeeds', async () => {
    const registry = new ModelRegistry(store);
    const first = await cli('train', DATASET, '--json');
    expect(first.code, first.stderr).toBe(0);
    const modelsDir = path.join(home, 'bucket', 'models', DATASET);
    const pointerFile = path.join(modelsDir, 'current.json');

    // The version folder appears when publishing starts (its first file's temp write), after
    // training; model.json is written last. Kill as soon as the folder appears.
    let partial: string | undefined;
    let attempts = 0;
    let before = { versions: [] as string[], pointer: '' };
    while (partial === undefined && attempts < 3) {
      attempts++;
      before = { versions: (await registry.list(DATASET)).map((m) => m.version), pointer: await readFile(pointerFile, 'utf8') };
      const known = new Set(readdirSync(modelsDir));
      const { child, exited } = spawnCli(['train', DATASET], { home, cwd: sandbox });
      let seen: string | undefined;
      let done = false;
      void exited.then(() => (done = true));
      await waitFor(
        'a new version folder',
        () => {
          if (done) return true;
          seen = readdirSync(modelsDir).find((name) => !known.has(name));
          if (seen !== undefined) child.kill('SIGKILL');
          return seen !== undefined;
        },
        60_000,
        1,
      );
      await exited;
      if (seen !== undefined && !existsSync(path.join(modelsDir, seen, 'model.json'))) partial = seen;
    }
    expect(partial, 'the kill never landed before model.json was written').toBeDefined();
    const leftovers = readdirSync(path.join(modelsDir, partial!));

    const versionsAfter = (await registry.list(DATASET)).map((m) => m.version);
    const pointerAfter = await readFile(pointerFile, 'utf8');
    const listed = JSON.parse((await cli('models', DATASET, '--json')).stdout) as { current: string; models: { version: string }[] };
    const promote = await cli('promote', DATASET, partial!);
    const objectsListed = await listAll(store, `models/${DATASET}/${partial}/`);
    const visible = versionsAfter.includes(partial!) || listed.models.some((m) => m.version === partial) || promote.code === 0;

    const second = await cli('train', DATASET, '--json');
    const trained = JSON.parse(second.stdout || '{}') as { version?: string };
    const finalList = (await registry.list(DATASET)).map((m) => m.version);
    const row = table.record({
      area: 'crash (local)',
      input: `SIGKILL \`headstart train\` when version ${partial} started publishing (attempt ${attempts})`,
      expected: 'half-written version invisible; current unchanged; later train succeeds',
      observed: `half-written version ${visible ? 'VISIBLE' : 'invisible'}; current ${pointerAfter === before.pointer && JSON.stringify(versionsAfter) === JSON.stringify(before.versions) ? 'unchanged' : 'changed'}; later train ${second.code === 0 && finalList.at(-1) === trained.version ? 'succeeds' : `fails: ${second.stderr}`}`,
      detail: `left behind: ${leftovers.join(', ')} (${objectsListed.length} listed as objects); promote says: ${promote.stderr.trim()}`,
    });
    expect(row.observed).toBe(row.expected);
    expect(promote.stderr).toMatch(/no model version/);
    expect(finalList).toEqual([...before.versions, trained.version]);
  });
});

describe('an event lost between publishing a file and queueing it', () => {
  it('is queued again by the next runtime after a process that died without closing (and only then)', async () => {
    const home = path.join(sandbox, 'lost-event-home');
    const key = datasetObjectKey('lost', 'ants', 'orphan.jpg');
    // The file is published but its event never reaches the queue (headstart.db): no runtime listens.
    await new FsObjectStore(path.join(home, 'bucket')).put(key, (await hymenoptera('val', 'ants', 1, 55))[0]!.bytes);

    // A clean start (no crash marker) rescans nothing: status reads the index, not the bucket, so
    // the orphan stays unknown and unextracted.
    const afterCleanStart = await LocalRuntime.open({ ...localConfig({}), home }, { consume: true });
    await afterCleanStart.drain();
    const imagesWithoutCrash = (await afterCleanStart.index.counts('lost'))?.embedded ?? 0;
    const pendingWithoutCrash = await afterCleanStart.pendingFor('lost');
    await afterCleanStart.close();

    // The marker a killed process leaves behind (the pid of a process that has exited).
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(path.join(home, 'processes', `${dead}.killed`), '');
    const afterCrash = await LocalRuntime.open({ ...localConfig({}), home }, { consume: true });
    await afterCrash.drain();
    const status = await datasetStatus(afterCrash.apiContext(), 'lost');
    await afterCrash.close();
    const row = table.record({
      area: 'crash (local)',
      input: 'an upload published without its event (killed between the two writes)',
      expected: 'queued again after the crash; 0 lost',
      observed: status.images === 1 && status.pending === 0 ? 'queued again after the crash; 0 lost' : `${status.pending} pending, ${status.images} embedded`,
      detail: `after a clean start (no crash marker, nothing rescanned): ${imagesWithoutCrash} embedded, ${pendingWithoutCrash} pending; after the crash marker: ${status.images} embedded, ${status.pending} pending`,
    });
    expect({ images: imagesWithoutCrash, pending: pendingWithoutCrash }).toEqual({ images: 0, pending: 0 });
    expect(row.observed).toBe(row.expected);
    expect(readdirSync(path.join(home, 'processes'))).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('predictions while versions are promoted and rolled back', () => {
  const DATASET = 'swap';
  let server: RunningServer;
  let versions: [string, string];
  let images: Buffer[];

  beforeAll(async () => {
    const folder = path.join(sandbox, 'swap-upload');
    await writeLabelledFolder(folder, { ants: await hymenoptera('train', 'ants', 6, 80), bees: await hymenoptera('train', 'bees', 6, 80) });
    await upload(runtime, folder, DATASET);
    // Two heads that answer differently: weak and strong regularisation.
    const a = await runtime.train(DATASET, { lambdas: [1e-4], standalone: false, report: false });
    const b = await runtime.train(DATASET, { lambdas: [3], standalone: false, report: false });
    versions = [a.version, b.version];
    images = [...(await hymenoptera('val', 'ants', 2, 60)), ...(await hymenoptera('val', 'bees', 1, 60))].map((p) => p.bytes);
    server = await serve(runtime.apiContext(), { port: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('every answer names one version and carries exactly the probabilities that version computes', async () => {
    const registry = new ModelRegistry(runtime.store);
    // Offline reference, per version and image: the head file of that version on the same embedding.
    const expected = new Map<string, Map<string, number>[]>();
    const embeddings = [];
    for (const image of images) embeddings.push((await backbone.embedImages([image]))[0] as Float32Array);
    for (const version of versions) {
      const head = await HeadModel.load(await registry.file(DATASET, version, 'head.onnx'));
      const rows: Map<string, number>[] = [];
      for (const e of embeddings) {
        const p = await head.predict([e]);
        rows.push(new Map(head.labels.map((label, i) => [label, p[i] as number])));
      }
      expected.set(version, rows);
    }
    const separation = Math.max(...images.map((_, i) => Math.abs((expected.get(versions[0])![i]!.get('ants') ?? 0) - (expected.get(versions[1])![i]!.get('ants') ?? 0))));
    expect(separation, 'the two versions must answer differently for the check to mean anything').toBeGreaterThan(0.01);

    const responses: Array<{ image: number; status: number; json: Record<string, unknown> }> = [];
    let stop = false;
    const client = async (id: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const image = (id + n) % images.length;
        const r = await rawRequest(server.url, 'POST', `/datasets/${DATASET}/predict`, images[image], { 'content-type': 'image/jpeg' });
        responses.push({ image, status: r.status, json: r.json });
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    let switches = 0;
    for (let round = 0; round < 6; round++) {
      await registry.promote(DATASET, versions[0]);
      await new Promise((resolve) => setTimeout(resolve, 60));
      await registry.promote(DATASET, versions[1]);
      await new Promise((resolve) => setTimeout(resolve, 60));
      await registry.rollback(DATASET);
      await new Promise((resolve) => setTimeout(resolve, 60));
      switches += 3;
    }
    stop = true;
    await Promise.all(clients);

    const problems: string[] = [];
    const byVersion: Record<string, number> = {};
    for (const r of responses) {
      const version = String(r.json['model']);
      byVersion[version] = (byVersion[version] ?? 0) + 1;
      const reference = expected.get(version)?.[r.image];
      if (r.status !== 200 || reference === undefined) {
        problems.push(`${r.status} from ${version}: ${JSON.stringify(r.json).slice(0, 200)}`);
        continue;
      }
      for (const { label, probability } of r.json['top'] as Array<{ label: string; probability: number }>) {
        const diff = Math.abs(probability - (reference.get(label) ?? NaN));
        if (!(diff <= 1e-5)) problems.push(`image ${r.image} from ${version}: ${label} ${probability} vs ${reference.get(label)}`);
      }
    }
    const row = table.record({
      area: 'concurrency (local server)',
      input: `4 clients predicting while the current version switched ${switches} times (promote/rollback)`,
      expected: 'every answer computed by the version it names (probabilities within 1e-5); both versions served',
      observed: problems.length === 0 && Object.keys(byVersion).length === 2 ? 'every answer computed by the version it names (probabilities within 1e-5); both versions served' : `${problems.length} wrong: ${problems.slice(0, 3).join('; ')}; served ${JSON.stringify(byVersion)}`,
      detail: `${responses.length} answers: ${JSON.stringify(byVersion)}`,
    });
    expect(problems).toEqual([]);
    expect(row.observed).toBe(row.expected);
  });

  it('load smoke test: 60 requests, 4 at a time, on 127.0.0.1: zero errors', async () => {
    const figures = await runLoad({ url: server.url, dataset: DATASET, images, requests: 60, concurrency: 4, maxMs: 60_000 });
    const row = table.record({
      area: 'load (smoke)',
      input: '60 predictions, concurrency 4, loopback',
      expected: '60 answered, 0 errors',
      observed: `${figures.ok} answered, ${figures.errors} errors`,
      detail: `${figures.throughputPerSecond.toFixed(1)} req/s, p50 ${figures.p50Ms.toFixed(0)} ms, p99 ${figures.p99Ms.toFixed(0)} ms; peak RSS of this process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB${figures.errorSamples.length ? `; ${figures.errorSamples.join('; ')}` : ''}`,
    });
    expect(row.observed).toBe(row.expected);
  });
});
