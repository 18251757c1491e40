// The synthesized pipeline stack, property by property: what each construct promises (storage,
// extraction, training, serving), the least-privilege grants of each role, and a clean cdk-nag
// AwsSolutions run. Stacks are built with tiny fixture assets (see synth.ts), once per context.
import fs from 'node:fs';
import path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { EXTRACT_TIMEOUT } from '../../infra/lib/constructs/extraction.js';
import { ROUTES } from '../../infra/lib/constructs/serving.js';
import { TRAINER_BACKBONES_DIR, TRAINER_COMMAND, TRAINER_INSTANCE_TYPES, TRAINER_MODELS_DIR } from '../../infra/lib/constructs/training.js';
import { buildStack, removeScratch, synth } from './synth.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

afterAll(removeScratch);

const JWT = { auth: 'jwt', jwtIssuer: 'https://issuer.example.com/', jwtAudience: 'headstart-api,headstart-cli' };
const ALL_FLAGS = { ...JWT, spot: 'true', destroy: 'true', bucketNamePrefix: 'hs-test', maxVcpus: '32', consoleOrigin: 'https://console.example.com' };

/** The trainer job definition's environment, by name. */
function trainerEnvironment(template: Template): Record<string, Json> {
  const def = only(template, 'AWS::Batch::JobDefinition', 'TrainingTrainerJobDefinition').resource.Properties;
  return Object.fromEntries((def.ContainerProperties.Environment as Json[]).map((e) => [e.Name, e.Value]));
}

function only(template: Template, type: string, idPrefix: string): { id: string; resource: Json } {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(idPrefix));
  expect(matches.map(([id]) => id), `${type} ${idPrefix}*`).toHaveLength(1);
  const [id, resource] = matches[0]!;
  return { id, resource };
}

/** cdk-nag's rendering of a CloudFormation value: Fn::GetAtt [X, Arn] -> <X.Arn>, Fn::Join concatenated. */
function flatten(value: Json): string {
  if (typeof value === 'string') return value;
  if (value['Fn::GetAtt']) return `<${value['Fn::GetAtt'][0]}.${value['Fn::GetAtt'][1]}>`;
  if (value.Ref) return `<${value.Ref}>`;
  if (value['Fn::Join']) return (value['Fn::Join'][1] as Json[]).map(flatten).join(value['Fn::Join'][0]);
  return JSON.stringify(value);
}

/** Logical ids without their 8-hex hash suffix, so expectations read like construct paths. */
function unhash(text: string): string {
  return text.replace(/<([A-Za-z0-9]+?)[0-9A-F]{8}(\.[A-Za-z]+)?>/g, '<$1$2>');
}

/** Every (action, resource) pair the role's inline policies allow. */
function permissions(template: Template, rolePrefix: string): { action: string; resource: string }[] {
  const role = only(template, 'AWS::IAM::Role', rolePrefix);
  const pairs: { action: string; resource: string }[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    if (!(policy.Properties.Roles as Json[]).some((r) => r.Ref === role.id)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement as Json[]) {
      expect(statement.Effect).toBe('Allow');
      const actions = ([] as string[]).concat(statement.Action);
      const resources = ([] as Json[]).concat(statement.Resource).map((r) => unhash(flatten(r)));
      for (const action of actions) for (const resource of resources) pairs.push({ action, resource });
    }
  }
  return pairs;
}

const BUCKET = '<StorageDataBucket.Arn>';

/** The role's DynamoDB write actions and the dynamodb:LeadingKeys patterns they are confined to. */
function indexWrites(template: Template, rolePrefix: string): { actions: string[]; leadingKeys: string[] } {
  const role = only(template, 'AWS::IAM::Role', rolePrefix);
  const out = { actions: [] as string[], leadingKeys: [] as string[] };
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    if (!(policy.Properties.Roles as Json[]).some((r) => r.Ref === role.id)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement as Json[]) {
      const keys = statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
      if (keys === undefined) continue;
      out.actions.push(...([] as string[]).concat(statement.Action));
      out.leadingKeys.push(...([] as string[]).concat(keys));
    }
  }
  out.actions.sort();
  return out;
}

