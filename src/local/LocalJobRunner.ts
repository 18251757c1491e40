/**
 * Runs training jobs in this process, one at a time (training already uses every core), and keeps
 * their state in the store like the Batch trainer does, so `GET /jobs/{id}` reads the same records.
 */
import { describeError } from '../errors.js';
import type { JobRunner, JobState } from '../ports/JobRunner.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { newJobId, readJob, updateJob, writeJob } from '../pipeline/jobs.js';

/** Trains a dataset and returns the published version. */
export type TrainFn = (dataset: string) => Promise<{ version: string }>;

export class LocalJobRunner implements JobRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly running = new Map<string, Promise<JobState>>();

  constructor(
    private readonly store: ObjectStore,
    private readonly train: TrainFn,
  ) {}

  async submit(dataset: string): Promise<JobState> {
    const now = new Date().toISOString();
    const job: JobState = { id: newJobId(), dataset, status: 'queued', submittedAt: now, updatedAt: now };
    await writeJob(this.store, job);
    const done = this.queue.then(() => this.run(job));
    this.queue = done.catch(() => undefined);
    this.running.set(job.id, done);
    return job;
  }

  async get(id: string): Promise<JobState | undefined> {
    return readJob(this.store, id);
  }

  /** Resolves when the job has finished (succeeded or failed). */
  async wait(id: string): Promise<JobState | undefined> {
    return (await this.running.get(id)) ?? this.get(id);
  }

  private async run(queued: JobState): Promise<JobState> {
    let job = await updateJob(this.store, queued, { status: 'running' });
    try {
      const { version } = await this.train(job.dataset);
      job = await updateJob(this.store, job, { status: 'succeeded', version });
    } catch (error) {
      job = await updateJob(this.store, job, { status: 'failed', error: describeError(error) });
    }
    return job;
  }
}
