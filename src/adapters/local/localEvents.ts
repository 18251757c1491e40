/**
 * How the local runtime carries the folder store's object events through the local queue: the body
 * holds the event's kind and key; the event id on the way out is the queue message id, as the SQS
 * message id is in the cloud, so a handler's failed ids name queue messages.
 */
import type { ObjectEvent } from '../../ports/ObjectEvent.js';
import type { ObjectEventBatch } from '../ObjectEventBatch.js';
import type { QueueMessage } from './LocalQueue.js';

export function objectEventMessageBody(event: ObjectEvent): string {
  return JSON.stringify({ kind: event.kind, key: event.key });
}

export function parseLocalEventMessages(batch: readonly QueueMessage[]): ObjectEventBatch {
  const result: ObjectEventBatch = { events: [], unreadable: [] };
  for (const message of batch) {
    let body: unknown;
    try {
      body = JSON.parse(message.body);
    } catch {
      result.unreadable.push({ id: message.id, reason: 'body is not JSON' });
      continue;
    }
    const { kind, key } = (body ?? {}) as Partial<ObjectEvent>;
    if ((kind !== 'created' && kind !== 'removed') || typeof key !== 'string' || key === '') {
      result.unreadable.push({ id: message.id, reason: 'body is not an object event ({ kind, key })' });
      continue;
    }
    result.events.push({ id: message.id, kind, key });
  }
  return result;
}