/** Object access per key prefix of the data bucket: read (GetObject*), write (PutObject), delete (DeleteObject*). */
function objectAccess(pairs: { action: string; resource: string }[]): Record<string, string[]> {
  const kinds: Record<string, string> = { 's3:GetObject*': 'read', 's3:PutObject': 'write', 's3:DeleteObject*': 'delete' };
  const access: Record<string, Set<string>> = {};
  for (const { action, resource } of pairs) {
    if (!resource.startsWith(`${BUCKET}/`) || !kinds[action]) continue;
    (access[resource.slice(BUCKET.length + 1)] ??= new Set()).add(kinds[action]!);
  }
  return Object.fromEntries(Object.entries(access).map(([prefix, set]) => [prefix, [...set].sort()]));
}

/** The role's non-S3 permissions as "action on resource", sorted. */
function otherPermissions(pairs: { action: string; resource: string }[]): string[] {
  return [...new Set(pairs.filter((p) => !p.action.startsWith('s3:') && !p.action.startsWith('dynamodb:')).map((p) => `${p.action} on ${p.resource}`))].sort();
}

function s3Resources(pairs: { action: string; resource: string }[]): string[] {
  return [...new Set(pairs.filter((p) => p.action.startsWith('s3:')).map((p) => p.resource))].sort();
}

describe('storage', () => {
  const { template } = synth();
  const data = () => only(template, 'AWS::S3::Bucket', 'StorageDataBucket').resource;

  it('encrypts both buckets at rest with S3-managed keys', () => {
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
      ]);
    }
  });

  it('blocks every kind of public access on both buckets', () => {
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
  });

  it('denies requests without TLS (and below TLS 1.2) in the data bucket policy', () => {
    const bucketId = only(template, 'AWS::S3::Bucket', 'StorageDataBucket').id;
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('versions the data bucket', () => {
    expect(data().Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('expires noncurrent versions after 30 days and aborts incomplete multipart uploads', () => {
    expect(data().Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
      }),
    );
  });

  it('writes server access logs to the separate logs bucket', () => {
    const logsId = only(template, 'AWS::S3::Bucket', 'StorageLogsBucket').id;
    expect(data().Properties.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'data-bucket/' });
  });

  it('retains the buckets by default and empties nothing on stack deletion', () => {
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.UpdateReplacePolicy).toBe('Retain');
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('deletes and empties the buckets with context destroy=true (dev stacks)', () => {
    const dev = synth(ALL_FLAGS).template;
    for (const bucket of Object.values(dev.findResources('AWS::S3::Bucket'))) expect(bucket.DeletionPolicy).toBe('Delete');
    dev.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
  });

  it('names the buckets <prefix>-data|logs-<account>-<region> with context bucketNamePrefix', () => {
    const named = synth(ALL_FLAGS).template;
    named.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['hs-test-data-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] },
    });
    expect(data().Properties.BucketName).toBeUndefined();
  });
});

