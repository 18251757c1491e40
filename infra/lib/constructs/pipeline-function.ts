/**
 * A Lambda function as both headstart functions need it: Node.js 22 on x86_64 (the native
 * binaries in the asset are linux-x64), the packaged asset folder, its own log group with a
 * retention, X-Ray tracing, Powertools settings, and a role that may write to that log group only
 * (no AWS managed policy).
 */
import type { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge.js';
import { pipelineLogGroup } from './log-group.js';

/** A text encoder a function asset or the trainer image carries (`-c textBackbone`). */
export interface CarriedTextBackbone {
  name: string;
  /** Registered with `headstart backbone add --text` (its entry ships under backbones/), not a catalogue entry. */
  registered: boolean;
}

/** A packaged function folder and the content hash of everything in it (scripts/bundle-functions.ts). */
export interface FunctionAsset {
  dir: string;
  hash: string;
  /** The text encoder the folder carries; its name goes to the function's TEXT_BACKBONE. */
  textBackbone?: CarriedTextBackbone;
}

/** Where the asset's models/ folder is in the Lambda sandbox (the asset unpacks to /var/task). */
export const LAMBDA_MODELS_DIR = '/var/task/models';
/** Where a registered text backbone's entry is (the asset's backbones/ folder, scripts/bundle-functions.ts ASSET_BACKBONES_DIR). */
export const LAMBDA_BACKBONES_DIR = '/var/task/backbones';

/**
 * The variables that tell a function or the trainer which text encoder it carries, a registered one's
 * entry being in `backbonesDir`; none without one (the TF-IDF path).
 */
export function textBackboneEnvironment(text: CarriedTextBackbone | undefined, backbonesDir: string): Record<string, string> {
  if (!text) return {};
  return { TEXT_BACKBONE: text.name, ...(text.registered ? { HEADSTART_BACKBONES: backbonesDir } : {}) };
}

export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;

export interface PipelineFunctionProps {
  asset: FunctionAsset;
  description: string;
  /** Powertools service name, also the log's service field. */
  serviceName: string;
  memoryMb: number;
  timeout: Duration;
  logLevel: string;
  backbone: string;
  environment?: Record<string, string>;
  destroyOnRemoval?: boolean;
}

export class PipelineFunction extends Construct {
  readonly fn: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.logGroup = pipelineLogGroup(this, 'Logs', props.destroyOnRemoval);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.serviceName} function role`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new lambda.Function(this, 'Function', {
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.X86_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(props.asset.dir, { assetHash: props.asset.hash }),
      memorySize: props.memoryMb,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        LOG_LEVEL: props.logLevel,
        BACKBONE: props.backbone,
        HEADSTART_MODELS: LAMBDA_MODELS_DIR,
        ...textBackboneEnvironment(props.asset.textBackbone, LAMBDA_BACKBONES_DIR),
        ...props.environment,
      },
    });

    acknowledge(
      this.fn,
      'AwsSolutions-L1',
      'Pinned to nodejs22.x on purpose: the packaged onnxruntime-node and sharp binaries and the measured memory/latency figures are for Node 22; move to a newer runtime together with a re-measure.',
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (tracing is active).',
    );
  }
}
