// Placeholder written by the infra engineer so the bundler and the CDK have an entry point; the
// functions engineer replaces this file with the real HTTP API handler.
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';

export async function handler(_event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> {
  throw new Error('not wired yet');
}