describe('extraction', () => {
  const { template } = synth();
  const queue = () => only(template, 'AWS::SQS::Queue', 'ExtractionQueue');
  const dlq = () => only(template, 'AWS::SQS::Queue', 'ExtractionDeadLetterQueue');

  it('sends ObjectCreated:* and ObjectRemoved:* under datasets/ (and nothing else) to the extract queue', () => {
    const notifications = template.findResources('Custom::S3BucketNotifications');
    const [config] = Object.values(notifications).map((n) => n.Properties.NotificationConfiguration);
    expect(config.QueueConfigurations).toEqual(
      ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'].map((event) => ({
        Events: [event],
        Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'datasets/' }] } },
        QueueArn: { 'Fn::GetAtt': [queue().id, 'Arn'] },
      })),
    );
    expect(config.LambdaFunctionConfigurations).toBeUndefined();
    expect(config.TopicConfigurations).toBeUndefined();
  });

  it('dead-letters a message after 5 receives', () => {
    expect(queue().resource.Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlq().id, 'Arn'] },
      maxReceiveCount: 5,
    });
  });

  it('keeps messages invisible for at least 6x the extract timeout', () => {
    const fn = only(template, 'AWS::Lambda::Function', 'ExtractionExtractFunction').resource;
    expect(fn.Properties.Timeout).toBe(EXTRACT_TIMEOUT.toSeconds());
    expect(queue().resource.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
  });

  it('encrypts both queues (SSE-SQS)', () => {
    for (const q of [queue(), dlq()]) expect(q.resource.Properties.SqsManagedSseEnabled).toBe(true);
  });

  it('denies non-TLS access in both queue policies', () => {
    for (const q of [queue(), dlq()]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: q.id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('feeds the extract function from the queue in batches of 10 with partial batch responses', () => {
    const fnId = only(template, 'AWS::Lambda::Function', 'ExtractionExtractFunction').id;
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId },
      EventSourceArn: { 'Fn::GetAtt': [queue().id, 'Arn'] },
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: Match.anyValue(),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0]!;
    expect(mapping.Properties.MaximumBatchingWindowInSeconds).toBeLessThanOrEqual(10);
  });
});

describe('functions', () => {
  const { template } = synth();
  const fns = () => ({
    extract: only(template, 'AWS::Lambda::Function', 'ExtractionExtractFunction').resource.Properties,
    infer: only(template, 'AWS::Lambda::Function', 'ServingInferFunction').resource.Properties,
  });

  it('run on Node.js 22 on x86_64 (the packaged native binaries are linux-x64)', () => {
    for (const fn of Object.values(fns())) {
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['x86_64']);
      expect(fn.Handler).toBe('index.handler');
    }
  });

  it('have the planned memory and timeouts (extract 1769 MB/120 s, infer 1769 MB/30 s: one vCPU each, sized by bench/extract-memory.ts and bench/infer-latency.ts)', () => {
    const { extract, infer } = fns();
    expect([extract.MemorySize, extract.Timeout]).toEqual([1769, 120]);
    expect([infer.MemorySize, infer.Timeout]).toEqual([1769, 30]);
    const resized = synth({ extractMemoryMb: '3008', inferMemoryMb: '3008' }).template;
    resized.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.handler', MemorySize: 3008, Timeout: 120 });
    resized.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.handler', MemorySize: 3008, Timeout: 30 });
  });

  it('trace with X-Ray and carry the Powertools, bucket, backbone and models settings', () => {
    const { extract, infer } = fns();
    for (const [fn, service] of [
      [extract, 'headstart-extract'],
      [infer, 'headstart-infer'],
    ] as const) {
      expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Environment.Variables).toMatchObject({
        POWERTOOLS_SERVICE_NAME: service,
        LOG_LEVEL: 'INFO',
        BACKBONE: 'mobilenetv2-12-fp32-embed',
        HEADSTART_MODELS: '/var/task/models',
        BUCKET: { Ref: expect.stringMatching(/^StorageDataBucket/) },
      });
    }
  });

  it('carry no text encoder without context textBackbone: no TEXT_BACKBONE, texts take the TF-IDF path', () => {
    for (const fn of Object.values(fns())) {
      expect(fn.Environment.Variables.TEXT_BACKBONE).toBeUndefined();
      expect(fn.Environment.Variables.HEADSTART_BACKBONES).toBeUndefined();
    }
  });

  it('with context textBackbone, tell extract and infer the encoder their assets carry (files under HEADSTART_MODELS)', () => {
    const text = synth({ textBackbone: 'minilm-l6-v2' }).template;
    const functions = Object.values(text.findResources('AWS::Lambda::Function')).filter((f) => /^headstart (extract|infer)/.test(f.Properties.Description));
    expect(functions).toHaveLength(2);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables).toMatchObject({ TEXT_BACKBONE: 'minilm-l6-v2', HEADSTART_MODELS: '/var/task/models', BACKBONE: 'mobilenetv2-12-fp32-embed' });
      // A catalogue encoder is found by name; only a registered one needs its shipped entry.
      expect(fn.Properties.Environment.Variables.HEADSTART_BACKBONES).toBeUndefined();
    }
    const registered = synth({ textBackbone: 'my-encoder' }).template;
    for (const prefix of ['ExtractionExtractFunction', 'ServingInferFunction']) {
      expect(only(registered, 'AWS::Lambda::Function', prefix).resource.Properties.Environment.Variables).toMatchObject({ TEXT_BACKBONE: 'my-encoder', HEADSTART_BACKBONES: '/var/task/backbones' });
    }
  });

  it('refuses function assets packaged for another text backbone than context textBackbone names', () => {
    expect(() => buildStack({ context: { textBackbone: 'minilm-l6-v2' }, assetTextBackbone: null })).toThrow(
      /context textBackbone: "minilm-l6-v2", but the extract function's asset carries no text backbone/,
    );
    expect(() => buildStack({ assetTextBackbone: { name: 'minilm-l6-v2', registered: false } })).toThrow(/context textBackbone: not set, but the extract function's asset carries text backbone "minilm-l6-v2"/);
    expect(() => buildStack({ context: { textBackbone: 'minilm-l6-v2' }, assetTextBackbone: { name: 'tiny-bert-random', registered: false } })).toThrow(/carries text backbone "tiny-bert-random"/);
  });

  it('give infer the training job queue and job definition', () => {
    const vars = fns().infer.Environment.Variables;
    expect(vars.TRAIN_JOB_QUEUE).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^TrainingJobQueue/), 'JobQueueArn'] });
    expect(vars.TRAIN_JOB_DEFINITION).toEqual({ Ref: expect.stringMatching(/^TrainingTrainerJobDefinition/) });
  });

  it('log to their own log groups with a retention', () => {
    for (const fn of Object.values(fns())) {
      const groupId = fn.LoggingConfig.LogGroup.Ref as string;
      expect(template.toJSON().Resources[groupId].Properties.RetentionInDays).toBe(30);
    }
  });
});

