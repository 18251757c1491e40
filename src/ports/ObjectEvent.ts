/**
 * A change to an object in the bucket, as S3 event notifications (via SQS) and the local folder
 * store both report it. Delivery is at least once and in no particular order: handlers treat an
 * event as "this key may have changed" and look at the object's current state.
 */
export interface ObjectEvent {
  /** Unique per delivery attempt source (SQS message id, or a local id); used for partial batch failures. */
  id: string;
  kind: 'created' | 'removed';
  /** The decoded object key (S3 event keys arrive URL-encoded with '+' for spaces; adapters decode). */
  key: string;
}
