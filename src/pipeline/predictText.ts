/**
 * Serving a text version: the same answer as an image prediction ({ label, probability, top,
 * model, outOfDomain, oodScore }) from a text. Versions are loaded once per (dataset, version) and
 * kept; an image version asked for text (and the reverse, in Predictor) is a 4xx that says which
 * kind of input the model takes.
 */
import { BadRequestError, InvalidTextError, ModelNotFoundError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import { TfidfClassifier } from '../text/tfidfModel.js';
import { checkText } from '../text/validateText.js';
import type { Prediction } from './predict.js';

export class TextPredictor {
  private readonly registry: ModelRegistry;
  private readonly models = new Map<string, Promise<TfidfClassifier>>();

  constructor(store: ObjectStore) {
    this.registry = new ModelRegistry(store);
  }

  /** The version currently served (ModelNotFoundError when none). */
  async currentVersion(dataset: string): Promise<string> {
    const pointer = await this.registry.pointer(dataset);
    if (pointer === undefined) {
      throw new ModelNotFoundError(`dataset "${dataset}" has no trained model yet; train it first`, { context: { dataset } });
    }
    return pointer.version;
  }

  private model(dataset: string, version: string): Promise<TfidfClassifier> {
    const key = `${dataset}\u0000${version}`;
    let loading = this.models.get(key);
    if (loading === undefined) {
      loading = (async () => {
        const manifest = await this.registry.manifest(dataset, version);
        if (manifest.modality !== 'text' || !manifest.text) {
          throw new BadRequestError(`dataset "${dataset}" holds an image model (${version}): send an image, not text`, 'modality_mismatch', 415, { context: { dataset, version } });
        }
        const { stateFile, headFile } = manifest.text;
        if (manifest.text.representation !== 'tfidf' || !stateFile || !headFile) {
          throw new BadRequestError(`model ${dataset}/${version} uses a text representation this server cannot run (${manifest.text.representation})`, 'backbone_mismatch', 409);
        }
        return TfidfClassifier.decode(await this.registry.file(dataset, version, stateFile), await this.registry.file(dataset, version, headFile), manifest.labels, manifest.text.outOfDomain);
      })();
      this.models.set(key, loading);
      loading.catch(() => this.models.delete(key));
    }
    return loading;
  }

  /** Predicts each text with the current (or given) version; an unusable text gets its InvalidTextError in its slot. */
  async predict(dataset: string, texts: readonly string[], version?: string): Promise<Array<Prediction | InvalidTextError>> {
    const chosen = version ?? (await this.currentVersion(dataset));
    const model = await this.model(dataset, chosen);
    return texts.map((raw) => {
      let text: string;
      try {
        text = checkText(raw);
      } catch (error) {
        if (error instanceof InvalidTextError) return error;
        throw error;
      }
      return { ...model.predict(text), model: chosen };
    });
  }
}