describe('serving', () => {
  const { template } = synth();

  it('has every route, each requiring IAM authorization by default', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    expect(routes.map((r) => r.RouteKey)).toEqual(
      expect.arrayContaining([
        'POST /datasets/{name}/predict',
        'POST /datasets/{name}/train',
        'GET /jobs/{id}',
        'GET /datasets/{name}',
        'GET /datasets/{name}/models',
        'GET /datasets/{name}/report',
        'GET /datasets/{name}/assessment',
        // the console's routes
        'GET /datasets',
        'GET /datasets/{name}/labels',
        'DELETE /datasets/{name}/labels/{label}',
        'GET /datasets/{name}/labels/{label}/objects',
        'DELETE /datasets/{name}/labels/{label}/objects/{file}',
        'POST /datasets/{name}/labels/{label}/objects/{file}/move',
        'POST /datasets/{name}/uploads',
        'POST /datasets/{name}/promote',
        'POST /datasets/{name}/rollback',
        'GET /datasets/{name}/misclassified',
      ]),
    );
    // Uploads go to S3 by presigned URL: no route carries image bytes into Lambda except predict.
    expect(routes.map((r) => r.RouteKey).filter((k: string) => k.startsWith('PUT '))).toEqual([]);
    for (const route of routes) expect(route.AuthorizationType).toBe('AWS_IAM');
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
  });

  it('switches every route to a JWT authorizer with context auth=jwt', () => {
    const jwt = synth(JWT).template;
    const authorizer = only(jwt, 'AWS::ApiGatewayV2::Authorizer', 'ServingHttpApi');
    expect(authorizer.resource.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://issuer.example.com/', Audience: ['headstart-api', 'headstart-cli'] },
    });
    const routes = Object.values(jwt.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);
    expect(routes).toHaveLength(ROUTES.length);
    for (const route of routes) {
      expect(route.AuthorizationType).toBe('JWT');
      expect(route.AuthorizerId).toEqual({ Ref: authorizer.id });
    }
  });

  it('answers CORS only when consoleOrigin is set, for that origin alone, on the API and for presigned PUTs to the bucket', () => {
    const api = (t: Template) => only(t, 'AWS::ApiGatewayV2::Api', 'ServingHttpApi').resource.Properties;
    const bucket = (t: Template) => only(t, 'AWS::S3::Bucket', 'StorageDataBucket').resource.Properties;
    expect(api(template).CorsConfiguration).toBeUndefined();
    expect(bucket(template).CorsConfiguration).toBeUndefined();
    const withConsole = synth({ ...JWT, consoleOrigin: 'http://127.0.0.1:8080' }).template;
    expect(api(withConsole).CorsConfiguration).toEqual({
      AllowOrigins: ['http://127.0.0.1:8080'],
      AllowMethods: ['GET', 'POST', 'DELETE'],
      AllowHeaders: ['authorization', 'content-type'],
      MaxAge: 600,
    });
    expect(bucket(withConsole).CorsConfiguration).toEqual({
      CorsRules: [{ AllowedOrigins: ['http://127.0.0.1:8080'], AllowedMethods: ['PUT'], AllowedHeaders: ['content-type'], MaxAge: 600 }],
    });
  });

  it('refuses a consoleOrigin that is not an origin', () => {
    expect(() => buildStack({ context: { consoleOrigin: 'http://127.0.0.1:8080/console' } })).toThrow(/consoleOrigin: an origin/);
    expect(() => buildStack({ context: { consoleOrigin: '*' } })).toThrow(/consoleOrigin/);
    expect(() => buildStack({ context: { consoleOrigin: 'file:///tmp/index.html' } })).toThrow(/consoleOrigin/);
  });

  it('refuses auth=jwt without an issuer or an audience, and unknown auth modes', () => {
    expect(() => buildStack({ context: { auth: 'jwt', jwtAudience: 'x' } })).toThrow(/jwtIssuer/);
    expect(() => buildStack({ context: { auth: 'jwt', jwtIssuer: 'https://i.example.com/' } })).toThrow(/jwtAudience/);
    expect(() => buildStack({ context: { auth: 'none' } })).toThrow(/context auth/);
  });

  it('throttles the $default stage (rate 20/s, burst 40 unless configured)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
    });
    synth({ throttleRate: '5', throttleBurst: '10' }).template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
  });

  it('outputs the API endpoint without a trailing slash, so $API/datasets/... is a clean path', () => {
    const apiId = only(template, 'AWS::ApiGatewayV2::Api', 'ServingHttpApi').id;
    // ApiEndpoint is https://<id>.execute-api.<region>.amazonaws.com; the $default stage needs no path.
    expect(template.toJSON().Outputs.ApiUrl.Value).toEqual({ 'Fn::GetAtt': [apiId, 'ApiEndpoint'] });
  });

  it('writes JSON access logs of the stage to a log group', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!;
    const settings = stage.Properties.AccessLogSettings;
    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ServingAccessLogs/), 'Arn'] });
    expect(JSON.parse(settings.Format)).toMatchObject({ requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status' });
  });
});

