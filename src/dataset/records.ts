/**
 * What the pipeline made of one uploaded object, as the dataset index keeps it (see
 * ports/DatasetIndex.ts): its label and content hash, or the reason it was refused.
 */
import type { IndexEntry } from '../ports/DatasetIndex.js';

export type ObjectRecord = IndexEntry;

export function isAccepted(record: IndexEntry): record is IndexEntry & { sha256: string; label: string } {
  return record.state === 'embedded' && record.sha256 !== undefined && record.label !== undefined;
}
