/**
 * Text objects through the extraction step's {@link Embedder} shape (bytes in, a vector or a
 * per-object refusal out), so `extractObjects` handles `.txt` uploads exactly as images: the same
 * reconciliation, the same recorded reasons, the same cache keyed by (backbone, content).
 *
 * - With a pretrained text encoder: its embedding.
 * - Without one: the text is only validated and an empty vector is cached under
 *   {@link TEXT_VALIDATED_ID}, meaning "this content is a usable text". The TF-IDF featuriser is
 *   fitted at training time on the texts themselves (it cannot exist before the training set does).
 */
import type { InvalidTextError } from '../errors.js';
import type { Embedder } from '../pipeline/extract.js';
import type { TextBackbone } from './TextBackbone.js';
import { tryDecodeText } from './validateText.js';

/** The "backbone" id of validated texts (the TF-IDF path); bump the suffix if validation changes. */
export const TEXT_VALIDATED_ID = 'text-utf8@1';

export const validatedTextEmbedder: Embedder = {
  id: TEXT_VALIDATED_ID,
  async embedImages(objects: Uint8Array[]): Promise<Array<Float32Array | InvalidTextError>> {
    return objects.map((bytes) => {
      const text = tryDecodeText(bytes);
      return typeof text === 'string' ? new Float32Array(0) : text;
    });
  },
};

export function encoderEmbedder(backbone: TextBackbone): Embedder {
  return { id: backbone.id, embedImages: (objects) => backbone.embedTextBytes(objects) };
}
