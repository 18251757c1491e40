/**
 * Runs training jobs: an in-process job locally, an AWS Batch job in the cloud. The HTTP train
 * route submits through this port and `GET /jobs/{id}` reads it.
 */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobState {
  id: string;
  dataset: string;
  status: JobStatus;
  /** The published model version when the job succeeded. */
  version?: string;
  error?: string;
  /** Set when the job asked for CUDA and trained on the CPU instead: why. */
  deviceFallback?: string;
  submittedAt: string;
  updatedAt: string;
}

export interface JobRunner {
  submit(dataset: string): Promise<JobState>;
  get(id: string): Promise<JobState | undefined>;
}
