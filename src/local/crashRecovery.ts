/**
 * Recovery after a local process died without closing its runtime (killed, crashed, Ctrl-C).
 *
 * Locally, writing an upload and queueing its event are two steps: the folder store publishes the
 * file, then the runtime appends the event to queue.json. A process killed between the two leaves
 * an object that no event will ever bring to extraction (S3 has no such gap: its notification is
 * part of the PUT). So each runtime leaves a marker file under HEADSTART_HOME/processes/ while it
 * is open; the next runtime that finds the marker of a process that no longer runs queues an event
 * for every upload whose record is missing or describes other bytes. Events are hints and
 * extraction is idempotent, so a spare event costs a lookup, never a double count.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { datasetOfKey, DATASETS_PREFIX } from '../dataset/keys.js';
import { readDatasetRecords, readRejectedRecords, type ObjectRecord } from '../dataset/records.js';
import { listAll, type ObjectStore } from '../ports/ObjectStore.js';

export interface HomeClaim {
  /** True when a process that used this home earlier ended without closing its runtime. */
  crashedBefore: boolean;
  /** Removes this process's marker (call on a clean close). */
  release(): Promise<void>;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Leaves this process's marker in `<home>/processes/` and clears the markers of dead processes. */
export async function claimHome(home: string): Promise<HomeClaim> {
  const dir = path.join(home, 'processes');
  await mkdir(dir, { recursive: true });
  let crashedBefore = false;
  for (const name of await readdir(dir)) {
    const pid = Number.parseInt(name, 10);
    // Ours (another runtime of this very process), or a process still running.
    if (pid === process.pid || (pid > 0 && isRunning(pid))) continue;
    crashedBefore = true;
    await rm(path.join(dir, name), { force: true });
  }
  const marker = path.join(dir, `${process.pid}.${randomUUID()}`);
  await writeFile(marker, '');
  return { crashedBefore, release: () => rm(marker, { force: true }) };
}

/** Uploads whose record is missing or stale: the ones a lost event would leave unextracted. */
export async function unreconciledKeys(store: ObjectStore): Promise<string[]> {
  const objects = await listAll(store, DATASETS_PREFIX);
  const records = new Map<string, ObjectRecord>();
  for (const record of await readRejectedRecords(store)) records.set(record.key, record);
  const datasets = new Set(objects.map((o) => datasetOfKey(o.key)).filter((d): d is string => d !== undefined));
  for (const dataset of datasets) for (const record of await readDatasetRecords(store, dataset)) records.set(record.key, record);
  return objects.filter((o) => records.get(o.key.normalize('NFC'))?.etag !== o.etag).map((o) => o.key);
}
