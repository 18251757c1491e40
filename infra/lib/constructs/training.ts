/**
 * Training: an AWS Batch job queue on a managed EC2 compute environment of GPU instances (g5/g6,
 * scales to zero), and a job definition that runs the trainer image (functions/train/Dockerfile).
 *
 * Network: a small VPC with public subnets only and no NAT gateway. Batch's EC2 instances must
 * reach ECR, ECS, CloudWatch Logs and S3; in a public subnet that auto-assigns public IPs they do
 * so directly, with a security group that admits no inbound traffic. The alternatives cost money
 * while idle: a NAT gateway (~32 USD/month per AZ) or interface endpoints for ECR api+dkr, ECS,
 * logs and STS (~7 USD/month each per AZ). S3 traffic goes through a free gateway endpoint.
 * Flow logs go to the logs bucket.
 *
 * SubmitJob contract (the infer function's train route calls it through
 * src/adapters/aws/BatchJobRunner.ts):
 *
 *   batch.submitJob({
 *     jobName: `train-${dataset}` with characters outside [A-Za-z0-9_-] replaced by '_', cut to 128,
 *     jobQueue: process.env.TRAIN_JOB_QUEUE,            // job queue ARN
 *     jobDefinition: process.env.TRAIN_JOB_DEFINITION,  // job definition ARN, with its revision
 *     containerOverrides: { environment: [{ name: 'DATASET', value: dataset }] },  // a validated dataset name
 *   })
 *
 * The returned Batch jobId is the job's id everywhere (GET /jobs/{id}, jobs/<id>.json): Batch sets
 * AWS_BATCH_JOB_ID in the container and keeps it across attempts, and the trainer writes
 * jobs/<AWS_BATCH_JOB_ID>.json. Nothing else is overridden (no command, resources or tags: the
 * infer role may not tag). The job definition already sets BUCKET, TABLE, BACKBONE, HEADSTART_MODELS,
 * HEADSTART_DEVICE=cuda, AWS_REGION, LOG_LEVEL and the command, and, when the image carries a text
 * encoder (`-c textBackbone=<name>`), TEXT_BACKBONE (plus HEADSTART_BACKBONES for a registered one).
 * Batch retries a job only when
 * Spot reclaims its instance (up to 3 attempts), so the trainer must be safe to run twice for one
 * job id (a version is immutable; "current" moves last).
 */
