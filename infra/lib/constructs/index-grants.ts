/**
 * Access to the dataset index table (src/adapters/aws/DynamoDatasetIndex.ts) by item kind: each
 * function gets the DynamoDB actions it calls, and writes only to the partition kinds it owns,
 * enforced with the dynamodb:LeadingKeys condition (entries E#, counters C#, datasets D, state
 * lists S# via the GSI, embedding presence B#, training locks L#).
 */
import { Stack, type CfnElement } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { acknowledge } from './acknowledge.js';

export interface IndexAccess {
  /** Reads: GetItem, BatchGetItem, Query (the table and its GSI). */
  read?: boolean;
  /** Write actions, each allowed only on items whose partition key starts with one of `keys`. */
  write?: { actions: readonly string[]; keys: readonly string[] };
}

export function grantIndex(table: dynamodb.ITable, role: iam.IGrantable & IConstruct, access: IndexAccess, who: string): void {
  const resources = [table.tableArn, `${table.tableArn}/index/*`];
  if (access.read) {
    role.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:DescribeTable'], resources }),
    );
  }
  if (access.write) {
    role.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: access.write.actions.map((a) => `dynamodb:${a}`),
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': access.write.keys.map((k) => `${k}*`) } },
      }),
    );
  }
  const logicalId = Stack.of(table).getLogicalId(table.node.defaultChild as CfnElement);
  if (access.read) {
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`, `${who} queries the index table's own GSI (lists by state); the wildcard is that table's indexes only.`);
  }
}
