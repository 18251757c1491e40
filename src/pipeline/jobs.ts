/**
 * Training job records in the bucket (jobs/<id>.json). The local runner writes them as the job
 * moves; on AWS the Batch trainer writes the final one (with the published version) and the job
 * runner combines it with Batch's own status.
 */
import { randomBytes } from 'node:crypto';
import { jobKey } from '../dataset/keys.js';
import type { JobState } from '../ports/JobRunner.js';
import { getJson, putJson, type ObjectStore } from '../ports/ObjectStore.js';

export function newJobId(date = new Date()): string {
  return `job-${date.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

export async function readJob(store: ObjectStore, id: string): Promise<JobState | undefined> {
  return getJson<JobState>(store, jobKey(id));
}

export async function writeJob(store: ObjectStore, job: JobState): Promise<void> {
  await putJson(store, jobKey(job.id), job);
}

/** Returns the job with the given changes and a fresh updatedAt, after writing it. */
export async function updateJob(store: ObjectStore, job: JobState, changes: Partial<JobState>): Promise<JobState> {
  const next: JobState = { ...job, ...changes, updatedAt: new Date().toISOString() };
  await writeJob(store, next);
  return next;
}
