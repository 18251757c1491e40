/**
 * cdk-nag 3 acknowledgments (CDK's `Validations.of(x).acknowledge`), each with its reason.
 * An acknowledgment on a construct covers the resources below it, and it matches one rule id
 * exactly; findings of AwsSolutions-IAM5 are acknowledged one by one (`AwsSolutions-IAM5[<finding>]`).
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}
