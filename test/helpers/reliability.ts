/**
 * Shared pieces of the reliability suite (test/reliability/): the outcome table each suite writes
 * to test-results/, real images, child-process CLI runs, raw HTTP requests (no URL normalisation,
 * no client-side limits), pipeline-state snapshots for "converges to the same state" checks, a
 * store that freezes like a killed process, and an SQS poller that plays the Lambda event source
 * mapping on moto_server.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sha256Hex } from '../../src/dataset/keys.js';
import type { ObjectRecord } from '../../src/dataset/records.js';
import { collectEntries, type DatasetIndex, type IndexEntry } from '../../src/ports/DatasetIndex.js';
import { datasetStatus, type DataPlane, type DatasetStatus } from '../../src/pipeline/status.js';
import { listAll, type ObjectInfo, type ObjectStore, type PutOptions } from '../../src/ports/ObjectStore.js';
import { datasetsDir, repoDir } from './shared.js';
import { createRandom, shuffleInPlace } from '../../src/training/random.js';

// ---------------------------------------------------------------------------------------------
// Outcome tables

export interface Outcome {
  /** Group of the row (images, keys and names, API, training...). */
  area: string;
  input: string;
  expected: string;
  observed: string;
  /** The message or figure behind the observation, for the reader of the table. */
  detail?: string;
}

/**
 * Rows of "input, expected outcome, observed outcome", written as a markdown table to
 * test-results/<file>. The table is only a report: each test still asserts its own row.
 */
export class OutcomeTable {
  readonly rows: Outcome[] = [];

  constructor(
    readonly title: string,
    readonly file: string,
    readonly intro = '',
  ) {}

  record(row: Outcome): Outcome {
    this.rows.push(row);
    return row;
  }

  mismatches(): Outcome[] {
    return this.rows.filter((r) => r.expected !== r.observed);
  }

  markdown(): string {
    const cell = (text: string | undefined): string => (text ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').slice(0, 300);
    const areas = [...new Set(this.rows.map((r) => r.area))];
    const lines = [`# ${this.title}`, ''];
    if (this.intro) lines.push(this.intro, '');
    const matched = this.rows.length - this.mismatches().length;
    lines.push(`${this.rows.length} inputs tried, ${matched} got the expected outcome, ${this.rows.length - matched} did not.`, '');
    lines.push('| area | input | expected | observed | ok | detail |', '|---|---|---|---|---|---|');
    for (const area of areas) {
      for (const r of this.rows.filter((row) => row.area === area)) {
        lines.push(`| ${cell(r.area)} | ${cell(r.input)} | ${cell(r.expected)} | ${cell(r.observed)} | ${r.expected === r.observed ? 'yes' : '**NO**'} | ${cell(r.detail)} |`);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  /** Writes the table under test-results/ and returns the path. */
  async write(): Promise<string> {
    const dir = path.join(repoDir(), 'test-results');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, this.file);
    await writeFile(file, this.markdown());
    return file;
  }
}

// ---------------------------------------------------------------------------------------------
// Real images

export interface SharedImage {
  name: string;
  bytes: Buffer;
}

/** The first `count` photos (sorted by name, after skipping `skip`) of a hymenoptera split/label. */
export async function hymenoptera(split: 'train' | 'val', label: 'ants' | 'bees', count: number, skip = 0): Promise<SharedImage[]> {
  const dir = path.join(datasetsDir(), 'hymenoptera', split, label);
  const names = (await readdir(dir)).sort().slice(skip, skip + count);
  if (names.length < count) throw new Error(`only ${names.length} photos in ${dir} after skipping ${skip}`);
  return Promise.all(names.map(async (name) => ({ name, bytes: await readFile(path.join(dir, name)) })));
}

/** Writes `<folder>/<label>/<name>` for every image. */
export async function writeLabelledFolder(folder: string, labels: Record<string, SharedImage[]>): Promise<void> {
  for (const [label, images] of Object.entries(labels)) {
    await mkdir(path.join(folder, label), { recursive: true });
    for (const image of images) await writeFile(path.join(folder, label, image.name), image.bytes);
  }
}

/** The hex sha256 the pipeline itself uses (src/dataset/keys.ts), under the name the suites know. */
export { sha256Hex as sha256 } from '../../src/dataset/keys.js';

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** A deterministic permutation (mulberry32), so a failing order can be replayed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  return shuffleInPlace([...items], createRandom(seed));
}

export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI in a child process

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  home: string;
  cwd: string;
  env?: Record<string, string>;
}

function cliEnv(options: CliOptions): NodeJS.ProcessEnv {
  return { ...process.env, HEADSTART_HOME: options.home, ...options.env };
}

/** `npx headstart <args>` as scripts call it; never throws for a non-zero exit. */
export function runCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoDir(), 'bin', 'headstart.js'), ...args],
      { cwd: options.cwd, env: cliEnv(options), maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The CLI as a running child process, for tests that kill it. */
export function spawnCli(args: readonly string[], options: CliOptions): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: () => string } {
  const child = spawn(process.execPath, [path.join(repoDir(), 'bin', 'headstart.js'), ...args], {
    cwd: options.cwd,
    env: cliEnv(options),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => output };
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown>;
}

/**
 * One request with the path sent exactly as given (fetch would resolve `..` segments) and the
 * response read even when the server answers before it has read the whole body (413).
 */
export function rawRequest(base: string, method: string, rawPath: string, body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON (HTML report, or nothing)
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
    });
    // The server may close the connection while we still write an oversized body: the response
    // already arrived (or arrives), so a write error after it is not the outcome.
    request.on('error', (error) => setTimeout(() => reject(error), 200));
    if (body !== undefined) request.end(body);
    else request.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Pipeline state, for "the same state as a clean single delivery"

