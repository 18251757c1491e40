/**
 * What a queue adapter makes of one batch of messages: the object events to handle, and the
 * messages it could not read. Both the SQS (S3 notification) parser and the local queue's parser
 * return this shape, so an edge treats them the same way.
 */
import type { ObjectEvent } from '../ports/ObjectEvent.js';

export interface UnreadableMessage {
  /** The queue message id (SQS messageId), to report as a batch item failure. */
  id: string;
  reason: string;
}

export interface ObjectEventBatch {
  /** Several events may share one id: one message can carry several records. */
  events: ObjectEvent[];
  /**
   * Messages whose body is not an event. The edge must report them as failed (not drop them): the
   * queue then delivers them again up to its max receive count and moves them to the dead-letter
   * queue, where someone can look at them. Retrying within one invocation would never help.
   */
  unreadable: UnreadableMessage[];
}
