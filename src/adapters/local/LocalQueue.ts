/**
 * An in-process queue that plays SQS plus a Lambda event source mapping, for the local runtime.
 *
 * What it keeps from SQS, because the handlers are written for it:
 * - at-least-once delivery in batches, with a receive count per message;
 * - partial batch failures: the handler returns the ids that failed, the rest are deleted;
 * - a visibility timeout: a message received but neither deleted nor failed (the handler threw, or
 *   is still running past the timeout) is delivered again once the timeout runs out;
 * - a dead-letter list: a message received `maxReceives` times without success is moved there
 *   instead of being delivered again, and stays inspectable (and redrivable).
 *
 * With `LocalQueue.open(file)` the queue state is kept in a JSON file, rewritten atomically (temp
 * file + rename) after changes, writes coalesced; `send` resolves once its message is on disk, so
 * work accepted before a crash is delivered after a restart (received-but-unfinished messages come
 * back as visible, as they would after their visibility timeout).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeError, HeadstartError } from '../../errors.js';

export interface QueueMessage {
  id: string;
  body: string;
  /** How many times this message has been delivered, this delivery included (SQS ApproximateReceiveCount). */
  receiveCount: number;
  /** ISO time of the send. */
  sentAt: string;
}

export interface BatchResult {
  /** Ids of the batch's messages to deliver again; every other message of the batch is deleted. */
  failedIds: string[];
}

export type BatchHandler = (batch: QueueMessage[]) => Promise<BatchResult>;

export interface ConsumerOptions {
  /** Most messages per handler call. Default 10 (SQS's default for Lambda). */
  batchSize?: number;
  /** How long a delivered message stays invisible while its handler runs. Default 30 s. */
  visibilityTimeoutMs?: number;
  /** Deliveries before a message goes to the dead-letter list instead. Default 5. */
  maxReceives?: number;
  /** The longest an idle consumer sleeps before looking for messages again; a send wakes it at once. Default 1 s. */
  pollIntervalMs?: number;
  /** Batches handled at the same time. Default 1. */
  concurrency?: number;
  /** How long a failed message waits before it is visible again. Default 0. */
  retryDelayMs?: number;
}

export interface LocalQueueOptions {
  /** Where errors go that no caller can receive (a handler that threw, a failed background write). */
  onError?: (error: unknown) => void;
  /** The clock, for tests. */
  now?: () => number;
}

export interface QueueStats {
  /** Deliverable now. */
  visible: number;
  /** Delivered and not yet deleted or failed, or failed and waiting for the retry delay. */
  invisible: number;
  dead: number;
}

interface Entry {
  id: string;
  body: string;
  receiveCount: number;
  sentAt: string;
  /** Epoch ms from which the message may be delivered. */
  visibleAt: number;
  /** Set per delivery; only the latest delivery's outcome counts (like an SQS receipt handle). */
  receipt?: string;
}

interface StateFile {
  version: 1;
  messages: QueueMessage[];
  dead: QueueMessage[];
}

const DEFAULTS: Required<ConsumerOptions> = {
  batchSize: 10,
  visibilityTimeoutMs: 30_000,
  maxReceives: 5,
  pollIntervalMs: 1_000,
  concurrency: 1,
  retryDelayMs: 0,
};

