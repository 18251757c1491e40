/**
 * misclassified.json, a file of each model version: every validation image the cross-validated
 * head got wrong out-of-fold (the report shows a capped few with thumbnails). The console lists
 * them so a person can move a mislabelled image or remove a bad one, then train again.
 */
export const MISCLASSIFIED_FILE = 'misclassified.json';

export interface MisclassifiedItem {
  key: string;
  trueLabel: string;
  predictedLabel: string;
  /** Out-of-fold probability of the (wrong) predicted label. */
  probability: number;
}

export interface MisclassifiedList {
  total: number;
  items: MisclassifiedItem[];
}