export interface PipelineState {
  /** Index entries by object key, without their timestamps. */
  records: Record<string, Omit<ObjectRecord, 'updatedAt'>>;
  /** Cached embeddings by key. */
  embeddings: Map<string, Float32Array>;
  status: Record<string, DatasetStatus>;
}

export async function pipelineState(plane: DataPlane, datasets: readonly string[]): Promise<PipelineState> {
  const { store } = plane;
  const records: PipelineState['records'] = {};
  const all = [...(await collectEntries(plane.index, undefined))];
  for (const dataset of datasets) all.push(...(await collectEntries(plane.index, dataset)));
  for (const { updatedAt: _ignored, ...rest } of all) records[rest.key] = rest;
  const embeddings = new Map<string, Float32Array>();
  for (const info of await listAll(store, 'embeddings/')) {
    const bytes = await store.get(info.key);
    if (bytes === undefined) continue;
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    embeddings.set(info.key, new Float32Array(copy.buffer));
  }
  const status: Record<string, DatasetStatus> = {};
  for (const dataset of datasets) status[dataset] = await datasetStatus(plane, dataset);
  return { records, embeddings, status };
}

/**
 * Where two states differ, as readable lines (empty when they agree). Embeddings agree when their
 * keys match and values are within `tolerance` (a batch of another size may round differently).
 */
export function stateDifferences(actual: PipelineState, expected: PipelineState, tolerance = 1e-4): string[] {
  const out: string[] = [];
  const recordKeys = new Set([...Object.keys(actual.records), ...Object.keys(expected.records)]);
  for (const key of recordKeys) {
    const a = sortedJson(actual.records[key] ?? null);
    const e = sortedJson(expected.records[key] ?? null);
    if (a !== e) out.push(`record ${key}: ${a} != expected ${e}`);
  }
  for (const key of new Set([...actual.embeddings.keys(), ...expected.embeddings.keys()])) {
    const a = actual.embeddings.get(key);
    const e = expected.embeddings.get(key);
    if (!a || !e) out.push(`embedding ${key}: ${a ? 'present' : 'missing'}, expected ${e ? 'present' : 'missing'}`);
    else if (maxAbsDiff(a, e) > tolerance) out.push(`embedding ${key}: differs by ${maxAbsDiff(a, e)}`);
  }
  const sa = JSON.stringify(actual.status);
  const se = JSON.stringify(expected.status);
  if (sa !== se) out.push(`status ${sa} != expected ${se}`);
  return out;
}

/**
 * JSON with object keys sorted at every depth, so key order never counts and nested values do (a
 * key-list replacer filters nested objects by the top-level names: `error` came out as `{}`).
 */
function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}

/** Relative path -> sha256 of every file under `dir` (missing dir: empty). */
export async function treeDigest(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out.set(path.relative(dir, full), sha256Hex(await readFile(full)));
  }
  return out;
}

export function digestDifferences(after: Map<string, string>, before: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [file, hash] of after) if (before.get(file) !== hash) out.push(before.has(file) ? `changed ${file}` : `added ${file}`);
  for (const file of before.keys()) if (!after.has(file)) out.push(`removed ${file}`);
  return out.sort();
}

// ---------------------------------------------------------------------------------------------
// A process that dies

/**
 * Wraps a store so that, once `dies(op, key)` says so, that call and every later one never settle:
 * what a process killed at that point would have done (writes already made stay made). `died`
 * resolves at the moment of death; `settled()` once the calls made before it have landed.
 */