import path from 'node:path';
import { Aws, Duration, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge.js';
import { grantPrefixes } from './bucket-grants.js';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { grantIndex } from './index-grants.js';
import { pipelineLogGroup } from './log-group.js';
import { textBackboneEnvironment, type CarriedTextBackbone } from './pipeline-function.js';
import { objects } from './storage.js';

/** GPU instance types: 1 GPU each (A10G, L4), small enough that a stray job costs little. */
export const TRAINER_INSTANCE_TYPES = ['g5.xlarge', 'g5.2xlarge', 'g6.xlarge', 'g6.2xlarge'];
/** functions/train/main.ts as compiled into the image by scripts/build-cli.ts (functions/train/Dockerfile). */
export const TRAINER_COMMAND = ['node', 'dist/train.js'];
/** Where the Dockerfile puts the backbone (and the text encoder, when one ships) inside the image. */
export const TRAINER_MODELS_DIR = '/opt/headstart/models';
/** Where a registered text backbone's entry is: the staged models folder's backbones/ (scripts/bundle-functions.ts stageModels). */
export const TRAINER_BACKBONES_DIR = `${TRAINER_MODELS_DIR}/backbones`;

export interface TrainerImageSource {
  /** The repository root: the docker build context (see .dockerignore). */
  repoRoot: string;
  /** A folder holding exactly the model files to ship (scripts/bundle-functions.ts stageModels), the named build context `models`. */
  modelsDir: string;
  /** Content hash of that folder: the image hash follows the models' content, not the folder's path. */
  modelsHash: string;
  /**
   * The text encoder that folder carries, the one the extract function embeds with (so its cached
   * embeddings serve); its name goes to the job's TEXT_BACKBONE.
   */
  textBackbone?: CarriedTextBackbone;
}

export interface TrainingProps {
  bucket: s3.IBucket;
  /** The dataset index: the trainer's list of rows; it releases the training lock when it ends. */
  table: dynamodb.ITable;
  logsBucket: s3.IBucket;
  image: TrainerImageSource;
  backbone: string;
  logLevel: string;
  spot: boolean;
  maxVcpus: number;
  destroyOnRemoval?: boolean;
}

export class Training extends Construct {
  readonly vpc: ec2.Vpc;
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  readonly computeEnvironment: batch.ManagedEc2EcsComputeEnvironment;
  readonly jobRole: iam.Role;
  readonly image: ecrAssets.DockerImageAsset;

  constructor(scope: Construct, id: string, props: TrainingProps) {
    super(scope, id);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        ToLogsBucket: {
          destination: ec2.FlowLogDestination.toS3(props.logsBucket, 'vpc-flow-logs/'),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    const securityGroup = new ec2.SecurityGroup(this, 'TrainerSecurityGroup', {
      vpc: this.vpc,
      description: 'headstart trainer instances: no inbound, outbound to AWS APIs',
      allowAllOutbound: true,
    });

    const launchTemplate = new ec2.LaunchTemplate(this, 'TrainerLaunchTemplate', {
      requireImdsv2: true,
      // Containers in bridge mode are one hop further: hop limit 1 keeps them off the instance role.
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          // The root volume of the ECS GPU AMI; room for the CUDA image layers.
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(60, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });

    this.computeEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'GpuComputeEnvironment', {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [securityGroup],
      instanceTypes: TRAINER_INSTANCE_TYPES.map((t) => new ec2.InstanceType(t)),
      useOptimalInstanceClasses: false,
      images: [{ imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA }],
      minvCpus: 0,
      maxvCpus: props.maxVcpus,
      spot: props.spot,
      allocationStrategy: props.spot
        ? batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
        : batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
      launchTemplate,
      updateToLatestImageVersion: true,
    });

    this.jobQueue = new batch.JobQueue(this, 'JobQueue', {
      computeEnvironments: [{ computeEnvironment: this.computeEnvironment, order: 1 }],
      priority: 1,
    });

    this.image = new ecrAssets.DockerImageAsset(this, 'TrainerImage', {
      directory: props.image.repoRoot,
      file: path.join('functions', 'train', 'Dockerfile'),
      platform: ecrAssets.Platform.LINUX_AMD64,
      buildContexts: { models: path.resolve(props.image.modelsDir) },
      // The models folder's path differs per machine; its content is pinned by its hash.
      extraHash: props.image.modelsHash,
      invalidation: { buildContexts: false },
    });

    this.jobRole = new iam.Role(this, 'TrainerJobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'headstart trainer job role',
    });
    // models/ and jobs/ are read as well as written: the trainer reads the previous current.json
    // and its own job record. Nothing is deleted: a model version is immutable.
    grantPrefixes(
      props.bucket,
      this.jobRole,
      {
        read: [objects('embeddings'), objects('packed'), objects('datasets'), objects('models'), objects('jobs')],
        put: [objects('models'), objects('jobs'), objects('packed')],
        delete: [objects('packed')],
      },
      'the trainer',
    );
    // Backfill notes embeddings made for another backbone (B#); the lock (L#) is released at the end.
    grantIndex(props.table, this.jobRole, { read: true, write: { actions: ['BatchWriteItem', 'PutItem', 'DeleteItem'], keys: ['B#', 'L#'] } }, 'the trainer');

    const jobLogs = pipelineLogGroup(this, 'TrainerLogs', props.destroyOnRemoval);

    this.jobDefinition = new batch.EcsJobDefinition(this, 'TrainerJobDefinition', {
      container: new batch.EcsEc2ContainerDefinition(this, 'TrainerContainer', {
        image: ecs.ContainerImage.fromDockerImageAsset(this.image),
        gpu: 1,
        cpu: 4,
        // g5.xlarge/g6.xlarge have 16 GiB; ECS keeps some for the agent and the OS.
        memory: Size.gibibytes(12),
        command: TRAINER_COMMAND,
        environment: {
          BUCKET: props.bucket.bucketName,
          TABLE: props.table.tableName,
          BACKBONE: props.backbone,
          HEADSTART_MODELS: TRAINER_MODELS_DIR,
          ...textBackboneEnvironment(props.image.textBackbone, TRAINER_BACKBONES_DIR),
          HEADSTART_DEVICE: 'cuda',
          LOG_LEVEL: props.logLevel,
          POWERTOOLS_SERVICE_NAME: 'headstart-train',
          // The SDK would otherwise ask the instance metadata service, which hop limit 1 hides from containers.
          AWS_REGION: Aws.REGION,
        },
        jobRole: this.jobRole,
        logging: ecs.LogDriver.awsLogs({ logGroup: jobLogs, streamPrefix: 'trainer' }),
      }),
      timeout: Duration.hours(2),
      retryAttempts: 3,
      retryStrategies: [
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom({ onReason: '*' })),
      ],
      propagateTags: true,
    });

    acknowledge(
      this.jobDefinition.container,
      'AwsSolutions-IAM5[Resource::*]',
      'The execution role pulls the trainer image: ecr:GetAuthorizationToken supports no resource-level permissions (the pull actions are scoped to the CDK assets repository).',
    );
    acknowledge(
      this.computeEnvironment,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
      'The Batch instance role needs AmazonEC2ContainerServiceforEC2Role for the ECS agent to register instances; AWS maintains its action list.',
    );
  }
}
