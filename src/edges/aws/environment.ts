/**
 * Wiring for the AWS edges from their environment (set by the CDK stack): the bucket, the backbone
 * and the training job queue. Clients and the backbone are created once per container and reused
 * by every invocation; the backbone file ships in the function's asset (HEADSTART_MODELS), and so
 * does the text encoder when the stack was deployed with `-c textBackbone=<name>` (TEXT_BACKBONE;
 * HEADSTART_BACKBONES holds its entry when it is a registered one, not a catalogue one).
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { HeadstartError } from '../../errors.js';
import { traced } from './observability.js';
import { BatchJobRunner } from '../../adapters/aws/BatchJobRunner.js';
import { S3ObjectStore } from '../../adapters/aws/S3ObjectStore.js';
import { DynamoDatasetIndex } from '../../adapters/aws/DynamoDatasetIndex.js';
import { DynamoTrainingLock } from '../../adapters/aws/DynamoTrainingLock.js';
import { S3UploadTarget } from '../../adapters/aws/S3UploadTarget.js';
import { Backbone } from '../../backbone/Backbone.js';
import { DEFAULT_BACKBONE } from '../../backbone/catalogue.js';
import type { Device } from '../../backend/onnx.js';
import type { Embedder } from '../../pipeline/extract.js';
import { TextPredictor } from '../../pipeline/predictText.js';
import type { ObjectStore } from '../../ports/ObjectStore.js';
import type { TextBackboneLocation } from '../../text/resolveTextBackbone.js';
import { TextBackbone } from '../../text/TextBackbone.js';
import { encoderEmbedder, validatedTextEmbedder } from '../../text/textEmbedders.js';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new HeadstartError(`environment variable ${name} is not set`, 'configuration');
  return value;
}

export function s3Store(env: NodeJS.ProcessEnv = process.env): S3ObjectStore {
  // AWS_ENDPOINT_URL_S3 lets the same wiring talk to moto_server in tests; the SDK reads it itself.
  return new S3ObjectStore(traced(new S3Client({ forcePathStyle: env["S3_FORCE_PATH_STYLE"] === "true" })), requireEnv("BUCKET", env));
}

/** The dataset index table (TABLE); AWS_ENDPOINT_URL_DYNAMODB points it at moto_server in tests. */
export function dynamoIndex(env: NodeJS.ProcessEnv = process.env): DynamoDatasetIndex {
  return new DynamoDatasetIndex(traced(new DynamoDBClient({})), requireEnv('TABLE', env));
}

/** Presigned PUT URLs into the same bucket, for the console's uploads (bytes never pass through Lambda). */
export function s3UploadTarget(env: NodeJS.ProcessEnv = process.env): S3UploadTarget {
  return new S3UploadTarget(traced(new S3Client({ forcePathStyle: env['S3_FORCE_PATH_STYLE'] === 'true' })), requireEnv('BUCKET', env));
}

export function batchJobRunner(store: S3ObjectStore, env: NodeJS.ProcessEnv = process.env): BatchJobRunner {
  return new BatchJobRunner({ client: traced(new BatchClient({})), jobQueue: requireEnv('TRAIN_JOB_QUEUE', env), jobDefinition: requireEnv('TRAIN_JOB_DEFINITION', env), store, lock: trainingLock(env) });
}

/** The one-training-per-dataset lock, in the index table. */
export function trainingLock(env: NodeJS.ProcessEnv = process.env): DynamoTrainingLock {
  return new DynamoTrainingLock(traced(new DynamoDBClient({})), requireEnv('TABLE', env));
}

/**
 * Runs `load` on the first call and shares its promise with every later one; a failed load (say,
 * a missing file) is forgotten, so the next invocation tries again instead of failing forever.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (loading === undefined) {
      loading = load();
      loading.catch(() => (loading = undefined));
    }
    return loading;
  };
}

/** Loads the configured backbone on first use; later calls share the same instance. */
export function lazyBackbone(env: NodeJS.ProcessEnv = process.env, device: Device = 'cpu'): () => Promise<Backbone> {
  return loadOnce(() => Backbone.load(env['BACKBONE'] ?? DEFAULT_BACKBONE, { device }));
}

/** The text encoder the stack shipped (TEXT_BACKBONE), or undefined: texts then take the TF-IDF path. */
export function configuredTextBackbone(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env['TEXT_BACKBONE'] || undefined;
}

/** Where the shipped text encoder's files (HEADSTART_MODELS) and, for a registered one, its entry (HEADSTART_BACKBONES) are. */
export function textBackboneLocation(env: NodeJS.ProcessEnv = process.env): TextBackboneLocation {
  return {
    ...(env['HEADSTART_MODELS'] ? { modelsDir: env['HEADSTART_MODELS'] } : {}),
    ...(env['HEADSTART_BACKBONES'] ? { backbonesDir: env['HEADSTART_BACKBONES'] } : {}),
  };
}

/**
 * What `.txt` objects are extracted with: the shipped encoder (both files sha256-checked when it
 * loads, as locally), loaded on first use and shared; without one, validation only, as the TF-IDF
 * representation needs.
 */
export function lazyTextEmbedder(env: NodeJS.ProcessEnv = process.env, device: Device = 'cpu'): () => Promise<Embedder> {
  const name = configuredTextBackbone(env);
  if (name === undefined) return async () => validatedTextEmbedder;
  return loadOnce(() => TextBackbone.load(name, { ...textBackboneLocation(env), device }).then(encoderEmbedder));
}

/** Serves text versions: TF-IDF ones from their files, encoder ones with the encoder the asset carries (found where {@link textBackboneLocation} says). */
export function textPredictor(store: ObjectStore, env: NodeJS.ProcessEnv = process.env): TextPredictor {
  return new TextPredictor(store, { location: textBackboneLocation(env) });
}

export function logger(serviceName: string): Logger {
  return new Logger({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? serviceName });
}
