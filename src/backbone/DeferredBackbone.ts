/**
 * A backbone as training needs it when every embedding is already cached: who it is, its graph for
 * the standalone export, and an embed that loads the onnxruntime session only if something is
 * actually embedded (the assessment's samples the cache lacks). Training on cached embeddings then
 * never holds the backbone's session (about 100 MB resident for MobileNetV2).
 */
import { readFile } from 'node:fs/promises';
import { BackboneMissingError, type InvalidImageError } from '../errors.js';
import { sha256Hex } from '../dataset/keys.js';
import { addEmbeddingOutput } from './addEmbeddingOutput.js';
import type { Backbone } from './Backbone.js';
import { ADDED_OUTPUT } from './Backbone.js';
import type { BackboneSpec } from './catalogue.js';
import { resolveBackbone, type BackboneLocation } from './resolveBackbone.js';

export class DeferredBackbone {
  private constructor(
    readonly spec: BackboneSpec,
    readonly id: string,
    readonly embeddingOutput: string,
    private readonly modelPath: string,
    private readonly load: () => Promise<Backbone>,
  ) {}

  /** Resolves (and checks) the backbone's file now; `load` gives the full backbone when one is needed. */
  static async resolve(name: string, location: BackboneLocation, load: () => Promise<Backbone>): Promise<DeferredBackbone> {
    const resolved = await resolveBackbone(name, location);
    const output = 'output' in resolved.spec.embedding ? resolved.spec.embedding.output : ADDED_OUTPUT;
    return new DeferredBackbone(resolved.spec, resolved.id, output, resolved.modelPath, load);
  }

  /** The graph with its embedding output, as Backbone.modelBytes gives it, read without a session. */
  async modelBytes(): Promise<Uint8Array> {
    const bytes = await readFile(this.modelPath);
    if (sha256Hex(bytes) !== this.spec.sha256) {
      throw new BackboneMissingError(`backbone file ${this.modelPath} does not match its pinned sha256 ${this.spec.sha256}`, { context: { backbone: this.spec.name } });
    }
    const embedding = this.spec.embedding;
    return 'output' in embedding ? bytes : addEmbeddingOutput(bytes, embedding.featureTensor, { outputName: ADDED_OUTPUT, channels: this.spec.embeddingSize });
  }

  async embedImages(images: Uint8Array[]): Promise<Array<Float32Array | InvalidImageError>> {
    return (await this.load()).embedImages(images);
  }
}
