/**
 * Bad input, table-driven: every row is an input, the outcome it must get and the outcome it got.
 * Each row is its own test (a mismatch fails the run) and the whole table is written to
 * test-results/reliability-bad-inputs.md.
 *
 * "Changes nothing else" is checked beside the rows: the good images extracted in the same batch
 * as the bad ones are embedded, a refused prediction leaves the bucket byte-identical, a refused
 * training run publishes nothing.
 *
 * One real backbone for the file; images come from ../shared (hymenoptera and the sample photos),
 * hostile files are made on the fly. Keys as S3 and moto_server spell them run through the real
 * extract Lambda handler on moto_server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../src/adapters/local/FsObjectStore.js';
import { homeDatabasePath, openHomeDatabase, type Sqlite } from '../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../src/adapters/local/SqliteDatasetIndex.js';
import type { DynamoDatasetIndex } from '../../src/adapters/aws/DynamoDatasetIndex.js';
import { S3ObjectStore } from '../../src/adapters/aws/S3ObjectStore.js';
import { parseS3EventMessage } from '../../src/adapters/aws/s3Events.js';
import { Backbone } from '../../src/backbone/Backbone.js';
import { datasetObjectKey, embeddingKey, isDatasetKey, sha256Hex } from '../../src/dataset/keys.js';
import type { ObjectRecord } from '../../src/dataset/records.js';
import { makeExtractHandler } from '../../src/edges/lambda/extractHandler.js';
import { isHeadstartError, describeError } from '../../src/errors.js';
import { LocalJobRunner } from '../../src/local/LocalJobRunner.js';
import { serve, type RunningServer } from '../../src/local/server.js';
import { extractObjects, type ExtractOutcome } from '../../src/pipeline/extract.js';
import { Predictor } from '../../src/pipeline/predict.js';
import { datasetStatus } from '../../src/pipeline/status.js';
import { trainDataset } from '../../src/pipeline/train.js';
import { extractByModality } from '../../src/pipeline/extractByModality.js';
import { trainTextDataset } from '../../src/pipeline/trainText.js';
import { validatedTextEmbedder } from '../../src/text/textEmbedders.js';
import { collectEntries } from '../../src/ports/DatasetIndex.js';
import type { ObjectEvent } from '../../src/ports/ObjectEvent.js';
import { listAll } from '../../src/ports/ObjectStore.js';
import { ModelRegistry } from '../../src/registry/ModelRegistry.js';
import { createExtractionResources, motoIndex, motoS3Client, motoSqsClient, startMoto, type ExtractionResources, type MotoServer } from '../helpers/moto.js';
import {
  cosine,
  digestDifferences,
  drainQueue,
  hymenoptera,
  receiveBatch,
  OutcomeTable,
  rawRequest,
  treeDigest,
  waitFor,
  type RawResponse,
  type SharedImage,
} from '../helpers/reliability.js';
import { imagesDir } from '../helpers/shared.js';
import { basePng, corruptPngCrc, pngDeclaring } from '../unit/image/variants.js';

const table = new OutcomeTable(
  'Reliability: bad inputs',
  'reliability-bad-inputs.md',
  'Written by `npx vitest run test/reliability/badInputs.test.ts`. Images go through extraction (one batch, with good images beside them) and through `POST /datasets/{name}/predict` on the local server; keys through the extract Lambda handler on moto_server; training through `trainDataset` (the core of the CLI, the local job runner and the Batch job).',
);

const FAST = { standalone: false, report: false } as const;

let home: string;
let store: FsObjectStore;
/** The home's database: the dataset index and the local jobs. */
let db: Sqlite;
let index: SqliteDatasetIndex;
let backbone: Backbone;
let predictor: Predictor;
let server: RunningServer;
let trap: http.Server;
let trapRequests = 0;
let trapUrl = '';
let eventId = 0;

/** Runs extraction for these keys in one batch, as one SQS/local-queue delivery would. */
async function extract(keys: readonly string[]): Promise<Map<string, ExtractOutcome>> {
  const events: ObjectEvent[] = keys.map((key) => ({ id: `e${eventId++}`, kind: 'created', key }));
  const result = await extractObjects(events, { store, index, embedder: backbone });
  return new Map(result.outcomes.map((o) => [o.key, o]));
}

async function putAll(entries: ReadonlyArray<readonly [string, Uint8Array | string]>): Promise<string[]> {
  for (const [key, bytes] of entries) await store.put(key, bytes);
  return entries.map(([key]) => key);
}

function labelled(dataset: string, label: string, images: readonly SharedImage[]): Array<readonly [string, Buffer]> {
  return images.map((image) => [datasetObjectKey(dataset, label, image.name), image.bytes] as const);
}

function describeOutcome(outcome: ExtractOutcome | undefined): string {
  if (outcome === undefined) return 'no outcome';
  return outcome.error ? `${outcome.status} ${outcome.error.code}` : outcome.status;
}

function describeResponse(r: RawResponse): string {
  return r.status === 200 ? '200' : `${r.status} ${String(r.json['code'])}`;
}

/** The error's message must name the problem: present, and not the generic 500 text. */
function specific(r: RawResponse): boolean {
  const message = r.json['error'];
  return r.status === 200 || (typeof message === 'string' && message.length > 10 && message !== 'internal error');
}

function predict(dataset: string, body: Uint8Array | string | undefined, contentType?: string): Promise<RawResponse> {
  return rawRequest(server.url, 'POST', `/datasets/${encodeURIComponent(dataset)}/predict`, body, contentType ? { 'content-type': contentType } : {});
}

