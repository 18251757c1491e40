/**
 * The job-runner port over AWS Batch. A job's id is its Batch job id, so nothing has to be written
 * to submit one and `get` needs no lookup table:
 *
 * - submit: takes the dataset's training lock (one training per dataset: a second submit gets
 *   TrainingInProgressError, 409), then SubmitJob with the dataset in the container environment
 *   (DATASET), then names the job on the lock; the trainer releases it when it ends, and a lock
 *   whose job Batch reports finished (a job Batch killed) is taken over by the next submit.
 * - get: DescribeJobs gives the status (Batch is the authority on it); the job record the trainer
 *   writes when it finishes, jobs/<id>.json, adds the published version (and, on failure, the
 *   trainer's own explanation, which says more than Batch's "Essential container in task exited").
 *   The trainer finds its id in AWS_BATCH_JOB_ID, which Batch sets in every job container and keeps
 *   across retry attempts. Batch forgets finished jobs after some days; then the record alone answers.
 */
import { DescribeJobsCommand, SubmitJobCommand, type BatchClient, type JobDetail } from '@aws-sdk/client-batch';
import { validateName } from '../../dataset/names.js';
import { readJob } from '../../pipeline/jobs.js';
import type { JobRunner, JobState, JobStatus } from '../../ports/JobRunner.js';
import type { ObjectStore } from '../../ports/ObjectStore.js';
import type { DynamoTrainingLock } from './DynamoTrainingLock.js';

/** The part of BatchClient this adapter uses; tests pass a fake. */
export type BatchSender = Pick<BatchClient, 'send'>;

export interface BatchJobRunnerOptions {
  client: BatchSender;
  /** Job queue name or ARN. */
  jobQueue: string;
  /** Job definition ARN (with revision) or name. */
  jobDefinition: string;
  /** The bucket, where the trainer writes jobs/<id>.json. */
  store: ObjectStore;
  /** One training per dataset; without it (tests of the Batch mapping alone) submits are not limited. */
  lock?: DynamoTrainingLock;
  /** The clock, for tests. */
  now?: () => Date;
}

/** Batch job names: at most 128 of [A-Za-z0-9_-]. */
const MAX_JOB_NAME = 128;
/** Batch job ids are UUIDs; anything else cannot name a job (and must not reach a store key). */
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

const STATUS: Record<string, JobStatus> = {
  SUBMITTED: 'queued',
  PENDING: 'queued',
  RUNNABLE: 'queued',
  STARTING: 'queued',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
};

export class BatchJobRunner implements JobRunner {
  private readonly client: BatchSender;
  private readonly jobQueue: string;
  private readonly jobDefinition: string;
  private readonly store: ObjectStore;
  private readonly now: () => Date;
  private readonly lock: DynamoTrainingLock | undefined;

  constructor(options: BatchJobRunnerOptions) {
    this.lock = options.lock;
    this.client = options.client;
    this.jobQueue = options.jobQueue;
    this.jobDefinition = options.jobDefinition;
    this.store = options.store;
    this.now = options.now ?? (() => new Date());
  }

  async submit(dataset: string): Promise<JobState> {
    const name = validateName(dataset, 'dataset');
    const token = await this.lock?.acquire(name, async (jobId) => {
      const described = await this.client.send(new DescribeJobsCommand({ jobs: [jobId] }));
      const status = described.jobs?.find((j) => j.jobId === jobId)?.status;
      return status === undefined || status === 'SUCCEEDED' || status === 'FAILED';
    });
    let response;
    try {
      response = await this.client.send(
        new SubmitJobCommand({
          jobName: batchJobName(name),
          jobQueue: this.jobQueue,
          jobDefinition: this.jobDefinition,
          containerOverrides: { environment: [{ name: 'DATASET', value: name }] },
        }),
      );
      if (!response.jobId) throw new Error(`AWS Batch accepted the job for dataset "${name}" but returned no job id`);
    } catch (error) {
      if (token !== undefined) await this.lock?.release(name, { token });
      throw error;
    }
    if (token !== undefined) await this.lock?.attach(name, token, response.jobId);
    const now = this.now().toISOString();
    return { id: response.jobId, dataset: name, status: 'queued', submittedAt: now, updatedAt: now };
  }

  async get(id: string): Promise<JobState | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const [described, record] = await Promise.all([
      this.client.send(new DescribeJobsCommand({ jobs: [id] })),
      readJob(this.store, id),
    ]);
    const job = described.jobs?.find((candidate) => candidate.jobId === id);
    if (!job) return record;
    return combine(id, job, record);
  }
}

/** `train-<dataset>` with every character Batch refuses replaced by '_', cut to 128. */
export function batchJobName(dataset: string): string {
  return `train-${dataset}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, MAX_JOB_NAME);
}

function combine(id: string, job: JobDetail, record: JobState | undefined): JobState {
  const status = STATUS[job.status ?? ''] ?? 'queued';
  const dataset = job.container?.environment?.find((variable) => variable.name === 'DATASET')?.value ?? record?.dataset ?? '';
  const submittedAt = job.createdAt === undefined ? (record?.submittedAt ?? '') : new Date(job.createdAt).toISOString();
  const lastChange = job.stoppedAt ?? job.startedAt ?? job.createdAt;
  const state: JobState = {
    id,
    dataset,
    status,
    submittedAt,
    updatedAt: lastChange === undefined ? (record?.updatedAt ?? submittedAt) : new Date(lastChange).toISOString(),
  };
  if (status === 'succeeded' && record?.version) state.version = record.version;
  if (status === 'failed') {
    const reason = record?.error ?? job.statusReason ?? job.attempts?.at(-1)?.container?.reason;
    if (reason) state.error = reason;
  }
  return state;
}
