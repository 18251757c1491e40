// Placeholder written by the infra engineer so the bundler and the CDK have an entry point; the
// functions engineer replaces this file with the real SQS extract handler.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

export async function handler(_event: SQSEvent): Promise<SQSBatchResponse> {
  throw new Error('not wired yet');
}
