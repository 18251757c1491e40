/**
 * The extract Lambda: an SQS batch of S3 notifications in, a partial batch response out.
 *
 * The whole batch goes through one extractObjects call, so its images share one backbone run and
 * duplicate keys across messages are handled once. Powertools' batch processor then turns the
 * per-message outcome into `batchItemFailures`: only the messages that failed come back, a
 * message that keeps failing reaches the DLQ after the queue's maxReceiveCount, and an
 * unreadable message is failed (not dropped) so the evidence ends up in the DLQ too.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { HeadstartError } from '../../errors.js';
import { parseS3EventMessages } from '../../adapters/aws/s3Events.js';
import type { Embedder } from '../../pipeline/extract.js';
import { extractByModality } from '../../pipeline/extractByModality.js';
import { validatedTextEmbedder } from '../../text/textEmbedders.js';
import type { ObjectStore } from '../../ports/ObjectStore.js';
import type { DatasetIndex } from '../../ports/DatasetIndex.js';

export interface ExtractHandlerDeps {
  store: ObjectStore;
  index: DatasetIndex;
  /** Loaded once per container and reused by every invocation. */
  embedder: () => Promise<Embedder>;
  /** What `.txt` uploads are extracted with; default: validated for the TF-IDF representation. */
  textEmbedder?: () => Promise<Embedder>;
  logger: Logger;
  /** Extraction outcomes and index updates as CloudWatch metrics (EMF); absent in tests that do not look. */
  metrics?: Metrics;
}

export class ExtractRetryError extends HeadstartError {
  constructor(messageId: string, reason: string) {
    super(`message ${messageId} will be retried: ${reason}`, 'extract_retry', 500, { context: { messageId } });
    this.name = 'ExtractRetryError';
  }
}

export function makeExtractHandler(deps: ExtractHandlerDeps): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event, context) => {
    const batch = parseS3EventMessages(event);
    const unreadable = new Map(batch.unreadable.map((u) => [u.id, u.reason]));
    for (const [id, reason] of unreadable) deps.logger.warn('unreadable message', { messageId: id, reason });

    const result = (async () =>
      extractByModality(
        batch.events,
        { store: deps.store, index: deps.index, warn: (message, ctx) => deps.logger.warn(message, ctx) },
        { image: deps.embedder, text: deps.textEmbedder ?? (async () => validatedTextEmbedder) },
      ))();
    // Settle the shared promise even if no record awaits it (a batch of unreadable messages).
    result.catch(() => undefined);

    const recordHandler = async (record: SQSRecord): Promise<void> => {
      const reason = unreadable.get(record.messageId);
      if (reason !== undefined) throw new ExtractRetryError(record.messageId, reason);
      const { failedIds, outcomes } = await result;
      if (failedIds.includes(record.messageId)) {
        const failed = outcomes.filter((o) => o.status === 'failed').map((o) => `${o.key}: ${o.error?.message ?? ''}`);
        throw new ExtractRetryError(record.messageId, failed.join('; '));
      }
    };
    const response = await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
    const summary = (await result.catch(() => undefined))?.outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.status]: (acc[o.status] ?? 0) + 1 }), {});
    deps.logger.info('extract batch done', { messages: event.Records.length, outcomes: summary ?? {}, failedMessages: response.batchItemFailures.length });
    if (deps.metrics) {
      // One metric per outcome (embedded, cached, rejected, removed, ignored, failed), and the index
      // rows this batch wrote or deleted (every outcome but ignored and failed touches the index).
      for (const [status, count] of Object.entries(summary ?? {})) deps.metrics.addMetric(`objects_${status}`, MetricUnit.Count, count);
      const indexUpdates = Object.entries(summary ?? {}).filter(([status]) => status !== 'ignored' && status !== 'failed').reduce((sum, [, count]) => sum + count, 0);
      deps.metrics.addMetric('index_updates', MetricUnit.Count, indexUpdates);
      deps.metrics.addMetric('failed_messages', MetricUnit.Count, response.batchItemFailures.length);
      deps.metrics.publishStoredMetrics();
    }
    return response;
  };
}
