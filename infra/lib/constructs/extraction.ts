/**
 * Extraction: S3 events for datasets/ -> SQS queue (+ dead-letter queue) -> extract function.
 *
 * The queue receives ObjectCreated:* and ObjectRemoved:* (deletes and delete markers) for keys
 * under datasets/. S3 also sends one `s3:TestEvent` message when the notification is configured;
 * the handler must accept and drop it. Messages that fail 5 times go to the dead-letter queue.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as lambdaEvents from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge.js';
import { grantPrefixes } from './bucket-grants.js';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { grantIndex } from './index-grants.js';
import { PipelineFunction, type FunctionAsset } from './pipeline-function.js';
import { KEY_PREFIXES, objects } from './storage.js';

export const EXTRACT_TIMEOUT = Duration.seconds(120);
export const EXTRACT_BATCH_SIZE = 10;
export const EXTRACT_MAX_BATCHING_WINDOW = Duration.seconds(5);
export const MAX_RECEIVE_COUNT = 5;

export interface ExtractionProps {
  bucket: s3.IBucket;
  /** The dataset index: extraction records each object's outcome there. */
  table: dynamodb.ITable;
  asset: FunctionAsset;
  backbone: string;
  logLevel: string;
  /** Memory of the extract function (measured default in infra/lib/config.ts). */
  memoryMb: number;
  /** The most concurrent extract invocations the queue drives (protects the account's concurrency). */
  maxConcurrency?: number;
  destroyOnRemoval?: boolean;
}

export class Extraction extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly fn: PipelineFunction;

  constructor(scope: Construct, id: string, props: ExtractionProps) {
    super(scope, id);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS guidance for Lambda event sources: at least 6x the function timeout (plus the batching
      // window), so a message is not handed out again while an invocation may still be working on it.
      visibilityTimeout: Duration.seconds(6 * EXTRACT_TIMEOUT.toSeconds() + EXTRACT_MAX_BATCHING_WINDOW.toSeconds()),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    this.fn = new PipelineFunction(this, 'Extract', {
      asset: props.asset,
      description: 'headstart extract: validate, decode and embed uploaded images (SQS of S3 events)',
      serviceName: 'headstart-extract',
      memoryMb: props.memoryMb,
      timeout: EXTRACT_TIMEOUT,
      logLevel: props.logLevel,
      backbone: props.backbone,
      environment: { BUCKET: props.bucket.bucketName, TABLE: props.table.tableName },
      destroyOnRemoval: props.destroyOnRemoval,
    });
    this.fn.fn.addEventSource(
      new lambdaEvents.SqsEventSource(this.queue, {
        batchSize: EXTRACT_BATCH_SIZE,
        maxBatchingWindow: EXTRACT_MAX_BATCHING_WINDOW,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency ?? 10,
      }),
    );

    // Cached embeddings are shared by content, so they are never deleted here; index entries are
    // deleted with their object (ObjectRemoved), their counters moved in the same transaction.
    grantPrefixes(props.bucket, this.fn.role, { read: [objects('datasets'), objects('embeddings')], put: [objects('embeddings')] }, 'the extract function');
    grantIndex(
      props.table,
      this.fn.role,
      { read: true, write: { actions: ['PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem', 'BatchWriteItem'], keys: ['E#', 'C#', 'D', 'B#'] } },
      'the extract function',
    );

    const toQueue = new s3n.SqsDestination(this.queue);
    const filter = { prefix: KEY_PREFIXES.datasets };
    props.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, toQueue, filter);
    props.bucket.addEventNotification(s3.EventType.OBJECT_REMOVED, toQueue, filter);
    suppressNotificationHandlerFindings(this);
  }
}

/**
 * CDK configures bucket notifications through one stack-wide custom resource (a Python Lambda
 * with AWSLambdaBasicExecutionRole). It is CDK's own code.
 */
function suppressNotificationHandlerFindings(scope: Construct): void {
  const stack = Stack.of(scope);
  const handler = stack.node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
  if (!handler) return;
  acknowledge(
    handler,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'CDK-provided bucket-notification custom resource; AWSLambdaBasicExecutionRole only lets it write its own logs.',
  );
}
