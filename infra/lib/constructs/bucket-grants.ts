/**
 * Prefix-scoped S3 access for a role, granted with CDK's grant methods, together with the
 * cdk-nag acknowledgments those grants need.
 */
import { Stack, type CfnElement } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { acknowledge } from './acknowledge.js';

export interface PrefixAccess {
  /** Object patterns (e.g. 'records/*') to read: s3:GetObject*, plus s3:GetBucket* and s3:List* on the bucket. */
  read?: readonly string[];
  /** Patterns to write: s3:PutObject (and its legal-hold/retention/tagging variants, s3:Abort*). */
  put?: readonly string[];
  /** Patterns to delete: s3:DeleteObject*. */
  delete?: readonly string[];
}

/** The wildcard actions each CDK grant adds. */
const GRANT_WILDCARDS: Record<keyof PrefixAccess, readonly string[]> = {
  read: ['s3:GetObject*', 's3:GetBucket*', 's3:List*'],
  put: ['s3:Abort*'],
  delete: ['s3:DeleteObject*'],
};

/**
 * Grants `role` prefix-scoped access to `bucket` with CDK's grant methods and acknowledges the
 * AwsSolutions-IAM5 findings those grants raise (the wildcard under each prefix and CDK's
 * wildcard action groups): those wildcards are the prefix scoping itself. Grants and
 * acknowledgments come from the same lists, so they cannot drift apart.
 */
export function grantPrefixes(bucket: s3.IBucket, role: iam.IGrantable & IConstruct, access: PrefixAccess, who: string): void {
  for (const pattern of access.read ?? []) bucket.grantRead(role, pattern);
  for (const pattern of access.put ?? []) bucket.grantPut(role, pattern);
  for (const pattern of access.delete ?? []) bucket.grantDelete(role, pattern);

  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement);
  const patterns = new Set([...(access.read ?? []), ...(access.put ?? []), ...(access.delete ?? [])]);
  for (const pattern of patterns) {
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${pattern}]`,
      `${who} works on many objects under ${pattern} of the data bucket; the grant is limited to that prefix.`,
    );
  }
  const kinds = (Object.keys(GRANT_WILDCARDS) as (keyof PrefixAccess)[]).filter((kind) => (access[kind] ?? []).length > 0);
  for (const action of new Set(kinds.flatMap((kind) => GRANT_WILDCARDS[kind]))) {
    acknowledge(
      role,
      `AwsSolutions-IAM5[Action::${action}]`,
      `CDK's S3 grant action group ${action}; it applies only to the bucket and the prefix-scoped object ARNs granted to ${who}.`,
    );
  }
}