async function bugsStatusText(): Promise<string> {
  return JSON.stringify(await datasetStatus({ store, index }, 'bugs'));
}

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'hs-bad-inputs-'));
  store = new FsObjectStore(path.join(home, 'bucket'));
  db = openHomeDatabase(homeDatabasePath(home));
  index = new SqliteDatasetIndex(db);
  backbone = await Backbone.load();
  predictor = new Predictor(store, backbone);

  // A trained dataset to predict against.
  const keys = await putAll([...labelled('bugs', 'ants', await hymenoptera('train', 'ants', 6)), ...labelled('bugs', 'bees', await hymenoptera('train', 'bees', 6))]);
  await extract(keys);
  await trainDataset({ store, index, backbone }, 'bugs', FAST);

  const jobs = new LocalJobRunner(db, (dataset) => trainDataset({ store, index, backbone }, dataset, FAST));
  server = await serve({ store, index, jobs, predictor: async () => predictor }, { port: 0 });

  // Anything an SVG makes a parser fetch lands here.
  trap = http.createServer((_req, res) => {
    trapRequests++;
    res.end();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
});

afterAll(async () => {
  const file = await table.write();
  console.log(`bad-input table: ${file} (${table.rows.length} rows, ${table.mismatches().length} mismatches)`);
  await server?.close();
  await new Promise((resolve) => trap?.close(resolve));
  await backbone?.release();
  db?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

// -------------------------------------------------------------------------------------------------

/** A GIF whose screen and only frame declare width x height, with a few bytes of pixel data. */
function gifDeclaring(width: number, height: number): Buffer {
  const header = Buffer.from('GIF89a', 'latin1');
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  screen[4] = 0x80; // global colour table of 2 entries
  const palette = Buffer.from([0, 0, 0, 255, 255, 255]);
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(width, 5);
  descriptor.writeUInt16LE(height, 7);
  const data = Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00]); // LZW min code size 2, one tiny block
  return Buffer.concat([header, screen, palette, descriptor, data, Buffer.from([0x3b])]);
}

interface ImageCase {
  input: string;
  file: string;
  contentType: string;
  bytes: () => Promise<Buffer>;
  /** What extraction must record: `embedded`, or `rejected <reason>`. */
  extraction: string;
  /** What the predict API must answer: `200`, or `<status> <code>`. */
  api: string;
}

let upright: Buffer;
let uprightPng: Buffer;
const caseBytes = new Map<string, Buffer>();

