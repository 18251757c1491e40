/**
 * The data bucket, the bucket that receives its access logs (and the VPC flow logs), and the
 * dataset index table (DynamoDB: one row per uploaded object, counters, training locks).
 *
 * Key layout the IAM grants are cut along (src/dataset/keys.ts is the source of truth in code):
 *
 *   datasets/<dataset>/<label>/<file>                        user uploads; the only prefix with event notifications
 *   embeddings/<backboneId>/<sha256>.f32                     embedding cache, keyed by backbone and image content
 *   packed/<dataset>/<backboneId>/{manifest.json,shard-*.npy,shard-*.json}  embeddings packed for training
 *   models/<dataset>/<version>/{head.onnx,model.json,standalone.onnx,report.html}
 *   models/<dataset>/current.json                            the pointer to the served version
 *   jobs/<id>.json                                           training job state
 *
 * Who touches what: extract reads datasets/, reads and writes embeddings/, and writes index entries
 * and counters; infer reads models/ and jobs/ and the index's counters and lists, and takes training
 * locks, and for the console reads, writes and deletes datasets/ (listing, thumbnails, move, remove,
 * presigned uploads) and writes models/<dataset>/current.json (promote, rollback); the trainer reads embeddings/, datasets/ (report thumbnails) and the index, writes and
 * deletes packed/ (compaction replaces a part-filled shard), reads and writes models/ and jobs/.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { INDEX_TABLE_KEYS } from '../../../src/adapters/aws/DynamoDatasetIndex.js';
import { Construct } from 'constructs';

export const KEY_PREFIXES = {
  datasets: 'datasets/',
  embeddings: 'embeddings/',
  packed: 'packed/',
  models: 'models/',
  jobs: 'jobs/',
} as const;

/** Grant patterns: `bucket.grantRead(role, objects('models'))`. */
export function objects(prefix: keyof typeof KEY_PREFIXES): string {
  return `${KEY_PREFIXES[prefix]}*`;
}

export interface StorageProps {
  /** Physical names <prefix>-data-<account>-<region> and <prefix>-logs-...; generated names when absent. */
  bucketNamePrefix?: string;
  /** Delete the buckets (and empty them) with the stack. For dev stacks only. */
  destroyOnRemoval?: boolean;
  /** How long overwritten or deleted object versions are kept. */
  noncurrentVersionDays?: number;
}

export class Storage extends Construct {
  /** The data bucket: uploads, embeddings, records, models, jobs. */
  readonly bucket: s3.Bucket;
  /** Server access logs of the data bucket and VPC flow logs (prefix vpc-flow-logs/). */
  readonly logsBucket: s3.Bucket;
  /** The dataset index: on demand, point-in-time recovery, encrypted, retained unless destroyOnRemoval. */
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    const destroy = props.destroyOnRemoval ?? false;
    const removal = {
      removalPolicy: destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      autoDeleteObjects: destroy,
    };
    const name = (kind: string): string | undefined =>
      props.bucketNamePrefix ? `${props.bucketNamePrefix}-${kind}-${Aws.ACCOUNT_ID}-${Aws.REGION}` : undefined;

    this.logsBucket = new s3.Bucket(this, 'LogsBucket', {
      bucketName: name('logs'),
      // Server access log delivery supports SSE-S3 only, not SSE-KMS.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        { id: 'expire-logs', expiration: Duration.days(90), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      ...removal,
    });
    this.bucket = new s3.Bucket(this, 'DataBucket', {
      bucketName: name('data'),
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Versions protect models and records against overwrites by mistake; old versions expire.
      versioned: true,
      lifecycleRules: [
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
      serverAccessLogsBucket: this.logsBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      ...removal,
    });

    const { partitionKey, sortKey, gsi } = INDEX_TABLE_KEYS;
    this.table = new dynamodb.Table(this, 'IndexTable', {
      partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: !destroy,
      removalPolicy: removal.removalPolicy,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: gsi.name,
      partitionKey: { name: gsi.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: gsi.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
}
