import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { objectEventMessageBody, parseLocalEventMessages } from '../../../src/adapters/local/localEvents.js';
import { LocalQueue, type BatchHandler, type QueueMessage } from '../../../src/adapters/local/LocalQueue.js';
import { HeadstartError } from '../../../src/errors.js';

// Short timeouts keep the tests fast; nothing below asserts how long anything took.
const FAST = { visibilityTimeoutMs: 40, pollIntervalMs: 10 };

interface Delivery {
  body: string;
  receiveCount: number;
}

/** A handler that records each delivery and answers per message via `decide`. */
function recorder(decide: (message: QueueMessage) => 'ok' | 'fail' = () => 'ok') {
  const deliveries: Delivery[] = [];
  const batches: string[][] = [];
  const handler: BatchHandler = async (batch) => {
    batches.push(batch.map((m) => m.body));
    for (const m of batch) deliveries.push({ body: m.body, receiveCount: m.receiveCount });
    return { failedIds: batch.filter((m) => decide(m) === 'fail').map((m) => m.id) };
  };
  return { handler, deliveries, batches };
}

describe('LocalQueue', () => {
  let queue: LocalQueue;
  const errors: unknown[] = [];
  beforeEach(() => {
    errors.length = 0;
    queue = new LocalQueue({ onError: (error) => errors.push(error) });
  });
  afterEach(async () => {
    await queue.stop();
  });

  it('delivers every message once in batches of at most batchSize, then is idle', async () => {
    const { handler, deliveries, batches } = recorder();
    for (let i = 0; i < 7; i++) await queue.send(`m${i}`);
    queue.start(handler, { ...FAST, batchSize: 3 });
    await queue.idle();
    expect(deliveries.map((d) => d.body).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(deliveries.every((d) => d.receiveCount === 1)).toBe(true);
    expect(batches.every((b) => b.length <= 3)).toBe(true);
    expect(batches[0]).toEqual(['m0', 'm1', 'm2']);
    expect(queue.stats()).toEqual({ visible: 0, invisible: 0, dead: 0 });
  });

  it('delivers messages sent while it runs, waking without waiting for the poll interval', async () => {
    const { handler, deliveries } = recorder();
    queue.start(handler, { pollIntervalMs: 60_000 });
    await queue.send('late');
    await queue.idle();
    expect(deliveries).toEqual([{ body: 'late', receiveCount: 1 }]);
  });

  it('delivers the failed ids of a batch again, with a higher receive count, and deletes the rest', async () => {
    const { handler, deliveries } = recorder((m) => (m.body === 'flaky' && m.receiveCount < 3 ? 'fail' : 'ok'));
    await queue.send('fine');
    await queue.send('flaky');
    queue.start(handler, FAST);
    await queue.idle();
    expect(deliveries).toEqual([
      { body: 'fine', receiveCount: 1 },
      { body: 'flaky', receiveCount: 1 },
      { body: 'flaky', receiveCount: 2 },
      { body: 'flaky', receiveCount: 3 },
    ]);
    expect(queue.deadLetters()).toEqual([]);
  });

  it('a batch whose handler throws comes back after the visibility timeout, not before', async () => {
    let calls = 0;
    const seen: number[] = [];
    let sawInvisible = false;
    queue.start(async (batch) => {
      calls++;
      seen.push(...batch.map((m) => m.receiveCount));
      if (calls === 1) {
        setTimeout(() => {
          // Between the throw and the timeout the message is neither deliverable nor gone.
          sawInvisible = queue.stats().invisible === 1 && queue.stats().visible === 0;
        }, 5);
        throw new Error('handler crashed');
      }
      return { failedIds: [] };
    }, { ...FAST, visibilityTimeoutMs: 300 });
    await queue.send('x');
    await queue.idle();
    expect(seen).toEqual([1, 2]);
    expect(sawInvisible).toBe(true);
    expect(errors.map(String)).toEqual(['Error: handler crashed']);
  });

  it('a handler still running past the visibility timeout sees its message delivered again, and its late outcome is ignored', async () => {
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const deliveries: number[] = [];
    queue.start(
      async (batch) => {
        const [message] = batch;
        deliveries.push(message?.receiveCount ?? -1);
        if (message?.receiveCount === 1) {
          await stuck;
          return { failedIds: [message.id] }; // stale: must not bring the message back
        }
        release();
        return { failedIds: [] };
      },
      { ...FAST, concurrency: 2 },
    );
    await queue.send('slow');
    await queue.idle();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(deliveries).toEqual([1, 2]);
    expect(queue.stats()).toEqual({ visible: 0, invisible: 0, dead: 0 });
  });

  it('moves a message that keeps failing to the dead letters after maxReceives deliveries', async () => {
    const { handler, deliveries } = recorder((m) => (m.body === 'poison' ? 'fail' : 'ok'));
    await queue.send('poison');
    await queue.send('good');
    queue.start(handler, { ...FAST, maxReceives: 5 });
    await queue.idle();
    expect(deliveries.filter((d) => d.body === 'poison').map((d) => d.receiveCount)).toEqual([1, 2, 3, 4, 5]);
    expect(deliveries.filter((d) => d.body === 'good')).toHaveLength(1);
    const dead = queue.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ body: 'poison', receiveCount: 5 });
    expect(queue.stats()).toEqual({ visible: 0, invisible: 0, dead: 1 });
  });

  it('a message whose handler always throws also ends in the dead letters', async () => {
    queue.start(async () => {
      throw new Error('always');
    }, { ...FAST, visibilityTimeoutMs: 5, maxReceives: 3 });
    await queue.send('doomed');
    await queue.idle();
    expect(queue.deadLetters().map((m) => [m.body, m.receiveCount])).toEqual([['doomed', 3]]);
    expect(errors).toHaveLength(3);
  });

  it('redrives dead letters with a fresh receive count', async () => {
    let healed = false;
    const { handler, deliveries } = recorder(() => (healed ? 'ok' : 'fail'));
    queue.start(handler, { ...FAST, maxReceives: 2 });
    await queue.send('later fixed');
    await queue.idle();
    expect(queue.deadLetters()).toHaveLength(1);
    healed = true;
    expect(await queue.redriveDeadLetters()).toBe(1);
    await queue.idle();
    expect(deliveries.map((d) => d.receiveCount)).toEqual([1, 2, 1]);
    expect(queue.deadLetters()).toEqual([]);
  });

  it('idle() resolves at once when empty, and otherwise only after the work in flight is done', async () => {
    await queue.idle();
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    let handled = false;
    queue.start(async () => {
      await gate;
      handled = true;
      return { failedIds: [] };
    }, FAST);
    await queue.send('one');
    let idle = false;
    const idlePromise = queue.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(idle).toBe(false);
    finish();
    await idlePromise;
    expect(handled).toBe(true);
  });

  it('stop() waits for the batch being handled, and delivers nothing after', async () => {
    let finished = 0;
    queue.start(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      finished++;
      return { failedIds: [] };
    }, { ...FAST, batchSize: 1 });
    await queue.send('a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await queue.stop();
    expect(finished).toBe(1);
    await queue.send('b');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(finished).toBe(1);
    expect(queue.stats().visible).toBe(1);
  });

  it('rejects a second consumer and nonsense options', () => {
    queue.start(recorder().handler, FAST);
    expect(() => queue.start(recorder().handler)).toThrow(/already has a consumer/);
    const other = new LocalQueue();
    expect(() => other.start(recorder().handler, { batchSize: 0 })).toThrow(RangeError);
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}

describe('LocalQueue persisted to a file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'headstart-queue-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps sent, unfinished and dead messages across a restart', async () => {
    const file = path.join(dir, 'state', 'headstart.db');
    const first = await LocalQueue.open(file, { onError: () => undefined });
    for (const body of ['done', 'pending 1', 'pending 2', 'poison']) await first.send(body);
    // What was sent is committed: another process opening the file sees it at once.
    const peek = await LocalQueue.open(file);
    expect(peek.stats()).toEqual({ visible: 4, invisible: 0, dead: 0 });
    await peek.close();

    // 'done' is deleted, 'poison' fails until it is a dead letter, and the pending ones crash their
    // handler: they stay invisible (as if still being worked on) until the stop hands them back.
    first.start(
      async (batch) => {
        const [message] = batch;
        if (message?.body.startsWith('pending')) throw new Error('crash while handling');
        return { failedIds: message?.body === 'poison' ? [message.id] : [] };
      },
      { ...FAST, visibilityTimeoutMs: 60_000, maxReceives: 2, batchSize: 1 },
    );
    await until(() => JSON.stringify(first.stats()) === JSON.stringify({ visible: 0, invisible: 2, dead: 1 }));
    await first.close();

    const second = await LocalQueue.open(file);
    expect(second.deadLetters()).toMatchObject([{ body: 'poison', receiveCount: 2 }]);
    expect(second.stats()).toEqual({ visible: 2, invisible: 0, dead: 1 });
    const deliveries: Array<[string, number]> = [];
    second.start(async (batch) => {
      deliveries.push(...batch.map((m): [string, number] => [m.body, m.receiveCount]));
      return { failedIds: [] };
    }, FAST);
    await second.idle();
    await second.close();
    // Receive counts survive the restart, and 'done' never comes back.
    expect(deliveries).toEqual([
      ['pending 1', 2],
      ['pending 2', 2],
    ]);
    const third = await LocalQueue.open(file);
    expect(third.stats()).toEqual({ visible: 0, invisible: 0, dead: 1 });
    await third.close();
  });

  it('loses none of many concurrent sends', async () => {
    const file = path.join(dir, 'q.db');
    const queue = await LocalQueue.open(file);
    await Promise.all(Array.from({ length: 200 }, (_, i) => queue.send(`m${i}`)));
    const reopened = await LocalQueue.open(file);
    expect(reopened.stats().visible).toBe(200);
    await Promise.all([queue.close(), reopened.close()]);
  });

  it('gives a delivery held by a process that died back at the next open, not after its timeout', async () => {
    const file = path.join(dir, 'q.db');
    const queue = await LocalQueue.open(file);
    await queue.send('held');
    // A delivery as a killed process leaves it: invisible for an hour, owned by a pid that has exited.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const db = new Database(file);
    db.prepare('UPDATE messages SET receive_count = 1, visible_at = ?, owner = ?').run(Date.now() + 3_600_000, `${dead}:x`);
    db.close();
    expect(queue.stats()).toEqual({ visible: 0, invisible: 1, dead: 0 });
    const next = await LocalQueue.open(file);
    expect(next.stats()).toEqual({ visible: 1, invisible: 0, dead: 0 });
    await Promise.all([queue.close(), next.close()]);
  });

  it('counts pending messages per dataset, each distinct body once', async () => {
    const queue = new LocalQueue();
    await queue.send('a', { dataset: 'ants' });
    await queue.send('a', { dataset: 'ants' });
    await queue.send('b', { dataset: 'ants' });
    await queue.send('c', { dataset: 'bees' });
    expect([queue.pendingFor('ants'), queue.pendingFor('bees'), queue.pendingFor('wasps')]).toEqual([2, 1, 0]);
    await queue.close();
  });

  it('refuses a state file it cannot read instead of starting empty', async () => {
    const file = path.join(dir, 'q.db');
    await fs.writeFile(file, '{not a database, but some bytes that are long enough to look like a header............................}');
    await expect(LocalQueue.open(file)).rejects.toBeInstanceOf(HeadstartError);
    await expect(LocalQueue.open(file)).rejects.toThrow(/is not a headstart database/);
  });
});

describe('local object event messages', () => {
  it('carry kind and key, and take the queue message id as the event id', () => {
    const body = objectEventMessageBody({ id: 'ignored', kind: 'created', key: 'datasets/my set/a/b (1).jpg' });
    const batch = parseLocalEventMessages([
      { id: 'q1', body, receiveCount: 1, sentAt: '' },
      { id: 'q2', body: 'garbage', receiveCount: 1, sentAt: '' },
      { id: 'q3', body: '{"kind":"renamed","key":"k"}', receiveCount: 1, sentAt: '' },
    ]);
    expect(batch.events).toEqual([{ id: 'q1', kind: 'created', key: 'datasets/my set/a/b (1).jpg' }]);
    expect(batch.unreadable.map((u) => u.id)).toEqual(['q2', 'q3']);
  });
});