export class LocalQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly dead: QueueMessage[] = [];
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  private statePath: string | undefined;

  private consumer: { handler: BatchHandler; options: Required<ConsumerOptions> } | undefined;
  private loop: Promise<void> | undefined;
  private readonly activeBatches = new Set<Promise<void>>();
  private wakeUp: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];

  private dirty = false;
  private flushing: Promise<void> | undefined;

  constructor(options: LocalQueueOptions = {}) {
    this.onError = options.onError ?? ((error) => console.error(`local queue: ${describeError(error)}`));
    this.now = options.now ?? Date.now;
  }

  /** A queue whose state lives in `file` (created on first change); loads what a previous run left. */
  static async open(file: string, options: LocalQueueOptions = {}): Promise<LocalQueue> {
    const queue = new LocalQueue(options);
    queue.statePath = path.resolve(file);
    let text: string | undefined;
    try {
      text = await fs.readFile(queue.statePath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      const state = parseState(text, queue.statePath);
      for (const message of state.messages) queue.entries.set(message.id, { ...message, visibleAt: 0 });
      queue.dead.push(...state.dead);
    }
    return queue;
  }

  /** Queues a message; resolves with its id once it is stored (on disk, for a persistent queue). */
  async send(body: string): Promise<string> {
    if (typeof body !== 'string') throw new TypeError('a queue message body must be a string');
    const id = randomUUID();
    this.entries.set(id, { id, body, receiveCount: 0, sentAt: new Date(this.now()).toISOString(), visibleAt: 0 });
    this.wake();
    await this.persist();
    return id;
  }

  /** Starts delivering batches to `handler` until {@link stop}. One consumer per queue. */
  start(handler: BatchHandler, options: ConsumerOptions = {}): void {
    if (this.consumer) throw new Error('this local queue already has a consumer');
    const merged = { ...DEFAULTS, ...dropUndefined(options) };
    for (const [name, value] of Object.entries(merged)) {
      const min = name === 'retryDelayMs' || name === 'pollIntervalMs' || name === 'visibilityTimeoutMs' ? 0 : 1;
      if (!Number.isFinite(value) || value < min) throw new RangeError(`consumer option ${name} must be a number >= ${min}, got ${value}`);
    }
    this.consumer = { handler, options: merged };
    this.loop = this.run();
  }

  /** Stops receiving, waits for the batches being handled to finish, and writes the state. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.consumer = undefined;
    this.loop = undefined;
    this.wake();
    await loop;
    await Promise.all(this.activeBatches);
    await this.persist();
  }

  /**
   * Resolves once no message is waiting or being handled (dead letters do not count). It waits for
   * a consumer to do the work: with no consumer started it resolves only when the queue is empty.
   */
  idle(): Promise<void> {
    if (this.entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The messages that were given up on, oldest first (copies). */
  deadLetters(): QueueMessage[] {
    return this.dead.map((message) => ({ ...message }));
  }

  /** Moves every dead letter back into the queue with a fresh receive count; returns how many. */
  async redriveDeadLetters(): Promise<number> {
    const moved = this.dead.splice(0, this.dead.length);
    for (const message of moved) this.entries.set(message.id, { ...message, receiveCount: 0, visibleAt: 0 });
    this.wake();
    await this.persist();
    return moved.length;
  }

  stats(): QueueStats {
    const now = this.now();
    let visible = 0;
    for (const entry of this.entries.values()) if (entry.visibleAt <= now) visible++;
    return { visible, invisible: this.entries.size - visible, dead: this.dead.length };
  }

  private async run(): Promise<void> {
    while (this.consumer) {
      const { options } = this.consumer;
      while (this.consumer && this.activeBatches.size < options.concurrency) {
        const batch = this.receive(options);
        if (batch.length === 0) break;
        const handling = this.handle(this.consumer.handler, batch);
        this.activeBatches.add(handling);
        void handling.finally(() => {
          this.activeBatches.delete(handling);
          this.wake();
        });
      }
      this.settleIdle();
      if (!this.consumer) break;
      await this.sleep(this.nextWakeDelay(options));
    }
  }

  /** Takes up to a batch of visible messages, moving those received too often to the dead letters. */
  private receive(options: Required<ConsumerOptions>): Array<{ message: QueueMessage; receipt: string }> {
    const now = this.now();
    const batch: Array<{ message: QueueMessage; receipt: string }> = [];
    let changed = false;
    for (const entry of this.entries.values()) {
      if (batch.length >= options.batchSize) break;
      if (entry.visibleAt > now) continue;
      changed = true;
      if (entry.receiveCount >= options.maxReceives) {
        this.entries.delete(entry.id);
        this.dead.push(toMessage(entry));
        continue;
      }
      entry.receiveCount += 1;
      entry.visibleAt = now + options.visibilityTimeoutMs;
      entry.receipt = randomUUID();
      batch.push({ message: toMessage(entry), receipt: entry.receipt });
    }
    if (changed) this.persistInBackground();
    return batch;
  }

  private async handle(handler: BatchHandler, batch: Array<{ message: QueueMessage; receipt: string }>): Promise<void> {
    let result: BatchResult;
    try {
      result = await handler(batch.map(({ message }) => ({ ...message })));
      if (!result || !Array.isArray(result.failedIds)) throw new TypeError('a batch handler must return { failedIds: string[] }');
    } catch (error) {
      // Like a Lambda that throws: the whole batch comes back when its visibility timeout runs out.
      this.onError(error);
      return;
    }
    const failed = new Set(result.failedIds);
    const retryDelayMs = this.consumer?.options.retryDelayMs ?? 0;
    for (const { message, receipt } of batch) {
      const entry = this.entries.get(message.id);
      // A stale receipt: the timeout ran out and the message was delivered again meanwhile.
      if (!entry || entry.receipt !== receipt) continue;
      if (failed.has(message.id)) {
        entry.visibleAt = this.now() + retryDelayMs;
        entry.receipt = undefined;
      } else {
        this.entries.delete(message.id);
      }
    }
    this.persistInBackground();
    this.settleIdle();
  }

  /**
   * Until the next invisible message turns visible, at most the poll interval. Visible messages left
   * over mean every batch slot is busy: a finishing batch wakes the loop, so they do not count.
   */
  private nextWakeDelay(options: Required<ConsumerOptions>): number {
    const now = this.now();
    let delay = options.pollIntervalMs;
    for (const entry of this.entries.values()) if (entry.visibleAt > now) delay = Math.min(delay, entry.visibleAt - now);
    return delay;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      // An empty queue must not keep the process alive if the caller forgets stop().
      if (this.entries.size === 0) timer.unref();
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  private wake(): void {
    this.wakeUp?.();
  }

  private settleIdle(): void {
    if (this.entries.size !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private persistInBackground(): void {
    this.persist().catch(this.onError);
  }

  /** Resolves once a write that started after this call has finished (writes are coalesced). */
  private persist(): Promise<void> {
    if (!this.statePath) return Promise.resolve();
    this.dirty = true;
    this.flushing ??= this.flush(this.statePath);
    return this.flushing;
  }

  private async flush(file: string): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        const state: StateFile = { version: 1, messages: [...this.entries.values()].map(toMessage), dead: this.dead };
        try {
          await writeAtomically(file, JSON.stringify(state));
        } catch (error) {
          this.dirty = true;
          throw error;
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}

function toMessage(entry: Entry): QueueMessage {
  return { id: entry.id, body: entry.body, receiveCount: entry.receiveCount, sentAt: entry.sentAt };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${randomUUID()}.tmp`;
  try {
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

function parseState(text: string, file: string): StateFile {
  const fail = (why: string, cause?: unknown): never => {
    // Refuse rather than start empty: pending work would be lost silently.
    throw new HeadstartError(`local queue state ${file} ${why}; move it aside to start with an empty queue`, 'queue_state_invalid', 500, {
      cause,
      context: { file },
    });
  };
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (error) {
    fail('is not valid JSON', error);
  }
  const isMessage = (m: unknown): m is QueueMessage =>
    typeof m === 'object' &&
    m !== null &&
    typeof (m as QueueMessage).id === 'string' &&
    typeof (m as QueueMessage).body === 'string' &&
    Number.isInteger((m as QueueMessage).receiveCount) &&
    typeof (m as QueueMessage).sentAt === 'string';
  const s = state as Partial<StateFile> | null;
  if (!s || s.version !== 1 || !Array.isArray(s.messages) || !Array.isArray(s.dead)) fail('is not a version 1 queue state');
  if (!s!.messages!.every(isMessage) || !s!.dead!.every(isMessage)) fail('holds a malformed message');
  return s as StateFile;
}
