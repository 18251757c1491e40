/**
 * The one kind of log group the stack makes (function logs, trainer logs, API access logs): kept a
 * month, and kept with the stack unless it is a dev stack (context destroy=true).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export function pipelineLogGroup(scope: Construct, id: string, destroyOnRemoval: boolean | undefined): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
}
