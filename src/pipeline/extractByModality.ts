/**
 * Extraction with one embedder per modality: `.txt` objects go to the text embedder, every other
 * object to the image backbone, each group through the same {@link extractObjects}. The edges (the
 * local runtime, the extract Lambda) call this instead of extractObjects when texts are enabled.
 */
import type { ObjectEvent } from '../ports/ObjectEvent.js';
import { isTextKey } from '../text/validateText.js';
import { extractObjects, type Embedder, type ExtractDeps, type ExtractResult } from './extract.js';

export interface ModalEmbedders {
  image: () => Promise<Embedder>;
  text: () => Promise<Embedder>;
}

export async function extractByModality(events: readonly ObjectEvent[], deps: Omit<ExtractDeps, 'embedder'>, embedders: ModalEmbedders): Promise<ExtractResult> {
  const texts = events.filter((e) => isTextKey(e.key));
  const images = events.filter((e) => !isTextKey(e.key));
  const results: ExtractResult[] = [];
  // Each embedder is loaded only when its modality is in the batch.
  if (images.length > 0) results.push(await extractObjects(images, { ...deps, embedder: await embedders.image() }));
  if (texts.length > 0) results.push(await extractObjects(texts, { ...deps, embedder: await embedders.text() }));
  return { failedIds: results.flatMap((r) => r.failedIds), outcomes: results.flatMap((r) => r.outcomes) };
}