const svg = (): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg [<!ENTITY ext SYSTEM "${trapUrl}/entity">]>\n` +
  `<?xml-stylesheet href="${trapUrl}/style.css"?>\n` +
  `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="300" height="300">` +
  `<image xlink:href="${trapUrl}/pixel.png" href="${trapUrl}/pixel.png" width="300" height="300"/>` +
  `<use href="${trapUrl}/sprite.svg#a"/><text>&ext;</text></svg>`;

const IMAGE_CASES: ImageCase[] = [
  { input: 'empty file (0 bytes)', file: 'empty.jpg', contentType: 'image/jpeg', bytes: async () => Buffer.alloc(0), extraction: 'rejected empty_file', api: '400 empty_body' },
  { input: 'text file named .jpg', file: 'notes.jpg', contentType: 'image/jpeg', bytes: async () => Buffer.from('these are my notes, not a photo\n'), extraction: 'rejected not_an_image', api: '400 not_an_image' },
  {
    input: 'truncated JPEG (first half of dog.jpg)',
    file: 'truncated.jpg',
    contentType: 'image/jpeg',
    bytes: async () => {
      const { readFile } = await import('node:fs/promises');
      const dog = await readFile(path.join(imagesDir(), 'dog.jpg'));
      return dog.subarray(0, Math.floor(dog.length / 2));
    },
    extraction: 'rejected corrupt_image',
    api: '400 corrupt_image',
  },
  { input: 'PNG with a corrupt IDAT CRC', file: 'crc.png', contentType: 'image/png', bytes: async () => corruptPngCrc(uprightPng), extraction: 'rejected corrupt_image', api: '400 corrupt_image' },
  { input: 'decompression bomb: 600-byte PNG declaring 30000x30000', file: 'bomb.png', contentType: 'image/png', bytes: () => pngDeclaring(30000, 30000), extraction: 'rejected too_many_pixels', api: '413 too_many_pixels' },
  { input: 'GIF declaring 65000x65000 (screen and frame)', file: 'huge.gif', contentType: 'image/gif', bytes: async () => gifDeclaring(65000, 65000), extraction: 'rejected too_many_pixels', api: '413 too_many_pixels' },
  {
    input: 'animated GIF (photo, then a red frame)',
    file: 'animated.gif',
    contentType: 'image/gif',
    bytes: async () => {
      const { width, height } = await sharp(uprightPng).metadata();
      const red = await sharp({ create: { width: width!, height: height!, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
      return sharp([uprightPng, red], { join: { animated: true } }).gif().toBuffer();
    },
    extraction: 'embedded',
    api: '200',
  },
  { input: '16-bit PNG', file: 'deep.png', contentType: 'image/png', bytes: () => sharp(uprightPng).toColourspace('rgb16').png().toBuffer(), extraction: 'embedded', api: '200' },
  { input: 'CMYK JPEG', file: 'cmyk.jpg', contentType: 'image/jpeg', bytes: () => sharp(uprightPng).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(), extraction: 'embedded', api: '200' },
  { input: 'greyscale with alpha PNG', file: 'grey-alpha.png', contentType: 'image/png', bytes: () => sharp(uprightPng).toColourspace('b-w').ensureAlpha(0.5).png().toBuffer(), extraction: 'embedded', api: '200' },
  { input: 'SVG referencing an image, a stylesheet, a sprite and an external entity on 127.0.0.1', file: 'trap.svg', contentType: 'image/svg+xml', bytes: async () => Buffer.from(svg()), extraction: 'rejected unsupported_format', api: '415 unsupported_format' },
  {
    input: 'EXIF-rotated JPEG (stored 90° turned, orientation 6)',
    file: 'exif6.jpg',
    contentType: 'image/jpeg',
    bytes: () => sharp(uprightPng).rotate(-90).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer(),
    extraction: 'embedded',
    api: '200',
  },
  {
    input: 'JPEG padded to 50 MB + 1 byte',
    file: 'huge.jpg',
    contentType: 'image/jpeg',
    bytes: async () => {
      const big = Buffer.alloc(50 * 1024 * 1024 + 1);
      upright.copy(big);
      return big;
    },
    extraction: 'rejected too_large',
    // The API's body limit (10 MB, API Gateway's) is met first.
    api: '413 payload_too_large',
  },
];

const imageOutcomes = new Map<string, ExtractOutcome>();
const goodNeighbours: string[] = [];

describe('images', () => {
  beforeAll(async () => {
    uprightPng = await basePng('chelsea.png');
    upright = await sharp(uprightPng).jpeg({ quality: 95 }).toBuffer();
    for (const c of IMAGE_CASES) caseBytes.set(c.file, await c.bytes());
    // Bad and good images in one batch: the bad ones must not stop the good ones.
    const neighbours = [...labelled('images', 'ants', await hymenoptera('val', 'ants', 1)), ...labelled('images', 'bees', await hymenoptera('val', 'bees', 1))];
    goodNeighbours.push(...neighbours.map(([key]) => key));
    const keys = await putAll([
      ...neighbours,
      ['datasets/images/cat/upright.jpg', upright],
      ...IMAGE_CASES.map((c) => [`datasets/images/cat/${c.file}`, caseBytes.get(c.file) as Buffer] as const),
    ]);
    for (const [key, outcome] of await extract(keys)) imageOutcomes.set(key, outcome);
  });

  it.each(IMAGE_CASES.map((c) => [c.input, c] as const))('extraction: %s', async (_name, c) => {
    const outcome = imageOutcomes.get(`datasets/images/cat/${c.file}`);
    const row = table.record({ area: 'images: extraction', input: c.input, expected: c.extraction, observed: describeOutcome(outcome), detail: outcome?.error?.message ?? '' });
    expect(row.observed).toBe(row.expected);
    if (outcome?.error) expect(outcome.error.message.length).toBeGreaterThan(10);
  });

  it('embeds the good images of the same batch, and writes no embedding for a refused image', async () => {
    const outcomes = goodNeighbours.map((key) => describeOutcome(imageOutcomes.get(key)));
    const status = await datasetStatus({ store, index }, 'images');
    const accepted = IMAGE_CASES.filter((c) => c.extraction === 'embedded').length + 1; // + upright.jpg
    const row = table.record({
      area: 'images: extraction',
      input: 'good photos in the same batch as every bad file',
      expected: 'all embedded; refused files have a record with the reason and no embedding',
      observed:
        outcomes.every((o) => o === 'embedded') && status.images === accepted + goodNeighbours.length && status.failures.length === IMAGE_CASES.length - accepted + 1
          ? 'all embedded; refused files have a record with the reason and no embedding'
          : `neighbours ${outcomes.join(', ')}; ${status.images} images, ${status.failures.length} failures`,
      detail: `${status.images} embedded, ${status.failures.length} refused with a recorded reason, ${status.pending} pending`,
    });
    expect(row.observed).toBe(row.expected);
    for (const c of IMAGE_CASES.filter((x) => x.extraction !== 'embedded')) {
      const bytes = caseBytes.get(c.file) as Buffer;
      expect(await store.head(embeddingKey(backbone.id, sha256Hex(bytes)))).toBeUndefined();
    }
  });

  it.each(IMAGE_CASES.map((c) => [c.input, c] as const))('predict API: %s', async (_name, c) => {
    const r = await predict('bugs', caseBytes.get(c.file), c.contentType);
    const row = table.record({ area: 'images: predict API', input: c.input, expected: c.api, observed: describeResponse(r), detail: r.status === 200 ? `label ${String(r.json['label'])} from ${String(r.json['model'])}` : String(r.json['error']) });
    expect(row.observed).toBe(row.expected);
    expect(specific(r)).toBe(true);
  });

  it('uses the first frame of an animated GIF, and rotates an EXIF-rotated photo upright', async () => {
    const [reference, gif, red, exif, sideways, deep, cmyk] = (await backbone.embedImages([
      upright,
      caseBytes.get('animated.gif') as Buffer,
      await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer(),
      caseBytes.get('exif6.jpg') as Buffer,
      await sharp(uprightPng).rotate(-90).jpeg({ quality: 95 }).toBuffer(),
      caseBytes.get('deep.png') as Buffer,
      caseBytes.get('cmyk.jpg') as Buffer,
    ])) as Float32Array[];
    const checks: Array<[string, number, number, string]> = [
      // [input, similarity, threshold, what the threshold means]
      ['animated GIF: cosine(first frame, the photo)', cosine(gif!, reference!), 0.95, 'first frame used'],
      ['animated GIF: cosine(first frame, the red frame)', cosine(gif!, red!), -1, ''],
      ['EXIF-rotated: cosine(embedding, upright photo)', cosine(exif!, reference!), 0.99, 'rotated upright'],
      ['16-bit PNG: cosine(embedding, 8-bit photo)', cosine(deep!, reference!), 0.99, 'same picture'],
      ['CMYK JPEG: cosine(embedding, RGB photo)', cosine(cmyk!, reference!), 0.95, 'same picture'],
    ];
    const sidewaysCosine = cosine(sideways!, reference!);
    for (const [input, value, threshold, meaning] of checks) {
      if (threshold < 0) continue;
      const row = table.record({ area: 'images: content', input, expected: meaning, observed: value > threshold ? meaning : `only ${value.toFixed(4)}`, detail: `cosine ${value.toFixed(4)} (threshold ${threshold})` });
      expect(row.observed).toBe(row.expected);
    }
    // The checks can fail: the same photo turned without EXIF, and the red frame, are far away.
    expect(cosine(gif!, reference!)).toBeGreaterThan(cosine(gif!, red!) + 0.2);
    expect(cosine(exif!, reference!)).toBeGreaterThan(sidewaysCosine + 0.02);
    table.record({ area: 'images: content', input: 'control: the photo turned 90° without EXIF vs upright', expected: 'far (rotation matters)', observed: sidewaysCosine < 0.98 ? 'far (rotation matters)' : 'close', detail: `cosine ${sidewaysCosine.toFixed(4)}` });
  });

  it('fetched nothing for the SVG (0 requests to its 127.0.0.1 references)', async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const row = table.record({ area: 'images: extraction', input: 'SVG external references after extraction and predict', expected: '0 requests', observed: `${trapRequests} requests` });
    expect(row.observed).toBe(row.expected);
  });
});

// -------------------------------------------------------------------------------------------------

interface LocalNameCase {
  input: string;
  run: () => unknown;
  expected: string;
}

const LOCAL_NAME_CASES: LocalNameCase[] = [
  { input: 'dataset ".."', run: () => datasetObjectKey('..', 'ants', 'a.jpg'), expected: 'refused invalid_name' },
  { input: 'dataset "a/b" (separator)', run: () => datasetObjectKey('a/b', 'ants', 'a.jpg'), expected: 'refused invalid_name' },
  { input: 'dataset "/abs" (leading slash)', run: () => datasetObjectKey('/abs', 'ants', 'a.jpg'), expected: 'refused invalid_name' },
  { input: 'label "a\\b" (backslash)', run: () => datasetObjectKey('ds', 'a\\b', 'a.jpg'), expected: 'refused invalid_name' },
  { input: 'dataset of 101 bytes (limit 100)', run: () => datasetObjectKey('d'.repeat(101), 'ants', 'a.jpg'), expected: 'refused invalid_name' },
  { input: 'label of 201 bytes (limit 200)', run: () => datasetObjectKey('ds', 'é'.repeat(100) + 'x', 'a.jpg'), expected: 'refused invalid_name' },
  { input: 'file name of 256 bytes (limit 255)', run: () => datasetObjectKey('ds', 'ants', `${'f'.repeat(252)}.jpg`), expected: 'refused invalid_name' },
  { input: 'label with spaces, brackets and Unicode "my [ant] (café) 🐜"', run: () => datasetObjectKey('ds', 'my [ant] (café) 🐜', 'a.jpg'), expected: 'accepted' },
  { input: 'label in NFD "cafe\\u0301" (macOS spelling)', run: () => datasetObjectKey('ds', 'cafe\u0301', 'a.jpg') === datasetObjectKey('ds', 'café', 'a.jpg'), expected: 'accepted' },
  { input: 'folder store: put datasets/ds/../x.jpg', run: () => store.put('datasets/ds/../x.jpg', 'x'), expected: 'refused invalid_name' },
  { input: 'folder store: put /datasets/ds/a/x.jpg', run: () => store.put('/datasets/ds/a/x.jpg', 'x'), expected: 'refused invalid_name' },
];

describe('keys and names: local', () => {
  it.each(LOCAL_NAME_CASES.map((c) => [c.input, c] as const))('%s', async (_name, c) => {
    let observed: string;
    let detail = '';
    try {
      const value = await c.run();
      observed = value === false ? 'accepted but spelled differently' : 'accepted';
      detail = typeof value === 'string' ? value : '';
    } catch (error) {
      observed = `refused ${isHeadstartError(error) ? error.code : 'unexpected'}`;
      detail = describeError(error);
    }
    const row = table.record({ area: 'keys and names: local', input: c.input, expected: c.expected, observed, detail });
    expect(row.observed).toBe(row.expected);
  });

  it('left nothing outside the bucket and no stray object from the refused puts', async () => {
    expect((await listAll(store, 'datasets/ds/')).length).toBe(0);
  });
});

// -------------------------------------------------------------------------------------------------

interface S3KeyCase {
  input: string;
  /** The S3 key uploaded (PutObject; moto sends its own notification). */
  key: string;
  /** Also delivered as real S3 spells the key in a notification ('/' kept, '+' for space). */
  s3Encoded?: boolean;
  /** Delivered only as a hand-made notification (moto's prefix filter would not send one). */
  manualOnly?: boolean;
  expected: string;
}

const S3_KEY_CASES: S3KeyCase[] = [
  { input: 'dataset and label with spaces (moto: "+" and %2F)', key: 'datasets/my ds/my label/a.jpg', expected: 'embedded as dataset "my ds", label "my label"' },
  { input: 'same key as real S3 encodes it ("/" kept, "+" for space)', key: 'datasets/my ds/my label/b.jpg', s3Encoded: true, expected: 'embedded as dataset "my ds", label "my label"' },
  { input: 'file name with a literal "+" (arrives as %2B)', key: 'datasets/my ds/my label/a+b c.jpg', s3Encoded: true, expected: 'embedded as dataset "my ds", label "my label"' },
  { input: 'label with brackets "[x] (y)"', key: 'datasets/names/[x] (y)/c.jpg', expected: 'embedded as dataset "names", label "[x] (y)"' },
  { input: 'Unicode dataset and label (NFC)', key: 'datasets/données/café 🐝/d.jpg', expected: 'embedded as dataset "données", label "café 🐝"' },
  { input: 'label uploaded in NFD ("cafe\\u0301", as macOS spells it)', key: 'datasets/names/cafe\u0301/e.jpg', expected: 'embedded as dataset "names", label "café"' },
  { input: 'label ".." (datasets/names/../f.jpg)', key: 'datasets/names/../f.jpg', expected: 'rejected invalid_name' },
  { input: 'label "%2e%2e" (literal, not decoded twice)', key: 'datasets/names/%2e%2e/g.jpg', expected: 'embedded as dataset "names", label "%2e%2e"' },
  { input: 'label with a backslash "a\\b"', key: 'datasets/names/a\\b/h.jpg', expected: 'rejected invalid_name' },
  { input: 'empty label segment (datasets/names//i.jpg)', key: 'datasets/names//i.jpg', expected: 'rejected invalid_name' },
  { input: 'label of 201 bytes', key: `datasets/names/${'l'.repeat(201)}/j.jpg`, expected: 'rejected invalid_name' },
  { input: 'dataset of 101 bytes', key: `datasets/${'d'.repeat(101)}/x/k.jpg`, expected: 'rejected invalid_name' },
  { input: 'dataset "_reserved"', key: 'datasets/_reserved/x/l.jpg', expected: 'rejected invalid_name' },
  { input: 'wrong depth: datasets/names/m.jpg (no label)', key: 'datasets/names/m.jpg', expected: 'rejected invalid_name' },
  { input: 'wrong depth: datasets/names/a/b/n.jpg (nested)', key: 'datasets/names/a/b/n.jpg', expected: 'rejected invalid_name' },
  { input: 'outside datasets/ (uploads/x/o.jpg)', key: 'uploads/x/o.jpg', manualOnly: true, expected: 'ignored' },
  { input: 'leading slash (/datasets/names/x/p.jpg)', key: '/datasets/names/x/p.jpg', manualOnly: true, expected: 'ignored' },
];

describe('keys and names: S3 keys through the extract Lambda handler (moto_server)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let sqs: SQSClient;
  let resources: ExtractionResources;
  let s3Store: S3ObjectStore;
  let s3Index: DynamoDatasetIndex;
  const records = new Map<string, ObjectRecord>();
  const photos: Buffer[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    s3 = motoS3Client(moto.endpoint);
    sqs = motoSqsClient(moto.endpoint);
    resources = await createExtractionResources(s3, sqs, { visibilityTimeoutSeconds: 2 });
    s3Store = new S3ObjectStore(s3, resources.bucket);
    s3Index = await motoIndex(moto.endpoint);
    const logger = new Logger({ serviceName: 'bad-inputs', logLevel: 'CRITICAL' });
    const handler = makeExtractHandler({ store: s3Store, index: s3Index, embedder: async () => backbone, logger });
    const context = { functionName: 'extract', awsRequestId: 'bad-inputs' } as unknown as Context;

    photos.push(...(await hymenoptera('val', 'ants', S3_KEY_CASES.length, 5)).map((p) => p.bytes));
    for (const [i, c] of S3_KEY_CASES.entries()) {
      await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: c.key, Body: photos[i], ContentType: 'image/jpeg' }));
      if (c.s3Encoded || c.manualOnly) {
        // S3's spelling: form encoding of each segment, '/' kept, space as '+'.
        const encoded = c.key.split('/').map((s) => encodeURIComponent(s).replace(/%20/g, '+')).join('/');
        const body = JSON.stringify({ Records: [{ eventVersion: '2.1', eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: resources.bucket }, object: { key: encoded, size: photos[i]!.length } } }] });
        expect(parseS3EventMessage({ messageId: 'm', body })).toEqual({ events: [{ id: 'm', kind: 'created', key: c.key }] });
        await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: body }));
      }
    }
    await drainQueue(sqs, resources.queueUrl, resources.queueArn, (event) => handler(event, context), 60_000);
    // Every index entry: those of each dataset, and those of keys that belong to no dataset.
    for (const ds of await s3Index.datasets()) for (const r of await collectEntries(s3Index, ds)) records.set(r.key, r);
    for (const r of await collectEntries(s3Index, undefined)) records.set(r.key, r);
  });

  afterAll(async () => {
    s3?.destroy();
    sqs?.destroy();
    await moto?.stop();
  });

  it.each(S3_KEY_CASES.map((c) => [c.input, c] as const))('%s', async (_name, c) => {
    const record = records.get(c.key.normalize('NFC'));
    let observed: string;
    if (record === undefined) observed = isDatasetKey(c.key) ? 'no record' : 'ignored';
    else if (record.error) observed = `rejected ${record.error.code}`;
    else observed = `embedded as dataset ${JSON.stringify(record.dataset)}, label ${JSON.stringify(record.label)}`;
    const row = table.record({ area: 'keys and names: S3 (moto)', input: c.input, expected: c.expected, observed, detail: record?.error?.message ?? (record ? `key ${JSON.stringify(record.key)}` : 'no record written') });
    expect(row.observed).toBe(row.expected);
    if (observed === 'ignored') expect(isDatasetKey(c.key)).toBe(false);
  });

  it('leaves no message in the dead-letter queue and nothing pending: every key got its outcome on the first delivery', async () => {
    const dead = await receiveBatch(sqs, resources.dlqUrl);
    const status = await datasetStatus({ store: s3Store, index: s3Index }, 'names');
    const row = table.record({
      area: 'keys and names: S3 (moto)',
      input: 'after all the keys above',
      expected: 'DLQ empty, nothing pending, every refused key listed in status',
      observed: dead.length === 0 && status.pending === 0 ? 'DLQ empty, nothing pending, every refused key listed in status' : `${dead.length} dead letters, ${status.pending} pending`,
      detail: `status "names": ${JSON.stringify(status.labels)}, ${status.failures.length} failures`,
    });
    expect(row.observed).toBe(row.expected);
  });
});

// -------------------------------------------------------------------------------------------------

interface ApiCase {
  input: string;
  method: string;
  path: string;
  body?: Uint8Array | string;
  contentType?: string;
  expected: string;
}

describe('API', () => {
  let before: Map<string, string>;
  let statusBefore: string;
  let photo: Buffer;

  const cases = (): ApiCase[] => [
    { input: 'JPEG bytes sent as text/plain', method: 'POST', path: '/datasets/bugs/predict', body: photo, contentType: 'text/plain', expected: '400 binary_file' },
    { input: 'JPEG bytes with no content type', method: 'POST', path: '/datasets/bugs/predict', body: photo, expected: '415 unsupported_media_type' },
    { input: 'JSON {"image": "not base64!!"}', method: 'POST', path: '/datasets/bugs/predict', body: '{"image": "not base64!!"}', contentType: 'application/json', expected: '400 invalid_base64' },
    { input: 'JSON {"foo":1} sent as image/png', method: 'POST', path: '/datasets/bugs/predict', body: '{"foo":1}', contentType: 'image/png', expected: '400 not_an_image' },
    { input: 'JSON without "image": {"foo":1}', method: 'POST', path: '/datasets/bugs/predict', body: '{"foo":1}', contentType: 'application/json', expected: '400 missing_image' },
    { input: 'JSON {"image": 42}', method: 'POST', path: '/datasets/bugs/predict', body: '{"image": 42}', contentType: 'application/json', expected: '400 missing_image' },
    { input: 'malformed JSON', method: 'POST', path: '/datasets/bugs/predict', body: '{"image": ', contentType: 'application/json', expected: '400 invalid_json' },
    { input: 'JSON with base64 of a text file', method: 'POST', path: '/datasets/bugs/predict', body: JSON.stringify({ image: Buffer.from('hello, not an image').toString('base64') }), contentType: 'application/json', expected: '400 not_an_image' },
    { input: 'empty body', method: 'POST', path: '/datasets/bugs/predict', body: '', contentType: 'image/jpeg', expected: '400 empty_body' },
    { input: 'body of 11 MB (limit 10 MB)', method: 'POST', path: '/datasets/bugs/predict', body: Buffer.alloc(11 * 1024 * 1024, 1), contentType: 'image/jpeg', expected: '413 payload_too_large' },
    { input: 'unknown dataset', method: 'POST', path: '/datasets/no-such-dataset/predict', body: photo, contentType: 'image/jpeg', expected: '404 dataset_not_found' },
    { input: 'dataset with images but no model yet', method: 'POST', path: '/datasets/images/predict', body: photo, contentType: 'image/jpeg', expected: '404 model_not_found' },
    { input: 'current version trained on another backbone (model.json names it)', method: 'POST', path: '/datasets/other-backbone/predict', body: photo, contentType: 'image/jpeg', expected: '409 backbone_mismatch' },
    { input: 'dataset name ".." (%2e%2e)', method: 'POST', path: '/datasets/%2e%2e/predict', body: photo, contentType: 'image/jpeg', expected: '400 invalid_name' },
    { input: 'broken percent-encoding in the path', method: 'GET', path: '/datasets/%E0%A4%A', expected: '400 bad_request' },
    { input: 'unknown route GET /nope', method: 'GET', path: '/nope', expected: '404 route_not_found' },
    { input: 'unknown route POST /datasets/bugs/delete', method: 'POST', path: '/datasets/bugs/delete', expected: '404 route_not_found' },
    { input: 'wrong method DELETE /datasets/bugs/predict', method: 'DELETE', path: '/datasets/bugs/predict', expected: '405 method_not_allowed' },
    { input: 'wrong method GET /datasets/bugs/predict', method: 'GET', path: '/datasets/bugs/predict', expected: '405 method_not_allowed' },
    { input: 'unknown job id', method: 'GET', path: '/jobs/job-nope', expected: '404 job_not_found' },
    { input: 'GET an unknown dataset', method: 'GET', path: '/datasets/no-such-dataset', expected: '404 dataset_not_found' },
  ];

  beforeAll(async () => {
    photo = (await hymenoptera('val', 'bees', 1, 3))[0]!.bytes;
    // A version whose model.json names another backbone, made current.
    const registry = new ModelRegistry(store);
    const bugs = (await registry.current('bugs'))!;
    const { version: _v, dataset: _d, createdAt: _c, ...manifest } = bugs;
    await registry.publish(
      'other-backbone',
      { ...manifest, backbone: { ...manifest.backbone, id: 'resnet50-v1@0123456789abcdef', name: 'resnet50-v1' } },
      { 'head.onnx': await registry.file('bugs', bugs.version, 'head.onnx') },
    );
    before = await treeDigest(path.join(home, 'bucket'));
    statusBefore = await bugsStatusText();
  });

  it('table', async () => {
    // One test per row would reorder them in the report; run them in order and collect mismatches.
    const failures: string[] = [];
    for (const c of cases()) {
      const r = await rawRequest(server.url, c.method, c.path, c.body, c.contentType ? { 'content-type': c.contentType } : {});
      const row = table.record({ area: 'API', input: `${c.method} ${c.path}: ${c.input}`, expected: c.expected, observed: describeResponse(r), detail: String(r.json['error'] ?? '') });
      if (row.observed !== row.expected) failures.push(`${row.input}: expected ${row.expected}, got ${row.observed} (${row.detail})`);
      if (!specific(r)) failures.push(`${row.input}: unspecific error ${r.text}`);
      if (c.expected.startsWith('405') && !r.headers['allow']) failures.push(`${row.input}: 405 without an Allow header`);
    }
    expect(failures).toEqual([]);
  });

  it('a refused request changes nothing: bucket byte-identical, dataset status byte-identical, a good request still works', async () => {
    const changes = digestDifferences(await treeDigest(path.join(home, 'bucket')), before);
    const statusAfter = await bugsStatusText();
    const good = await predict('bugs', photo, 'image/jpeg');
    const row = table.record({
      area: 'API',
      input: 'after every refused image and request above',
      expected: 'bucket and status unchanged; a good request answers 200',
      observed: changes.length === 0 && statusAfter === statusBefore && good.status === 200 ? 'bucket and status unchanged; a good request answers 200' : `changes: ${changes.join(', ')}; status ${statusAfter === statusBefore ? 'same' : 'changed'}; good ${good.status}`,
      detail: `${before.size} files compared`,
    });
    expect(row.observed).toBe(row.expected);
  });
});

// -------------------------------------------------------------------------------------------------

describe('training', () => {
  let registry: ModelRegistry;
  beforeAll(() => {
    registry = new ModelRegistry(store);
  });

  /** Trains and says what happened, and whether anything was published for a refused run. */
  async function attempt(dataset: string, trainer: Parameters<typeof trainDataset>[0] = { store, index, backbone }): Promise<{ observed: string; detail: string; manifest?: Awaited<ReturnType<typeof trainDataset>> }> {
    const before = await treeDigest(path.join(home, 'bucket', 'models', dataset));
    try {
      const manifest = await trainDataset(trainer, dataset, FAST);
      return { observed: 'trained', detail: `version ${manifest.version}`, manifest };
    } catch (error) {
      const written = digestDifferences(await treeDigest(path.join(home, 'bucket', 'models', dataset)), before);
      const code = isHeadstartError(error) ? error.code : 'unexpected';
      return { observed: `refused ${code}${written.length > 0 ? `, but wrote model files: ${written.join(', ')}` : ''}`, detail: describeError(error) };
    }
  }

  it('a dataset with one label: refused, nothing published', async () => {
    await extract(await putAll(labelled('one-label', 'ants', await hymenoptera('train', 'ants', 3))));
    const result = await attempt('one-label');
    const row = table.record({ area: 'training', input: 'one label (3 ants)', expected: 'refused training_data', observed: result.observed, detail: result.detail });
    expect(row.observed).toBe(row.expected);
    expect(result.detail).toMatch(/only one label/);
  });

  it('a label with one image: refused, naming the label', async () => {
    await extract(await putAll([...labelled('one-image', 'ants', await hymenoptera('train', 'ants', 3)), ...labelled('one-image', 'bees', await hymenoptera('train', 'bees', 1))]));
    const result = await attempt('one-image');
    const row = table.record({ area: 'training', input: '3 ants, 1 bee', expected: 'refused training_data', observed: result.observed, detail: result.detail });
    expect(row.observed).toBe(row.expected);
    expect(result.detail).toMatch(/"bees".*fewer than 2/);
  });

  it('40 ants vs 2 bees: trains, with a class-balanced loss the minority is still recognised', async () => {
    await extract(await putAll([...labelled('unbalanced', 'ants', await hymenoptera('train', 'ants', 40)), ...labelled('unbalanced', 'bees', await hymenoptera('train', 'bees', 2))]));
    const result = await attempt('unbalanced');
    const m = result.manifest;
    const bees = m?.metrics.perClass['bees'];
    // Out-of-fold: each bee was predicted by a head that never saw it. A loss that ignores the
    // imbalance settles for "always ants" (95% accuracy) and recalls no bee.
    const observed = m === undefined ? result.observed : bees && bees.recall > 0 ? 'trained; minority recognised (out-of-fold bee recall > 0)' : 'trained; minority ignored';
    const row = table.record({
      area: 'training',
      input: '40 ants vs 2 bees',
      expected: 'trained; minority recognised (out-of-fold bee recall > 0)',
      observed,
      detail: m ? `imagesPerLabel ${JSON.stringify(m.training.imagesPerLabel)}, bee recall ${bees?.recall}, balanced accuracy ${m.validation?.balancedAccuracy}` : result.detail,
    });
    expect(row.observed).toBe(row.expected);
    expect(m?.training.imagesPerLabel).toEqual({ ants: 40, bees: 2 });
  });

  it('the same image under two labels: both copies left out as a conflict (data.excluded), training goes on', async () => {
    const ants = await hymenoptera('train', 'ants', 4);
    const bees = await hymenoptera('train', 'bees', 4);
    await extract(await putAll([...labelled('conflict', 'ants', ants), ...labelled('conflict', 'bees', [...bees, { name: 'really-a-bee.jpg', bytes: ants[0]!.bytes }])]));
    const result = await attempt('conflict');
    const excluded = result.manifest?.data.excluded ?? [];
    const conflicts = excluded.filter((e) => e.reason.startsWith('conflict'));
    const expectedKeys = [datasetObjectKey('conflict', 'ants', ants[0]!.name), datasetObjectKey('conflict', 'bees', 'really-a-bee.jpg')].sort();
    const observed = result.manifest === undefined ? result.observed : conflicts.map((c) => c.key).sort().join(',') === expectedKeys.join(',') ? 'trained on 7; both copies excluded as a conflict' : `trained; excluded ${JSON.stringify(excluded)}`;
    const row = table.record({ area: 'training', input: 'ants[0] also uploaded as bees/really-a-bee.jpg', expected: 'trained on 7; both copies excluded as a conflict', observed, detail: conflicts[0]?.reason ?? result.detail });
    expect(row.observed).toBe(row.expected);
    expect(result.manifest?.data.images).toBe(7);
  });

  it('uploaded but not extracted yet (no records, no cached embeddings): refused', async () => {
    await putAll([...labelled('not-extracted', 'ants', await hymenoptera('val', 'ants', 2, 20)), ...labelled('not-extracted', 'bees', await hymenoptera('val', 'bees', 2, 20))]);
    const result = await attempt('not-extracted');
    const row = table.record({ area: 'training', input: '4 images uploaded, extraction not run yet', expected: 'refused training_data', observed: result.observed, detail: result.detail });
    expect(row.observed).toBe(row.expected);
    expect(result.detail).toMatch(/no cached embeddings/);
  });

  it('extracted with one backbone, trained with another: refused (a head never mixes backbones)', async () => {
    const other = { id: 'mobilenetv2-12-int8@cc028fe6cae7bc11', spec: backbone.spec, embeddingOutput: backbone.embeddingOutput, modelBytes: () => backbone.modelBytes(), embedImages: (images: Uint8Array[]) => backbone.embedImages(images) };
    const result = await attempt('bugs', { store, index, backbone: other });
    const row = table.record({ area: 'training', input: 'trainer on another backbone than the cached embeddings', expected: 'refused training_data', observed: result.observed, detail: result.detail });
    expect(row.observed).toBe(row.expected);
  });

  it('through the API: an unknown dataset is 404; a one-label dataset gives a failed job with the reason', async () => {
    const unknown = await rawRequest(server.url, 'POST', '/datasets/never-uploaded/train');
    table.record({ area: 'training', input: 'POST /datasets/never-uploaded/train', expected: '404 dataset_not_found', observed: describeResponse(unknown), detail: String(unknown.json['error']) });
    expect(describeResponse(unknown)).toBe('404 dataset_not_found');

    const submitted = await rawRequest(server.url, 'POST', '/datasets/one-label/train');
    expect(submitted.status).toBe(202);
    const id = String(submitted.json['jobId']);
    let job: RawResponse = submitted;
    await waitFor('the job to finish', async () => {
      job = await rawRequest(server.url, 'GET', `/jobs/${id}`);
      return job.json['status'] === 'succeeded' || job.json['status'] === 'failed';
    });
    const observed = `job ${String(job.json['status'])}${/only one label/.test(String(job.json['error'])) ? ', error names the cause' : ''}`;
    const row = table.record({ area: 'training', input: 'POST /datasets/one-label/train', expected: 'job failed, error names the cause', observed, detail: String(job.json['error']) });
    expect(row.observed).toBe(row.expected);
    expect(await registry.list('one-label')).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------
// Texts: `.txt` objects through extraction by modality (as the local runtime and the Lambda run
// it), and text bodies through `POST /datasets/{name}/predict` against a trained text dataset.

interface TextCase {
  input: string;
  file: string;
  bytes: () => Buffer;
  /** What extraction must record: `embedded`, or `rejected <reason>`. */
  extraction: string;
  /** What the predict API must answer to this body as text/plain: `200`, or `<status> <code>`. */
  api: string;
}

const TEXT_CASES: TextCase[] = [
  { input: 'empty .txt (0 bytes)', file: 'empty.txt', bytes: () => Buffer.alloc(0), extraction: 'rejected empty_text', api: '400 empty_text' },
  { input: 'whitespace-only .txt', file: 'blank.txt', bytes: () => Buffer.from(' \n\t \r\n'), extraction: 'rejected empty_text', api: '400 empty_text' },
  { input: 'invalid UTF-8 (Latin-1 bytes)', file: 'latin1.txt', bytes: () => Buffer.from('caf\xe9 cr\xe8me', 'latin1'), extraction: 'rejected invalid_utf8', api: '400 invalid_utf8' },
  { input: 'a PNG named .txt', file: 'photo.txt', bytes: () => uprightPng, extraction: 'rejected binary_file', api: '400 binary_file' },
  { input: 'text of 64 KB + 1 byte', file: 'long.txt', bytes: () => Buffer.alloc(64 * 1024 + 1, 'a'), extraction: 'rejected text_too_large', api: '413 text_too_large' },
  { input: 'UTF-8 with a BOM and decomposed accents', file: 'bom.txt', bytes: () => Buffer.from('\uFEFFcafe\u0301 card never arrived', 'utf8'), extraction: 'embedded', api: '200' },
  { input: 'Japanese, no spaces', file: 'ja.txt', bytes: () => Buffer.from('カードがまだ届きません', 'utf8'), extraction: 'embedded', api: '200' },
];

describe('texts', () => {
  const outcomes = new Map<string, ExtractOutcome>();
  const texts = async (keys: readonly string[]): Promise<void> => {
    const events: ObjectEvent[] = keys.map((key) => ({ id: `e${eventId++}`, kind: 'created', key }));
    const result = await extractByModality(events, { store, index }, { image: async () => backbone, text: async () => validatedTextEmbedder });
    for (const o of result.outcomes) outcomes.set(o.key, o);
  };
  beforeAll(async () => {
    uprightPng ??= await basePng('chelsea.png');
    const good: Array<readonly [string, string]> = [
      ['card', 'my card has not arrived'], ['card', 'when will my card come'], ['card', 'card still not delivered'],
      ['topup', 'top up failed'], ['topup', 'my top up did not work'], ['topup', 'cannot top up my account'],
    ];
    await texts(await putAll(good.map(([label, text], i) => [datasetObjectKey('texts', label, `good-${i}.txt`), text] as const)));
    await texts(await putAll(TEXT_CASES.map((c) => [datasetObjectKey('texts', 'card', c.file), c.bytes()] as const)));
    await trainTextDataset({ store, index }, 'texts', { folds: 2 });
  });

  it.each(TEXT_CASES.map((c) => [c.input, c] as const))('extraction: %s', async (_name, c) => {
    const outcome = outcomes.get(datasetObjectKey('texts', 'card', c.file));
    const row = table.record({ area: 'texts: extraction', input: c.input, expected: c.extraction, observed: describeOutcome(outcome), detail: outcome?.error?.message ?? '' });
    expect(row.observed).toBe(row.expected);
  });

  it.each(TEXT_CASES.map((c) => [c.input, c] as const))('predict API (text/plain): %s', async (_name, c) => {
    const r = await predict('texts', c.bytes(), 'text/plain; charset=utf-8');
    const row = table.record({ area: 'texts: predict API', input: c.input, expected: c.api, observed: describeResponse(r), detail: r.status === 200 ? `label ${String(r.json['label'])}` : String(r.json['error']) });
    expect(row.observed).toBe(row.expected);
    expect(specific(r)).toBe(true);
  });

  it('predict API: wrong kinds of input are 4xx naming the problem', async () => {
    const cases: Array<[string, Promise<RawResponse>, string]> = [
      ['JSON {"text": 5} to a text model', predict('texts', JSON.stringify({ text: 5 }), 'application/json'), '400 missing_text'],
      ['an image to a text model', predict('texts', upright ?? uprightPng, 'image/png'), '415 modality_mismatch'],
      ['text/plain to an image model', predict('bugs', 'is this an ant', 'text/plain'), '415 modality_mismatch'],
    ];
    for (const [input, response, expected] of cases) {
      const r = await response;
      const row = table.record({ area: 'texts: predict API', input, expected, observed: describeResponse(r), detail: String(r.json['error'] ?? '') });
      expect(row.observed).toBe(row.expected);
    }
  });

  it('training: a dataset mixing images and texts is refused, naming it and both counts', async () => {
    await texts(await putAll([[datasetObjectKey('mixed', 'a', 'one.txt'), 'hello'], [datasetObjectKey('mixed', 'b', 'two.txt'), 'bye']]));
    await extract(await putAll(labelled('mixed', 'a', await hymenoptera('val', 'ants', 1))));
    const error = await trainTextDataset({ store, index }, 'mixed').catch((e: unknown) => e);
    const row = table.record({ area: 'texts: training', input: 'dataset with 1 image and 2 texts', expected: 'refused training_data', observed: isHeadstartError(error) ? `refused ${error.code}` : 'trained', detail: describeError(error) });
    expect(row.observed).toBe(row.expected);
    expect(describeError(error)).toMatch(/dataset "mixed" mixes images \(1\) and texts \(2\)/);
  });
});
