/**
 * Powertools Tracer and Metrics for the AWS edges, one of each per process (Lambda container or
 * Batch job). The Tracer records every AWS SDK call as an X-Ray subsegment (the functions run with
 * active tracing); outside Lambda it is off by itself. Metrics go out as CloudWatch EMF log lines,
 * in the `headstart` namespace, with the service as dimension.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

const serviceName = process.env['POWERTOOLS_SERVICE_NAME'] ?? 'headstart';

export const tracer = new Tracer({ serviceName });
export const metrics = new Metrics({ namespace: 'headstart', serviceName });
export { MetricUnit };

/** The client, with its calls traced. */
export function traced<T>(client: T): T {
  return tracer.captureAWSv3Client(client);
}
