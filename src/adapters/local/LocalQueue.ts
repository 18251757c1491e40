/**
 * A queue that plays SQS plus a Lambda event source mapping for the local runtime, kept in the home's
 * SQLite file so any number of processes on one HEADSTART_HOME share it safely: a message is sent
 * by one commit and received by one transaction, so exactly one consumer holds each delivery.
 *
 * What it keeps from SQS, because the handlers are written for it:
 * - at-least-once delivery in batches, with a receive count per message;
 * - partial batch failures: the handler returns the ids that failed, the rest are deleted;
 * - a visibility timeout: a message received but neither deleted nor failed (the handler threw, or
 *   is still running past the timeout) is delivered again once the timeout runs out;
 * - a dead-letter list: a message received `maxReceives` times without success is moved there
 *   instead of being delivered again, and stays inspectable (and redrivable).
 *
 * Each delivery names its consumer (pid + a per-queue id): when a consumer stops, or a process is
 * found dead at the next open, its unfinished deliveries become visible again at once instead of
 * after their timeout. Each change is one small statement: nothing grows with the queue's length.
 */
import { randomUUID } from 'node:crypto';
import { describeError, HeadstartError } from '../../errors.js';
import { openHomeDatabase, type Sqlite } from './HomeDatabase.js';
import { isProcessRunning } from '../../util/isProcessRunning.js';

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
  /**
   * The longest an idle consumer sleeps before looking for messages again; a send from this process
   * wakes it at once, a send from another process is seen at the next poll. Default 1 s.
   */
  pollIntervalMs?: number;
  /** Batches handled at the same time. Default 1. */
  concurrency?: number;
  /** How long a failed message waits before it is visible again. Default 0. */
  retryDelayMs?: number;
}

export interface LocalQueueOptions {
  /** Where errors go that no caller can receive (a handler that threw). */
  onError?: (error: unknown) => void;
  /** The clock, for tests. */
  now?: () => number;
}

export interface SendOptions {
  /** Dataset the message concerns, so pending work can be counted per dataset. */
  dataset?: string;
}

export interface QueueStats {
  /** Deliverable now. */
  visible: number;
  /** Delivered and not yet deleted or failed, or failed and waiting for the retry delay. */
  invisible: number;
  dead: number;
}

interface MessageRow {
  id: string;
  body: string;
  receive_count: number;
  sent_at: string;
}

const DEFAULTS: Required<ConsumerOptions> = {
  batchSize: 10,
  visibilityTimeoutMs: 30_000,
  maxReceives: 5,
  pollIntervalMs: 1_000,
  concurrency: 1,
  retryDelayMs: 0,
};

/** How often `idle()` looks at the table when the work is being done by another process. */
const IDLE_POLL_MS = 50;

export class LocalQueue {
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  /** This queue's name on the deliveries it holds. */
  private readonly owner = `${process.pid}:${randomUUID()}`;
  private ownsDb: boolean;

  private consumer: { handler: BatchHandler; options: Required<ConsumerOptions> } | undefined;
  private loop: Promise<void> | undefined;
  private readonly activeBatches = new Set<Promise<void>>();
  private wakeUp: (() => void) | undefined;

  /** A queue in `db` (the home database), or in a private in-memory database. */
  constructor(
    options: LocalQueueOptions & { db?: Sqlite } = {},
    private readonly db: Sqlite = options.db ?? openHomeDatabase(':memory:'),
  ) {
    this.ownsDb = options.db === undefined;
    this.onError = options.onError ?? ((error) => console.error(`local queue: ${describeError(error)}`));
    this.now = options.now ?? Date.now;
    this.releaseDeadOwners();
  }

  /** A queue kept in the SQLite file `file` (created on first use): what a previous run left is there. */
  static async open(file: string, options: LocalQueueOptions = {}): Promise<LocalQueue> {
    let db: Sqlite;
    try {
      db = openHomeDatabase(file);
    } catch (error) {
      // Refuse rather than start empty: pending work would be lost silently.
      throw new HeadstartError(`local queue state ${file} is not a headstart database (${describeError(error)}); move it aside to start with an empty queue`, 'queue_state_invalid', 500, {
        cause: error,
        context: { file },
      });
    }
    const queue = new LocalQueue({ ...options, db });
    queue.ownsDb = true;
    return queue;
  }

