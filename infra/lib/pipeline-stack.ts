/**
 * The headstart pipeline: one stack, one construct per concern. Settings come from CDK context
 * (see config.ts); the packaged function folders and the trainer image sources come as props.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ConfigError, pipelineConfig } from './config.js';
import { Extraction } from './constructs/extraction.js';
import type { FunctionAsset } from './constructs/pipeline-function.js';
import { Serving } from './constructs/serving.js';
import { Storage } from './constructs/storage.js';
import { Training, type TrainerImageSource } from './constructs/training.js';

export interface PipelineStackProps extends StackProps {
  functionAssets: { extract: FunctionAsset; infer: FunctionAsset };
  trainerImage: TrainerImageSource;
}

export class PipelineStack extends Stack {
  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const config = pipelineConfig(this.node);
    requireTextBackboneShipped(config.textBackbone, props.functionAssets, props.trainerImage);
    const common = { backbone: config.backbone, logLevel: config.logLevel, destroyOnRemoval: config.destroyOnRemoval };

    const storage = new Storage(this, 'Storage', { bucketNamePrefix: config.bucketNamePrefix, destroyOnRemoval: config.destroyOnRemoval });
    const extraction = new Extraction(this, 'Extraction', {
      ...common, bucket: storage.bucket, table: storage.table, asset: props.functionAssets.extract, memoryMb: config.extractMemoryMb,
    });
    const training = new Training(this, 'Training', {
      ...common, bucket: storage.bucket, table: storage.table, logsBucket: storage.logsBucket, image: props.trainerImage,
      spot: config.spot, maxVcpus: config.maxVcpus,
    });
    const serving = new Serving(this, 'Serving', {
      ...common, bucket: storage.bucket, table: storage.table, asset: props.functionAssets.infer, memoryMb: config.inferMemoryMb,
      jobQueue: training.jobQueue, jobDefinition: training.jobDefinition, auth: config.auth, throttle: config.throttle,
      consoleOrigin: config.consoleOrigin,
    });

    new CfnOutput(this, 'ApiUrl', { value: serving.api.apiEndpoint }); // no trailing slash: $API/datasets/...
    new CfnOutput(this, 'BucketName', { value: storage.bucket.bucketName });
    new CfnOutput(this, 'IndexTableName', { value: storage.table.tableName });
    new CfnOutput(this, 'ExtractQueueUrl', { value: extraction.queue.queueUrl });
    new CfnOutput(this, 'ExtractDeadLetterQueueUrl', { value: extraction.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'TrainJobQueueArn', { value: training.jobQueue.jobQueueArn });
    new CfnOutput(this, 'TrainJobDefinitionArn', { value: training.jobDefinition.jobDefinitionArn });
  }
}

/**
 * The functions' and the trainer's TEXT_BACKBONE come from what their assets carry, so an asset
 * packaged for another context (no encoder, or another one) must not be deployed under this one:
 * infra/bin/app.ts packages and stages with the same context; anything else is a synth error, not
 * a function that fails later or a trainer that quietly trains TF-IDF.
 */
function requireTextBackboneShipped(textBackbone: string | undefined, assets: Record<string, FunctionAsset>, trainerImage: TrainerImageSource): void {
  const carriers = [
    ...Object.entries(assets).map(([fn, asset]) => ({
      what: `the ${fn} function's asset`,
      shipped: asset.textBackbone?.name,
      fix: 'package the functions with the same context (scripts/bundle-functions.ts textBackbone)',
    })),
    {
      what: 'the trainer image',
      shipped: trainerImage.textBackbone?.name,
      fix: "stage the trainer's models with the same context (scripts/bundle-functions.ts stageModels textBackbone)",
    },
  ];
  for (const { what, shipped, fix } of carriers) {
    if (shipped === textBackbone) continue;
    throw new ConfigError(
      'textBackbone',
      `${textBackbone === undefined ? 'not set' : JSON.stringify(textBackbone)}, but ${what} carries ` +
        `${shipped === undefined ? 'no text backbone' : `text backbone ${JSON.stringify(shipped)}`}; ${fix}`,
    );
  }
}
