/**
 * Runs training jobs in this process, one at a time (training already uses every core), with their
 * records in the home's SQLite file so every process on the home sees the same jobs.
 *
 * - At most one queued or running job per dataset, across processes: the jobs table's partial
 *   unique index refuses a second, and submit answers with the job that holds the dataset.
 * - A job records the pid that runs it; a job whose process died (killed, crashed) is marked failed
 *   by the next runner that opens the home, so it never stays "running" forever.
 */
import { describeError, TrainingInProgressError } from '../errors.js';
import type { JobRunner, JobState } from '../ports/JobRunner.js';
import { newJobId } from '../pipeline/jobs.js';
import type { Sqlite } from '../adapters/local/HomeDatabase.js';
import { isProcessRunning } from '../util/isProcessRunning.js';

/** Trains a dataset and returns the published version (and a CUDA fallback, if one happened). */
export type TrainFn = (dataset: string) => Promise<{ version: string; training?: { deviceFallback?: string } }>;

export class LocalJobRunner implements JobRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly running = new Map<string, Promise<JobState>>();

  constructor(
    private readonly db: Sqlite,
    private readonly train: TrainFn,
  ) {
    this.failOrphans();
  }

  async submit(dataset: string): Promise<JobState> {
    const job = this.claim(dataset, 'queued');
    const done = this.queue.then(() => this.run(job));
    this.queue = done.catch(() => undefined);
    this.running.set(job.id, done);
    return job;
  }

  /**
   * Trains now, in the caller (the CLI's `train`), as a job of its own: it holds the dataset like a
   * submitted job does, so a `serve` or another `train` on the same home gets a 409 meanwhile.
   */
  async runNow<T extends { version: string }>(dataset: string, train: () => Promise<T>): Promise<T> {
    let job = this.claim(dataset, 'running');
    try {
      const result = await train();
      job = this.update(job, { status: 'succeeded', version: result.version });
      return result;
    } catch (error) {
      job = this.update(job, { status: 'failed', error: describeError(error) });
      throw error;
    }
  }

  /** Inserts the dataset's one active job, or throws naming the job that already holds it. */
  private claim(dataset: string, status: 'queued' | 'running'): JobState {
    const now = new Date().toISOString();
    const job: JobState = { id: newJobId(), dataset, status, submittedAt: now, updatedAt: now };
    const holder = this.db
      .transaction(() => {
        const active = this.db.prepare<[string], { id: string }>(`SELECT id FROM jobs WHERE dataset = ? AND status IN ('queued', 'running')`).get(dataset);
        if (active !== undefined) return active.id;
        this.db.prepare('INSERT INTO jobs (id, dataset, status, pid, body) VALUES (?, ?, ?, ?, ?)').run(job.id, dataset, job.status, process.pid, JSON.stringify(job));
        return undefined;
      })
      .immediate();
    if (holder !== undefined) throw new TrainingInProgressError(dataset, holder);
    return job;
  }

  async get(id: string): Promise<JobState | undefined> {
    const row = this.db.prepare<[string], { body: string }>('SELECT body FROM jobs WHERE id = ?').get(id);
    return row === undefined ? undefined : (JSON.parse(row.body) as JobState);
  }

  /** Resolves when the job has finished (succeeded or failed). */
  async wait(id: string): Promise<JobState | undefined> {
    return (await this.running.get(id)) ?? this.get(id);
  }

  private async run(queued: JobState): Promise<JobState> {
    let job = this.update(queued, { status: 'running' });
    try {
      const { version, training } = await this.train(job.dataset);
      job = this.update(job, { status: 'succeeded', version, ...(training?.deviceFallback ? { deviceFallback: training.deviceFallback } : {}) });
    } catch (error) {
      job = this.update(job, { status: 'failed', error: describeError(error) });
    }
    return job;
  }

  private update(job: JobState, changes: Partial<JobState>): JobState {
    const next: JobState = { ...job, ...changes, updatedAt: new Date().toISOString() };
    this.db.prepare('UPDATE jobs SET status = ?, body = ? WHERE id = ?').run(next.status, JSON.stringify(next), next.id);
    return next;
  }

  /** Jobs left queued or running by a process that no longer runs: they will never finish. */
  private failOrphans(): void {
    const active = this.db.prepare<[], { id: string; pid: number | null; body: string }>(`SELECT id, pid, body FROM jobs WHERE status IN ('queued', 'running')`).all();
    for (const row of active) {
      if (row.pid === process.pid || (row.pid !== null && isProcessRunning(row.pid))) continue;
      const job = JSON.parse(row.body) as JobState;
      this.update(job, { status: 'failed', error: `the process that ran this job (pid ${row.pid}) ended before the job finished` });
    }
  }
}