describe('training', () => {
  const { template } = synth();
  const computeResources = (t: Template) => only(t, 'AWS::Batch::ComputeEnvironment', 'TrainingGpuComputeEnvironment').resource.Properties.ComputeResources;

  it('runs a managed EC2 compute environment of g5/g6 GPU instances that scales to zero', () => {
    const env = only(template, 'AWS::Batch::ComputeEnvironment', 'TrainingGpuComputeEnvironment').resource.Properties;
    expect(env.Type).toBe('managed');
    expect(env.ComputeResources).toMatchObject({ Type: 'EC2', MinvCpus: 0, MaxvCpus: 16, Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }] });
    expect(env.ComputeResources.InstanceTypes).toEqual(TRAINER_INSTANCE_TYPES);
    for (const type of env.ComputeResources.InstanceTypes as string[]) expect(type).toMatch(/^g[56]\.[0-9]*x?large$/);
  });

  it('uses Spot capacity with context spot=true', () => {
    expect(computeResources(synth(ALL_FLAGS).template)).toMatchObject({
      Type: 'SPOT',
      AllocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED',
      MaxvCpus: 32,
      MinvCpus: 0,
    });
  });

  it('places instances in public subnets of a VPC without NAT gateways, with flow logs', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    for (const subnet of computeResources(template).Subnets as Json[]) {
      expect(template.toJSON().Resources[subnet.Ref].Properties.MapPublicIpOnLaunch).toBe(true);
    }
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 's3' });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
  });

  it('admits no inbound traffic to the instances and requires IMDSv2', () => {
    const sg = only(template, 'AWS::EC2::SecurityGroup', 'TrainingTrainerSecurityGroup').resource.Properties;
    expect(sg.SecurityGroupIngress).toBeUndefined();
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 } }),
    });
  });

  it('defines a job that requests 1 GPU and runs the trainer entry point', () => {
    const def = only(template, 'AWS::Batch::JobDefinition', 'TrainingTrainerJobDefinition').resource.Properties;
    expect(def.Type).toBe('container');
    expect(def.PlatformCapabilities).toEqual(['EC2']);
    expect(def.ContainerProperties.ResourceRequirements).toEqual(
      expect.arrayContaining([{ Type: 'GPU', Value: '1' }, { Type: 'VCPU', Value: '4' }]),
    );
    expect(def.ContainerProperties.Command).toEqual(TRAINER_COMMAND);
    const env = Object.fromEntries((def.ContainerProperties.Environment as Json[]).map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({ BUCKET: { Ref: expect.stringMatching(/^StorageDataBucket/) }, HEADSTART_DEVICE: 'cuda', HEADSTART_MODELS: '/opt/headstart/models' });
    expect(env.DATASET).toBeUndefined(); // per job, from SubmitJob's containerOverrides
  });

  it('names no text encoder without context textBackbone (text datasets train TF-IDF)', () => {
    const env = trainerEnvironment(template);
    expect(env.TEXT_BACKBONE).toBeUndefined();
    expect(env.HEADSTART_BACKBONES).toBeUndefined();
  });

  it('with context textBackbone, names the encoder its image carries, as the functions do (files under HEADSTART_MODELS)', () => {
    const catalogue = trainerEnvironment(synth({ textBackbone: 'minilm-l6-v2' }).template);
    expect(catalogue).toMatchObject({ TEXT_BACKBONE: 'minilm-l6-v2', HEADSTART_MODELS: TRAINER_MODELS_DIR });
    expect(catalogue.HEADSTART_BACKBONES).toBeUndefined(); // a catalogue encoder is found by name
    expect(trainerEnvironment(synth({ textBackbone: 'my-encoder' }).template)).toMatchObject({
      TEXT_BACKBONE: 'my-encoder',
      HEADSTART_BACKBONES: TRAINER_BACKBONES_DIR,
    });
    expect(TRAINER_BACKBONES_DIR).toBe('/opt/headstart/models/backbones');
  });

  it('refuses a trainer image staged for another text backbone than context textBackbone names', () => {
    expect(() => buildStack({ context: { textBackbone: 'minilm-l6-v2' }, trainerTextBackbone: null })).toThrow(
      /context textBackbone: "minilm-l6-v2", but the trainer image carries no text backbone; stage the trainer's models with the same context/,
    );
    expect(() => buildStack({ trainerTextBackbone: { name: 'minilm-l6-v2', registered: false } })).toThrow(
      /context textBackbone: not set, but the trainer image carries text backbone "minilm-l6-v2"/,
    );
    expect(() => buildStack({ context: { textBackbone: 'minilm-l6-v2' }, trainerTextBackbone: { name: 'tiny-bert-random', registered: false } })).toThrow(
      /the trainer image carries text backbone "tiny-bert-random"/,
    );
  });

  it('retries a job only when Spot reclaims its instance', () => {
    const def = only(template, 'AWS::Batch::JobDefinition', 'TrainingTrainerJobDefinition').resource.Properties;
    expect(def.RetryStrategy.EvaluateOnExit).toEqual([
      { Action: 'RETRY', OnStatusReason: 'Host EC2*' },
      { Action: 'EXIT', OnReason: '*' },
    ]);
  });

  it('queues jobs on the GPU compute environment', () => {
    const envId = only(template, 'AWS::Batch::ComputeEnvironment', 'TrainingGpuComputeEnvironment').id;
    template.hasResourceProperties('AWS::Batch::JobQueue', {
      ComputeEnvironmentOrder: [{ ComputeEnvironment: { 'Fn::GetAtt': [envId, 'ComputeEnvironmentArn'] }, Order: 1 }],
    });
  });
});