export function mortalStore(
  store: ObjectStore,
  dies: (op: 'get' | 'head' | 'put' | 'delete' | 'list', key: string) => boolean,
): { store: ObjectStore; died: Promise<void>; isDead: () => boolean; settled: () => Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    const forget = (): void => void inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  };
  let dead = false;
  let markDead!: () => void;
  const died = new Promise<void>((resolve) => (markDead = resolve));
  const never = new Promise<never>(() => undefined);
  const check = (op: 'get' | 'head' | 'put' | 'delete' | 'list', key: string): boolean => {
    if (!dead && dies(op, key)) {
      dead = true;
      markDead();
    }
    return dead;
  };
  const wrapped: ObjectStore = {
    get: (key) => (check('get', key) ? never : track(store.get(key))),
    head: (key) => (check('head', key) ? never : track(store.head(key))),
    put: (key: string, body: Uint8Array | string, options?: PutOptions) => (check('put', key) ? never : track(store.put(key, body, options))),
    delete: (key) => (check('delete', key) ? never : track(store.delete(key))),
    list: (prefix: string): AsyncIterable<ObjectInfo> => {
      if (check('list', prefix)) return { [Symbol.asyncIterator]: () => ({ next: () => never }) };
      return store.list(prefix);
    },
  };
  return { store: wrapped, died, isDead: () => dead, settled: async () => void (await Promise.allSettled([...inFlight])) };
}

export type IndexOp = 'get' | 'put' | 'delete' | 'counts' | 'entries' | 'datasets' | 'embeddedWith' | 'noteEmbedded';

/**
 * The dataset index of a process that dies: once `dies(op, entries)` says so (`entries` are the rows
 * of a put, else empty), that call and every later one never settle. Writes already made stay made.
 * Same shape as {@link mortalStore}; a store can die with it via `mortalStore(store, () => index.isDead())`.
 */
export function mortalIndex(
  index: DatasetIndex,
  dies: (op: IndexOp, entries: readonly IndexEntry[]) => boolean,
): { index: DatasetIndex; died: Promise<void>; isDead: () => boolean; settled: () => Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    const forget = (): void => void inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  };
  let dead = false;
  let markDead!: () => void;
  const died = new Promise<void>((resolve) => (markDead = resolve));
  const never = new Promise<never>(() => undefined);
  const check = (op: IndexOp, entries: readonly IndexEntry[] = []): boolean => {
    if (!dead && dies(op, entries)) {
      dead = true;
      markDead();
    }
    return dead;
  };
  const wrapped: DatasetIndex = {
    get: (dataset, key) => (check('get') ? never : track(index.get(dataset, key))),
    put: (entries) => (check('put', entries) ? never : track(index.put(entries))),
    delete: (dataset, keys) => (check('delete') ? never : track(index.delete(dataset, keys))),
    counts: (dataset) => (check('counts') ? never : track(index.counts(dataset))),
    entries: (dataset, query) => {
      if (check('entries')) return { [Symbol.asyncIterator]: () => ({ next: () => never }) };
      return index.entries(dataset, query);
    },
    datasets: () => (check('datasets') ? never : track(index.datasets())),
    embeddedWith: (backboneId, shas) => (check('embeddedWith') ? never : track(index.embeddedWith(backboneId, shas))),
    noteEmbedded: (backboneId, shas) => (check('noteEmbedded') ? never : track(index.noteEmbedded(backboneId, shas))),
  };
  return { index: wrapped, died, isDead: () => dead, settled: async () => void (await Promise.allSettled([...inFlight])) };
}

// ---------------------------------------------------------------------------------------------
// SQS on moto: the Lambda event source mapping

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export function sqsEvent(messages: readonly Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map(
      (m) =>
        ({
          messageId: m.MessageId ?? '',
          receiptHandle: m.ReceiptHandle ?? '',
          body: m.Body ?? '',
          attributes: m.Attributes ?? {},
          messageAttributes: {},
          md5OfBody: m.MD5OfBody ?? '',
          eventSource: 'aws:sqs',
          eventSourceARN: queueArn,
          awsRegion: 'us-east-1',
        }) as unknown as SQSRecord,
    ),
  };
}

export async function receiveBatch(sqs: SQSClient, queueUrl: string, max = 10): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: max, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }));
  return Messages;
}

export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(Attributes.ApproximateNumberOfMessages ?? 0), inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) };
}

/**
 * Plays the event source mapping until the queue is empty, in-flight messages included (they come
 * back after their visibility timeout): receive a batch, invoke the handler, delete what succeeded,
 * make the failed ones visible again at once. Returns the number of handler invocations.
 */
export async function drainQueue(sqs: SQSClient, queueUrl: string, queueArn: string, handler: SqsHandler, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let invocations = 0;
  for (;;) {
    const messages = await receiveBatch(sqs, queueUrl);
    if (messages.length === 0) {
      const depth = await queueDepth(sqs, queueUrl);
      if (depth.visible === 0 && depth.inFlight === 0) return invocations;
      if (Date.now() > deadline) throw new Error(`queue did not drain within ${timeoutMs} ms (${JSON.stringify(depth)})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    invocations++;
    const response = await handler(sqsEvent(messages, queueArn));
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    const retry = messages.filter((m) => failed.has(m.MessageId ?? ''));
    if (done.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    if (retry.length > 0) {
      await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: retry.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })) }));
    }
  }
}
