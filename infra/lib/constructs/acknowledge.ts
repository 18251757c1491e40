/**
 * cdk-nag 3 acknowledgments (CDK's `Validations.of(x).acknowledge`), each with its reason.
 * An acknowledgment on a construct covers the resources below it, and it matches one rule id
 * exactly; findings of AwsSolutions-IAM5 are acknowledged one by one (`AwsSolutions-IAM5[<finding>]`).
 */
import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** CDK's grantRead/grantReadWrite/grantPut action groups (object get/list/delete/abort variants). */
const S3_GRANT_ACTION_WILDCARDS = ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'];

/**
 * `bucket.grantRead(role, 'records/*')` yields wildcard actions and a wildcard under the prefix;
 * those wildcards are the prefix scoping itself. Acknowledges exactly the granted prefixes.
 */
export function acknowledgePrefixGrants(role: IConstruct, bucket: s3.IBucket, patterns: readonly string[], who: string): void {
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement);
  for (const pattern of patterns) {
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${pattern}]`,
      `${who} works on many objects under ${pattern} of the data bucket; the grant is limited to that prefix.`,
    );
  }
  for (const action of S3_GRANT_ACTION_WILDCARDS) {
    acknowledge(
      role,
      `AwsSolutions-IAM5[Action::${action}]`,
      `CDK's S3 grant action group ${action}; it applies only to the bucket and the prefix-scoped object ARNs granted to ${who}.`,
    );
  }
}
