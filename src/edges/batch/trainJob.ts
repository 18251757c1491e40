/**
 * The training job on AWS Batch (or anywhere with the bucket): trains the dataset, publishes the
 * version, and records the outcome in jobs/<id>.json for `GET /jobs/{id}`. Exits non-zero on
 * failure so Batch marks the job FAILED too.
 */
import { describeError } from '../../errors.js';
import { deviceFromEnv } from '../../config.js';
import type { Device } from '../../backend/onnx.js';
import type { JobState } from '../../ports/JobRunner.js';
import type { ObjectStore } from '../../ports/ObjectStore.js';
import type { DatasetIndex } from '../../ports/DatasetIndex.js';
import { readJob, updateJob } from '../../pipeline/jobs.js';
import type { TrainingBackbone } from '../../pipeline/train.js';
import { trainChoosingBackbone } from '../../pipeline/trainChoosingBackbone.js';
import type { TextEncoderSource } from '../../pipeline/trainTextChoosingRepresentation.js';

export interface TrainJobInput {
  store: ObjectStore;
  index: DatasetIndex;
  backbone: TrainingBackbone;
  dataset: string;
  jobId: string;
  device: Device;
  /** Where text datasets find their encoders (default: HEADSTART_MODELS; text datasets then train TF-IDF when none is there). */
  textEncoders?: TextEncoderSource;
  log?: (message: string, context?: Record<string, unknown>) => void;
}

export async function runTrainJob(input: TrainJobInput): Promise<JobState> {
  const { store, dataset, jobId } = input;
  const now = new Date().toISOString();
  const base: JobState = (await readJob(store, jobId)) ?? { id: jobId, dataset, status: 'queued', submittedAt: now, updatedAt: now };
  const running = await updateJob(store, base, { status: 'running' });
  try {
    // The same policy as the local runtime (text datasets train their own representation).
    const manifest = await trainChoosingBackbone(
      { store, index: input.index },
      {
        extraction: async () => input.backbone,
        named: async (name) => (await import('../../backbone/Backbone.js')).Backbone.load(name, { device: input.device }),
        ...(input.textEncoders ? { text: input.textEncoders } : {}),
      },
      dataset,
      { device: input.device },
    );
    const fallback = manifest.training.deviceFallback;
    if (fallback) input.log?.('training fell back to the CPU', { dataset, requested: input.device, reason: fallback });
    const done = await updateJob(store, running, { status: 'succeeded', version: manifest.version, ...(fallback ? { deviceFallback: fallback } : {}) });
    input.log?.('training succeeded', { dataset, version: manifest.version, accuracy: manifest.metrics.accuracy, device: manifest.training.device, dtype: manifest.training.dtype });
    return done;
  } catch (error) {
    const failed = await updateJob(store, running, { status: 'failed', error: describeError(error) });
    input.log?.('training failed', { dataset, error: describeError(error) });
    return failed;
  }
}

/**
 * The Batch container's entry: DATASET from the job's container overrides, the job id from
 * AWS_BATCH_JOB_ID (set by Batch), BUCKET/BACKBONE/HEADSTART_MODELS from the job definition.
 * Uses CUDA when HEADSTART_DEVICE=cuda and the CUDA execution provider is installed, else the CPU;
 * the trainer decides, so a fallback is logged and kept in the job record and model.json.
 */
export async function trainJobFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { configuredTextBackbone, dynamoIndex, lazyBackbone, logger, requireEnv, s3Store, textBackboneLocation, trainingLock } = await import('../aws/environment.js');
  const log = logger('headstart-train');
  const device = deviceFromEnv(env);
  const dataset = requireEnv('DATASET', env);
  const jobId = env['AWS_BATCH_JOB_ID'] ?? requireEnv('JOB_ID', env);
  try {
    const job = await runTrainJob({
      store: s3Store(env),
      index: dynamoIndex(env),
      backbone: await lazyBackbone(env)(),
      dataset,
      jobId,
      device,
      // The encoder the extract Lambda embeds with is the default here too (its embeddings are cached).
      textEncoders: { location: textBackboneLocation(env), defaultName: configuredTextBackbone(env) },
      log: (message, context) => log.info(message, context ?? {}),
    });
    return job.status === 'succeeded' ? 0 : 1;
  } finally {
    // The dataset may be trained again. (Killed by Batch, this never runs: the next submit sees
    // Batch's FAILED and takes the lock over.)
    await trainingLock(env).release(dataset, { jobId });
  }
}
