/**
 * Recovery after a local process died without closing its runtime (killed, crashed, Ctrl-C).
 *
 * Locally, writing an upload and queueing its event are two steps: the folder store publishes the
 * file, then the runtime commits the event to the queue in headstart.db. A process killed between the two leaves
 * an object that no event will ever bring to extraction (S3 has no such gap: its notification is
 * part of the PUT). So each runtime leaves a marker file under HEADSTART_HOME/processes/ while it
 * is open; the next runtime that finds the marker of a process that no longer runs queues an event
 * for every upload whose index entry is missing or describes other bytes. Events are hints and
 * extraction is idempotent, so a spare event costs a lookup, never a double count.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { datasetOfKey, DATASETS_PREFIX } from '../dataset/keys.js';
import type { DatasetIndex, IndexEntry } from '../ports/DatasetIndex.js';
import { listAll, type ObjectStore } from '../ports/ObjectStore.js';
import { isProcessRunning } from '../util/isProcessRunning.js';

export interface HomeClaim {
  /** True when a process that used this home earlier ended without closing its runtime. */
  crashedBefore: boolean;
  /** Removes this process's marker (call on a clean close). */
  release(): Promise<void>;
}

/** Leaves this process's marker in `<home>/processes/` and clears the markers of dead processes. */
export async function claimHome(home: string): Promise<HomeClaim> {
  const dir = path.join(home, 'processes');
  await mkdir(dir, { recursive: true });
  let crashedBefore = false;
  for (const name of await readdir(dir)) {
    const pid = Number.parseInt(name, 10);
    // Ours (another runtime of this very process), or a process still running.
    if (pid === process.pid || (pid > 0 && isProcessRunning(pid))) continue;
    crashedBefore = true;
    await rm(path.join(dir, name), { force: true });
  }
  const marker = path.join(dir, `${process.pid}.${randomUUID()}`);
  await writeFile(marker, '');
  return { crashedBefore, release: () => rm(marker, { force: true }) };
}

/**
 * Uploads whose index entry is missing or stale: the ones a lost event would leave unextracted.
 * O(N): it runs only after a crash, never on the way of a command.
 */
export async function unreconciledKeys(store: ObjectStore, index: DatasetIndex): Promise<string[]> {
  const objects = await listAll(store, DATASETS_PREFIX);
  const entries = new Map<string, IndexEntry>();
  for await (const entry of index.entries(undefined)) entries.set(entry.key, entry);
  const datasets = new Set(objects.map((o) => datasetOfKey(o.key)).filter((d): d is string => d !== undefined));
  for (const dataset of datasets) for await (const entry of index.entries(dataset)) entries.set(entry.key, entry);
  return objects.filter((o) => entries.get(o.key.normalize('NFC'))?.etag !== o.etag).map((o) => o.key);
}
