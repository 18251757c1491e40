/**
 * Serving: an HTTP API (API Gateway v2) in front of the infer function.
 *
 * Every route needs authorization: IAM (SigV4-signed requests) by default, or a JWT authorizer
 * with context auth=jwt, jwtIssuer, jwtAudience. The $default stage throttles all routes and
 * writes JSON access logs. With context consoleOrigin, the API answers CORS for that one origin
 * (API Gateway answers the preflight itself) and the bucket accepts that origin's presigned PUTs.
 */
import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as batch from 'aws-cdk-lib/aws-batch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AuthConfig } from '../config.js';
import { acknowledge } from './acknowledge.js';
import { grantPrefixes } from './bucket-grants.js';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { grantIndex } from './index-grants.js';
import { pipelineLogGroup } from './log-group.js';
import { PipelineFunction, type FunctionAsset } from './pipeline-function.js';
import { objects } from './storage.js';

export const INFER_TIMEOUT = Duration.seconds(30);

/**
 * The routes, as src/api/router.ts serves them locally, except the local-only
 * PUT /datasets/{name}/labels/{label}/objects/{file}: here uploads go straight to S3 through the
 * presigned URLs of POST /datasets/{name}/uploads, so image bytes never pass through Lambda.
 */
export const ROUTES: readonly { method: apigwv2.HttpMethod; path: string }[] = [
  { method: apigwv2.HttpMethod.POST, path: '/datasets/{name}/predict' },
  { method: apigwv2.HttpMethod.POST, path: '/datasets/{name}/train' },
  { method: apigwv2.HttpMethod.GET, path: '/jobs/{id}' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}/models' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}/report' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}/assessment' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}/misclassified' },
  { method: apigwv2.HttpMethod.POST, path: '/datasets/{name}/promote' },
  { method: apigwv2.HttpMethod.POST, path: '/datasets/{name}/rollback' },
  { method: apigwv2.HttpMethod.POST, path: '/datasets/{name}/uploads' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}/labels' },
  { method: apigwv2.HttpMethod.DELETE, path: '/datasets/{name}/labels/{label}' },
  { method: apigwv2.HttpMethod.GET, path: '/datasets/{name}/labels/{label}/objects' },
  { method: apigwv2.HttpMethod.DELETE, path: '/datasets/{name}/labels/{label}/objects/{file}' },
  { method: apigwv2.HttpMethod.POST, path: '/datasets/{name}/labels/{label}/objects/{file}/move' },
];

/** The object pattern of every dataset's current-version pointer: promote and rollback write only these. */
export const CURRENT_POINTERS = 'models/*/current.json';

export interface ServingProps {
  /** A Bucket, not an IBucket: the console's CORS rule is added to it. */
  bucket: s3.Bucket;
  /** The dataset index: counters and lists for the dataset routes, training locks for the train route. */
  table: dynamodb.ITable;
  asset: FunctionAsset;
  jobQueue: batch.IJobQueue;
  jobDefinition: batch.IJobDefinition;
  auth: AuthConfig;
  throttle: { rateLimit: number; burstLimit: number };
  backbone: string;
  logLevel: string;
  /** Memory of the infer function (measured default in infra/lib/config.ts). */
  memoryMb: number;
  destroyOnRemoval?: boolean;
  /** The web console's origin: CORS on the API and on the bucket (presigned PUTs) for it alone. */
  consoleOrigin?: string;
}

export class Serving extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly fn: PipelineFunction;

  constructor(scope: Construct, id: string, props: ServingProps) {
    super(scope, id);

    this.fn = new PipelineFunction(this, 'Infer', {
      asset: props.asset,
      description: 'headstart infer: HTTP API for predictions, training jobs and dataset status',
      serviceName: 'headstart-infer',
      memoryMb: props.memoryMb,
      timeout: INFER_TIMEOUT,
      logLevel: props.logLevel,
      backbone: props.backbone,
      environment: {
        BUCKET: props.bucket.bucketName,
        TABLE: props.table.tableName,
        TRAIN_JOB_QUEUE: props.jobQueue.jobQueueArn,
        TRAIN_JOB_DEFINITION: props.jobDefinition.jobDefinitionArn,
      },
      destroyOnRemoval: props.destroyOnRemoval,
    });
    const role = this.fn.role;
    // jobs/ is read only: a job's id is its Batch job id, so submitting writes nothing; the trainer
    // writes jobs/<id>.json (src/adapters/aws/BatchJobRunner.ts). datasets/ is read (listings and
    // thumbnails), written (a move's copy; presigned upload URLs are signed with this role) and
    // deleted (remove, a move's delete). Of models/, only the current pointers are written
    // (promote, rollback).
    grantPrefixes(
      props.bucket,
      role,
      {
        read: [objects('models'), objects('jobs'), objects('datasets')],
        put: [objects('datasets'), CURRENT_POINTERS],
        delete: [objects('datasets')],
      },
      'the infer function',
    );
    // The train route takes and names a dataset's training lock (L#); it writes nothing else there.
    grantIndex(props.table, role, { read: true, write: { actions: ['PutItem', 'UpdateItem', 'DeleteItem'], keys: ['L#'] } }, 'the infer function');
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SubmitTrainingJobs',
        actions: ['batch:SubmitJob'],
        resources: [props.jobQueue.jobQueueArn, props.jobDefinition.jobDefinitionArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadTrainingJobStatus', actions: ['batch:DescribeJobs'], resources: ['*'] }),
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'batch:DescribeJobs supports no resource-level permissions (it only reads job status); X-Ray likewise (tracing is active).',
    );

    this.api = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'headstart HTTP API',
      createDefaultStage: false,
      defaultAuthorizer: authorizer(props.auth),
      ...(props.consoleOrigin
        ? {
            corsPreflight: {
              allowOrigins: [props.consoleOrigin],
              allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST, apigwv2.CorsHttpMethod.DELETE],
              allowHeaders: ['authorization', 'content-type'],
              maxAge: Duration.minutes(10),
            },
          }
        : {}),
    });
    if (props.consoleOrigin) {
      // The browser PUTs the image bytes to S3 itself, with the signed content-type header.
      props.bucket.addCorsRule({
        allowedOrigins: [props.consoleOrigin],
        allowedMethods: [s3.HttpMethods.PUT],
        allowedHeaders: ['content-type'],
        maxAge: 600,
      });
    }
    const integration = new integrations.HttpLambdaIntegration('Infer', this.fn.fn);
    for (const route of ROUTES) {
      this.api.addRoutes({ path: route.path, methods: [route.method], integration });
    }

    const accessLogs = pipelineLogGroup(this, 'AccessLogs', props.destroyOnRemoval);
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            sourceIp: '$context.identity.sourceIp',
            caller: props.auth.mode === 'iam' ? '$context.identity.userArn' : '$context.authorizer.claims.sub',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            error: '$context.error.message',
          }),
        ),
      },
    });
  }
}

function authorizer(auth: AuthConfig): apigwv2.IHttpRouteAuthorizer {
  if (auth.mode === 'iam') return new authorizers.HttpIamAuthorizer();
  return new authorizers.HttpJwtAuthorizer('JwtAuthorizer', auth.issuer, { jwtAudience: auth.audience });
}
