/**
 * A dataset is images or texts, not both. Which one it is decides how it trains; a mix is refused
 * by name wherever a training reads its rows (images' loadTrainingData, texts' training set).
 */
import { TrainingDataError } from '../errors.js';
import type { DatasetIndex, IndexEntry } from '../ports/DatasetIndex.js';
import { isTextKey } from '../text/validateText.js';

/** Is this dataset's content text? Throws when it mixes texts and images. */
export function textModality(dataset: string, entries: readonly Pick<IndexEntry, 'key'>[]): 'text' | 'image' | undefined {
  const texts = entries.filter((e) => isTextKey(e.key)).length;
  const images = entries.length - texts;
  if (texts > 0 && images > 0) {
    throw new TrainingDataError(
      `dataset "${dataset}" mixes images (${images}) and texts (${texts}); a dataset is images or texts, not both: move one kind to another dataset`,
      { context: { dataset, images, texts } },
    );
  }
  return texts > 0 ? 'text' : images > 0 ? 'image' : undefined;
}

/**
 * The dataset's modality from its first accepted object (undefined when it has none): one row read,
 * not a scan, since the training that follows reads every row anyway and refuses a mix there.
 */
export async function datasetModality(plane: { index: DatasetIndex }, dataset: string): Promise<'text' | 'image' | undefined> {
  for await (const entry of plane.index.entries(dataset, { state: 'embedded', limit: 1 })) return isTextKey(entry.key) ? 'text' : 'image';
  return undefined;
}
