/**
 * A real S3/SQS wire-protocol server for the AWS adapters' integration tests: moto_server (Python;
 * `npm test` installs it into .venv-moto, see scripts/pretest.sh) started as a child process on 127.0.0.1 and a free port.
 *
 * If moto_server is not installed the start THROWS: a missing dependency must fail the run, never
 * skip it silently. Startup (spawn until it answers HTTP) measured 0.7–0.9 s on a 2-core machine
 * with warm file caches (moto 5.2.1, Python 3.11); allow more on a cold disk. Start one server per
 * test file (beforeAll) and give each test its own bucket and queues.
 *
 * moto runs the S3 -> SQS event notification in-process, so a real PutObject delivers a real
 * notification message to the queue, like S3 does. Differences from S3 seen in moto 5.2.1:
 * - notification keys are quote_plus-encoded including '/' (%2F); S3 keeps '/'. Both decode alike.
 * - it sends the s3:TestEvent on PutBucketNotificationConfiguration, as S3 does.
 * - ObjectRemoved:Delete records carry size and eTag; S3's do not. Deleting a missing key sends nothing.
 * - concurrent PutObjects of one key can fail with HTTP 500 (a race inside moto).
 * - requests must be SigV4-signed (any credentials); unsigned ones get 403.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  CreateBucketCommand,
  PutBucketNotificationConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDatasetIndex, INDEX_TABLE_KEYS } from '../../src/adapters/aws/DynamoDatasetIndex.js';
import { freePort } from './freePort.js';
import { repoDir } from './shared.js';

export interface MotoServer {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** The process (group) id of the server. */
  pid: number;
  /** Milliseconds from spawn until the server answered HTTP. */
  startupMs: number;
  /** Kills the server's whole process group and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

export const MOTO_REGION = 'us-east-1';
/** moto's default account; queue ARNs use it. */
export const MOTO_ACCOUNT = '123456789012';

const STARTUP_TIMEOUT_MS = 60_000;

/**
 * How the tests start it: the same moto, through test/helpers/moto_serial_server.py, which serves
 * one request at a time (see there why), with the Python that has moto installed.
 */
function motoLaunch(port: number, threaded: boolean): { command: string; args: string[] } {
  const venvPython = path.join(repoDir(), '.venv-moto', 'bin', 'python');
  const launcher = path.join(repoDir(), 'test', 'helpers', 'moto_serial_server.py');
  // HEADSTART_MOTO_PYTHON: another interpreter (the harness test points it at a missing one).
  const python = process.env['HEADSTART_MOTO_PYTHON'] ?? (existsSync(venvPython) ? venvPython : 'python3');
  return { command: python, args: [launcher, '-H', '127.0.0.1', '-p', String(port), ...(threaded ? ['--threaded'] : [])] };
}

/**
 * `threaded` serves requests concurrently, as moto_server itself does: faster for benchmarks that
 * only read and write objects, wrong for concurrent DynamoDB transactions (see moto_serial_server.py).
 */
export async function startMoto(options: { threaded?: boolean } = {}): Promise<MotoServer> {
  // A port can be taken between our probe and moto's bind; try a few times on fresh ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await freePort(), options.threaded ?? false);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') throw error;
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(port: number, threaded: boolean): Promise<MotoServer> {
  const started = performance.now();
  const endpoint = `http://127.0.0.1:${port}`;
  // detached: moto_server is often a pyenv shim (a shell that runs python); it and its children form
  // one process group we can kill together.
  const launch = motoLaunch(port, threaded);
  const child = spawn(launch.command, launch.args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        const missing = new Error(
          'moto_server is not installed (no Python with moto: neither .venv-moto/bin/python nor python3 on PATH). `npm test` installs it (scripts/pretest.sh); or: pip install "moto[server]"',
          { cause: error },
        ) as Error & { code: string };
        missing.code = 'ENOENT';
        reject(missing);
      } else reject(error);
    }),
  );
  spawnFailed.catch(() => undefined);

  const stop = onceAsync(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
    process.off('exit', killOnExit);
  });
  // If the test worker exits without teardown, do not leave a server behind.
  const killOnExit = () => killGroup(child, 'SIGKILL');
  process.on('exit', killOnExit);

  try {
    await Promise.race([
      spawnFailed,
      exited.then(({ code, signal }) => {
        throw new Error(`moto_server exited during startup (code ${code}, signal ${signal}): ${stderr.trim()}`);
      }),
      waitUntilAnswers(endpoint, STARTUP_TIMEOUT_MS),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, pid: child.pid ?? -1, startupMs: Math.round(performance.now() - started), stop };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function onceAsync(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}


async function waitUntilAnswers(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // moto's own API answers once both Flask and the backends are loaded.
      const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not answer at ${endpoint} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export function motoS3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: MOTO_REGION, forcePathStyle: true, credentials, maxAttempts: 1 });
}

export function motoSqsClient(endpoint: string): SQSClient {
  return new SQSClient({ endpoint, region: MOTO_REGION, credentials, maxAttempts: 1 });
}

export function motoDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: MOTO_REGION, credentials, maxAttempts: 1 });
}

/** The dataset index table as the CDK storage construct declares it (keys and GSI), on demand. */
export async function createIndexTable(dynamo: DynamoDBClient, table = uniqueName('index')): Promise<string> {
  const { partitionKey, sortKey, gsi } = INDEX_TABLE_KEYS;
  await dynamo.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [partitionKey, sortKey, gsi.partitionKey, gsi.sortKey].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: gsi.name,
          KeySchema: [
            { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
            { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  return table;
}

/** A fresh dataset index on moto_server. */
export async function motoIndex(endpoint: string): Promise<DynamoDatasetIndex> {
  const client = motoDynamoClient(endpoint);
  return new DynamoDatasetIndex(client, await createIndexTable(client));
}

/** A name no other test in this server uses (bucket names: lower case, digits, '-'). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}

export async function createBucket(s3: S3Client, bucket = uniqueName('bucket')): Promise<string> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export interface ExtractionResources {
  bucket: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
}

export interface ExtractionResourceOptions {
  /** Receives before SQS moves a message to the DLQ (RedrivePolicy maxReceiveCount). Default 5. */
  maxReceiveCount?: number;
  /** The queue's visibility timeout in seconds. Default 30. */
  visibilityTimeoutSeconds?: number;
  /** Only keys under this prefix notify the queue. Default 'datasets/'. */
  prefix?: string;
}

/**
 * The storage side of the pipeline as the CDK stack builds it: a bucket whose creates and removes
 * under `datasets/` notify an SQS queue that redrives to a dead-letter queue.
 */
export async function createExtractionResources(
  s3: S3Client,
  sqs: SQSClient,
  options: ExtractionResourceOptions = {},
): Promise<ExtractionResources> {
  const name = uniqueName('extract');
  const bucket = await createBucket(s3, uniqueName('bucket'));
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = required(dlq.QueueUrl, 'DLQ url');
  const dlqArn = await queueArn(sqs, dlqUrl);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount ?? 5 }),
      },
    }),
  );
  const queueUrl = required(queue.QueueUrl, 'queue url');
  const arn = await queueArn(sqs, queueUrl);
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            QueueArn: arn,
            Events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: options.prefix ?? 'datasets/' }] } },
          },
        ],
      },
    }),
  );
  return { bucket, queueUrl, queueArn: arn, dlqUrl, dlqArn };
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return required(attributes.Attributes?.QueueArn, `ARN of ${queueUrl}`);
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`moto did not return the ${what}`);
  return value;
}