  /** Queues a message; resolves with its id once it is committed. */
  async send(body: string, options: SendOptions = {}): Promise<string> {
    if (typeof body !== 'string') throw new TypeError('a queue message body must be a string');
    const id = randomUUID();
    this.db
      .prepare('INSERT INTO messages (id, body, dataset, sent_at, visible_at) VALUES (?, ?, ?, ?, 0)')
      .run(id, body, options.dataset ?? null, new Date(this.now()).toISOString());
    this.wake();
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

  /** Stops receiving, waits for the batches being handled, and hands back deliveries it still holds. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.consumer = undefined;
    this.loop = undefined;
    this.wake();
    await loop;
    await Promise.all(this.activeBatches);
    if (!this.db.open) return;
    this.db.prepare('UPDATE messages SET visible_at = 0, owner = NULL, receipt = NULL WHERE owner = ? AND dead = 0').run(this.owner);
  }

  /** Stops and closes the database if this queue opened it. */
  async close(): Promise<void> {
    await this.stop();
    if (this.ownsDb && this.db.open) this.db.close();
  }

  /**
   * Resolves once no message is waiting or being handled (dead letters do not count), by whichever
   * process. With no consumer anywhere it resolves only when the queue is empty.
   */
  async idle(): Promise<void> {
    while (this.live() > 0) await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
  }

  /** Messages about `dataset` still to be handled (each distinct body once). */
  pendingFor(dataset: string): number {
    const row = this.db.prepare('SELECT COUNT(DISTINCT body) AS n FROM messages WHERE dataset = ? AND dead = 0').get(dataset) as { n: number };
    return row.n;
  }

  /** The messages that were given up on, oldest first (copies). */
  deadLetters(): QueueMessage[] {
    return this.db.prepare<[], MessageRow>('SELECT id, body, receive_count, sent_at FROM messages WHERE dead = 1 ORDER BY seq').all().map(toMessage);
  }

  /** Moves every dead letter back into the queue with a fresh receive count; returns how many. */
  async redriveDeadLetters(): Promise<number> {
    const moved = this.db.prepare('UPDATE messages SET dead = 0, receive_count = 0, visible_at = 0, owner = NULL, receipt = NULL WHERE dead = 1').run().changes;
    this.wake();
    return moved;
  }

  stats(): QueueStats {
    const row = this.db
      .prepare(
        `SELECT COALESCE(SUM(dead = 0 AND visible_at <= @now), 0) AS visible, COALESCE(SUM(dead = 0 AND visible_at > @now), 0) AS invisible,
                COALESCE(SUM(dead = 1), 0) AS dead FROM messages`,
      )
      .get({ now: this.now() }) as QueueStats;
    return { visible: row.visible, invisible: row.invisible, dead: row.dead };
  }

  private live(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM messages WHERE dead = 0').get() as { n: number }).n;
  }

  /** Deliveries held by processes that no longer run come back now, not after their timeout. */
  private releaseDeadOwners(): void {
    const owners = this.db.prepare<[], { owner: string }>('SELECT DISTINCT owner FROM messages WHERE owner IS NOT NULL AND dead = 0').all();
    for (const { owner } of owners) {
      const pid = Number.parseInt(owner, 10);
      if (pid === process.pid || isProcessRunning(pid)) continue;
      this.db.prepare('UPDATE messages SET visible_at = 0, owner = NULL, receipt = NULL WHERE owner = ?').run(owner);
    }
  }

  private async run(): Promise<void> {
    while (this.consumer) {
      const { options } = this.consumer;
      while (this.consumer && this.activeBatches.size < options.concurrency) {
        let batch: Array<{ message: QueueMessage; receipt: string }>;
        try {
          batch = this.receive(options);
        } catch (error) {
          this.onError(error);
          break;
        }
        if (batch.length === 0) break;
        const handling = this.handle(this.consumer.handler, batch);
        this.activeBatches.add(handling);
        void handling.finally(() => {
          this.activeBatches.delete(handling);
          this.wake();
        });
      }
      if (!this.consumer) break;
      await this.sleep(this.nextWakeDelay(options));
    }
  }

  /** Takes up to a batch of visible messages in one transaction, dead-lettering those received too often. */
  private receive(options: Required<ConsumerOptions>): Array<{ message: QueueMessage; receipt: string }> {
    const now = this.now();
    return this.db
      .transaction(() => {
        this.db.prepare('UPDATE messages SET dead = 1, owner = NULL, receipt = NULL WHERE dead = 0 AND visible_at <= ? AND receive_count >= ?').run(now, options.maxReceives);
        const rows = this.db
          .prepare<[number, number], MessageRow>('SELECT id, body, receive_count, sent_at FROM messages WHERE dead = 0 AND visible_at <= ? ORDER BY seq LIMIT ?')
          .all(now, options.batchSize);
        const deliver = this.db.prepare('UPDATE messages SET receive_count = receive_count + 1, visible_at = ?, receipt = ?, owner = ? WHERE id = ?');
        return rows.map((row) => {
          const receipt = randomUUID();
          deliver.run(now + options.visibilityTimeoutMs, receipt, this.owner, row.id);
          return { message: toMessage({ ...row, receive_count: row.receive_count + 1 }), receipt };
        });
      })
      .immediate();
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
    if (!this.db.open) return;
    const failed = new Set(result.failedIds);
    const retryAt = this.now() + (this.consumer?.options.retryDelayMs ?? 0);
    // A stale receipt (the timeout ran out and the message was delivered again) matches no row.
    const remove = this.db.prepare('DELETE FROM messages WHERE id = ? AND receipt = ?');
    const retry = this.db.prepare('UPDATE messages SET visible_at = ?, receipt = NULL, owner = NULL WHERE id = ? AND receipt = ?');
    this.db
      .transaction(() => {
        for (const { message, receipt } of batch) {
          if (failed.has(message.id)) retry.run(retryAt, message.id, receipt);
          else remove.run(message.id, receipt);
        }
      })
      .immediate();
  }

  /** Until the next invisible message turns visible, at most the poll interval. */
  private nextWakeDelay(options: Required<ConsumerOptions>): number {
    const now = this.now();
    const row = this.db.prepare('SELECT MIN(visible_at) AS next FROM messages WHERE dead = 0 AND visible_at > ?').get(now) as { next: number | null };
    return row.next === null ? options.pollIntervalMs : Math.max(0, Math.min(options.pollIntervalMs, row.next - now));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      // A consumer must not keep the process alive if the caller forgets stop().
      timer.unref();
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
}

function toMessage(row: MessageRow): QueueMessage {
  return { id: row.id, body: row.body, receiveCount: row.receive_count, sentAt: row.sent_at };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
