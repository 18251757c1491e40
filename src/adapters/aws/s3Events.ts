/**
 * Turns an SQS batch whose bodies are S3 event notifications into object events.
 *
 * - Keys arrive URL-encoded, with '+' for a space (real S3 keeps '/' as is; moto_server encodes it
 *   as %2F): both decode to the same key here.
 * - ObjectCreated:* is `created`, ObjectRemoved:* is `removed`; other S3 event kinds (restore,
 *   tagging, ACL, replication, lifecycle transitions) say nothing about the bytes and are ignored.
 * - `s3:TestEvent` (sent by S3 when the notification is configured) yields no event.
 * - A body may hold several records; each event's id is the SQS messageId, so a failed event
 *   names the message to return in batchItemFailures.
 * - A body that is not a notification, or a record without a usable key, makes the whole message
 *   `unreadable`. The edge reports those as batch item failures: SQS delivers them again up to the
 *   queue's maxReceiveCount and then moves them to the DLQ, where they can be inspected. (Dropping
 *   them would hide the evidence; retrying inside the invocation could never succeed.)
 */
import type { S3EventRecord, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ObjectEvent } from '../../ports/ObjectEvent.js';
import type { ObjectEventBatch } from '../ObjectEventBatch.js';

/** The parts of an SQS record this reads; a Lambda SQSEvent fits, as do messages from ReceiveMessage. */
export type SqsMessageLike = Pick<SQSRecord, 'messageId' | 'body'>;

export function parseS3EventMessages(event: { Records: readonly SqsMessageLike[] } | SQSEvent): ObjectEventBatch {
  const batch: ObjectEventBatch = { events: [], unreadable: [] };
  for (const record of event.Records) {
    const parsed = parseS3EventMessage(record);
    if ('reason' in parsed) batch.unreadable.push({ id: record.messageId, reason: parsed.reason });
    else batch.events.push(...parsed.events);
  }
  return batch;
}

/** One SQS message: its events (possibly none), or why it cannot be read. */
export function parseS3EventMessage(record: SqsMessageLike): { events: ObjectEvent[] } | { reason: string } {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return { reason: `body is not JSON: ${preview(record.body)}` };
  }
  if (typeof body !== 'object' || body === null) return { reason: `body is not an S3 notification: ${preview(record.body)}` };
  if ((body as { Event?: unknown }).Event === 's3:TestEvent') return { events: [] };
  const records = (body as { Records?: unknown }).Records;
  if (!Array.isArray(records)) return { reason: `body has no Records: ${preview(record.body)}` };

  const events: ObjectEvent[] = [];
  for (const [index, s3Record] of (records as Array<Partial<S3EventRecord>>).entries()) {
    const kind = kindOf(s3Record?.eventName);
    if (kind === undefined) continue;
    const rawKey = s3Record.s3?.object?.key;
    if (typeof rawKey !== 'string' || rawKey === '') return { reason: `record ${index} (${s3Record.eventName}) has no object key` };
    const key = decodeS3EventKey(rawKey);
    if (key === undefined) return { reason: `record ${index} has a key that is not valid URL encoding: ${preview(rawKey)}` };
    events.push({ id: record.messageId, kind, key });
  }
  return { events };
}

/** S3 notification keys are form-encoded: '+' is a space, and a literal '+' arrives as %2B. */
export function decodeS3EventKey(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function kindOf(eventName: unknown): ObjectEvent['kind'] | undefined {
  if (typeof eventName !== 'string') return undefined;
  // Records name events without the "s3:" that the notification configuration uses; accept both.
  const name = eventName.replace(/^s3:/, '');
  if (name.startsWith('ObjectCreated:')) return 'created';
  if (name.startsWith('ObjectRemoved:')) return 'removed';
  return undefined;
}

function preview(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}