describe('the dataset index table', () => {
  const { template } = synth();

  it('is on demand, with point-in-time recovery, encrypted, deletion-protected and retained by default', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byState', Projection: { ProjectionType: 'ALL' } })],
      }),
    });
  });

  it('is deleted with the stack with context destroy=true', () => {
    synth({ destroy: 'true' }).template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: false }) });
  });

  it('is named in the environment of extract, infer and the trainer', () => {
    const tableRef = { Ref: only(template, 'AWS::DynamoDB::Table', 'StorageIndexTable').id };
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^headstart extract'), Environment: { Variables: Match.objectLike({ TABLE: tableRef }) } });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^headstart infer'), Environment: { Variables: Match.objectLike({ TABLE: tableRef }) } });
    template.hasResourceProperties('AWS::Batch::JobDefinition', { ContainerProperties: Match.objectLike({ Environment: Match.arrayWith([{ Name: 'TABLE', Value: tableRef }]) }) });
  });
});

describe('least privilege', () => {
  const { template } = synth();

  it('lets extract read datasets/, read and write embeddings/ (no deletes), and write only entries, counters, datasets and embedding notes of the index', () => {
    const pairs = permissions(template, 'ExtractionExtractRole');
    expect(objectAccess(pairs)).toEqual({ 'datasets/*': ['read'], 'embeddings/*': ['read', 'write'] });
    expect(s3Resources(pairs)).toEqual([BUCKET, `${BUCKET}/datasets/*`, `${BUCKET}/embeddings/*`]);
    expect(indexWrites(template, 'ExtractionExtractRole')).toEqual({
      actions: ['dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      leadingKeys: ['E#*', 'C#*', 'D*', 'B#*'],
    });
    expect(otherPermissions(pairs)).toEqual([
      'logs:CreateLogStream on <ExtractionExtractLogs.Arn>',
      'logs:PutLogEvents on <ExtractionExtractLogs.Arn>',
      'sqs:ChangeMessageVisibility on <ExtractionQueue.Arn>',
      'sqs:DeleteMessage on <ExtractionQueue.Arn>',
      'sqs:GetQueueAttributes on <ExtractionQueue.Arn>',
      'sqs:GetQueueUrl on <ExtractionQueue.Arn>',
      'sqs:ReceiveMessage on <ExtractionQueue.Arn>',
      'xray:PutTelemetryRecords on *',
      'xray:PutTraceSegments on *',
    ]);
  });

  it('lets infer read models/ and jobs/, manage datasets/ for the console, write only the current pointers of models/, submit to the one queue and job definition, and read job status', () => {
    const pairs = permissions(template, 'ServingInferRole');
    expect(objectAccess(pairs)).toEqual({
      'datasets/*': ['delete', 'read', 'write'],
      'jobs/*': ['read'],
      'models/*': ['read'],
      'models/*/current.json': ['write'],
    });
    expect(s3Resources(pairs)).toEqual([BUCKET, `${BUCKET}/datasets/*`, `${BUCKET}/jobs/*`, `${BUCKET}/models/*`, `${BUCKET}/models/*/current.json`]);
    expect(indexWrites(template, 'ServingInferRole')).toEqual({ actions: ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], leadingKeys: ['L#*'] });
    expect(otherPermissions(pairs)).toEqual([
      'batch:DescribeJobs on *',
      'batch:SubmitJob on <TrainingJobQueue.JobQueueArn>',
      'batch:SubmitJob on <TrainingTrainerJobDefinition>',
      'logs:CreateLogStream on <ServingInferLogs.Arn>',
      'logs:PutLogEvents on <ServingInferLogs.Arn>',
      'xray:PutTelemetryRecords on *',
      'xray:PutTraceSegments on *',
    ]);
  });

  it('lets the trainer read embeddings/ and datasets/, read and write models/ and jobs/, manage packed/, and write only embedding notes and locks of the index', () => {
    const pairs = permissions(template, 'TrainingTrainerJobRole');
    expect(objectAccess(pairs)).toEqual({
      'datasets/*': ['read'],
      'embeddings/*': ['read'],
      'jobs/*': ['read', 'write'],
      'models/*': ['read', 'write'],
      'packed/*': ['delete', 'read', 'write'],
    });
    expect(indexWrites(template, 'TrainingTrainerJobRole')).toEqual({ actions: ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem'], leadingKeys: ['B#*', 'L#*'] });
    expect(otherPermissions(pairs)).toEqual([]);
  });

  it('lets each function read the index table and its GSI, and no other table', () => {
    for (const role of ['ExtractionExtractRole', 'ServingInferRole', 'TrainingTrainerJobRole']) {
      const reads = permissions(template, role).filter((p) => p.action === 'dynamodb:Query').map((p) => p.resource);
      expect(reads.sort(), role).toEqual(['<StorageIndexTable.Arn>', '<StorageIndexTable.Arn>/index/*']);
      const writes = permissions(template, role).filter((p) => p.action === 'dynamodb:PutItem').map((p) => p.resource);
      expect(writes, role).toEqual(['<StorageIndexTable.Arn>']);
    }
  });

  it('grants no action wildcard wider than a CDK S3 grant group', () => {
    const allowed = new Set(['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*']);
    for (const role of ['ExtractionExtractRole', 'ServingInferRole', 'TrainingTrainerJobRole']) {
      for (const { action } of permissions(template, role)) {
        if (action.includes('*')) expect(allowed.has(action), `${role}: ${action}`).toBe(true);
      }
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['defaults', {}],
    ['jwt + spot + destroy + bucket prefix', ALL_FLAGS],
    ['a text backbone', { textBackbone: 'minilm-l6-v2' }],
  ])('finds no unacknowledged error or warning (%s)', (_name, context) => {
    const { stack } = synth(context);
    const report = new AwsSolutionsChecks().validateScope(stack);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('leaves no CDK error or warning annotation on the stack', () => {
    const { stack } = synth();
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('synthesizes as `cdk synth` does: nag plugin and built-in CloudFormation validation, no violations', () => {
    const { app } = buildStack({ builtinValidation: true });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const assembly = app.synth();
    const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
    const violations = (report.pluginReports as Json[]).flatMap((r) => r.violations ?? r.conclusion?.violations ?? []);
    expect(violations).toEqual([]);
  });
});
