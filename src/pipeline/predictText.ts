/**
 * Serving a text version: the same answer as an image prediction ({ label, probability, top,
 * model, outOfDomain, oodScore }) from a text. Versions are loaded once per (dataset, version) and
 * kept, the least recently used evicted beyond `maxModels` (a TF-IDF version holds its vocabulary
 * and a features x labels head: about 45 MB for banking77's 10,003 texts); an image version asked
 * for text (and the reverse, in Predictor) is a 4xx that says which kind of input the model takes.
 *
 * Two representations: a TF-IDF version carries its featuriser and head; an encoder version needs
 * the text encoder it was trained on, found by name where `location` says (models folder, registered
 * encoders), proven to be the same one (id and sha256 of both files), and loaded once per predictor.
 * A missing or different encoder is a 409 that names it and how to install it.
 */
import { BackboneMismatchError, BadRequestError, InvalidTextError, ModelNotFoundError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import { findTextCatalogueEntry } from '../backbone/catalogue.js';
import type { TextBackboneLocation } from '../text/resolveTextBackbone.js';
import type { TextBackbone } from '../text/TextBackbone.js';
import { TfidfClassifier, type TextPrediction } from '../text/tfidfModel.js';
import { checkText } from '../text/validateText.js';
import type { Prediction } from './predict.js';
import { DEFAULT_MAX_MODELS, ServedVersions } from './servedVersions.js';
import { LoadedByKey } from '../util/LoadedByKey.js';

export interface TextPredictorOptions {
  /** Where the text encoders of encoder versions are found (default: HEADSTART_MODELS, no registered ones). */
  location?: TextBackboneLocation;
  /** Versions kept loaded, least recently used evicted. Default 8, as Predictor's. */
  maxModels?: number;
}

/** A loaded version: texts (already checked) in, predictions out. */
interface ServedTextModel {
  predict(texts: readonly string[]): Promise<TextPrediction[]>;
  /** Frees what the version holds beyond plain arrays (an encoder version's head session). */
  release?(): Promise<void>;
}

export class TextPredictor {
  private readonly registry: ModelRegistry;
  private readonly models: ServedVersions<ServedTextModel>;
  /** By name; few and shared by every version on them, so never evicted. */
  private readonly encoders = new LoadedByKey<TextBackbone>((name) => import('../text/TextBackbone.js').then(({ TextBackbone }) => TextBackbone.load(name, this.options.location ?? {})));

  constructor(store: ObjectStore, private readonly options: TextPredictorOptions = {}) {
    this.registry = new ModelRegistry(store);
    this.models = new ServedVersions((dataset, version) => this.load(dataset, version), async (m) => m.release?.(), options.maxModels ?? DEFAULT_MAX_MODELS);
  }

  /** Versions loaded now (bounded by maxModels). */
  get loadedVersions(): number {
    return this.models.size;
  }

  /** The version currently served (ModelNotFoundError when none). */
  async currentVersion(dataset: string): Promise<string> {
    const pointer = await this.registry.pointer(dataset);
    if (pointer === undefined) {
      throw new ModelNotFoundError(`dataset "${dataset}" has no trained model yet; train it first`, { context: { dataset } });
    }
    return pointer.version;
  }

  private model(dataset: string, version: string): Promise<ServedTextModel> {
    return this.models.get(dataset, version);
  }

  private async load(dataset: string, version: string): Promise<ServedTextModel> {
    const manifest = await this.registry.manifest(dataset, version);
    if (manifest.modality !== 'text' || !manifest.text) {
      throw new BadRequestError(`dataset "${dataset}" holds an image model (${version}): send an image, not text`, 'modality_mismatch', 415, { context: { dataset, version } });
    }
    if (manifest.text.representation === 'encoder') return this.encoderModel(manifest);
    const { stateFile, headFile, outOfDomain } = manifest.text;
    if (manifest.text.representation !== 'tfidf' || !stateFile || !headFile || !outOfDomain) {
      throw new BadRequestError(`model ${dataset}/${version} uses a text representation this server cannot run (${manifest.text.representation})`, 'backbone_mismatch', 409);
    }
    const classifier = TfidfClassifier.decode(await this.registry.file(dataset, version, stateFile), await this.registry.file(dataset, version, headFile), manifest.labels, outOfDomain);
    return { predict: async (texts) => texts.map((t) => classifier.predict(t)) };
  }

  /** The encoder a version was trained on, loaded once (by name) and checked to be the very same one. */
  private async encoderFor(manifest: ModelManifest): Promise<TextBackbone> {
    const { name, id } = manifest.backbone;
    const loading = this.encoders.get(name);
    const where = `model ${manifest.dataset}/${manifest.version} runs on text encoder "${name}" (${id})`;
    let encoder: TextBackbone;
    try {
      encoder = await loading;
    } catch (error) {
      throw new BackboneMismatchError(`${where}, which this server cannot load: ${(error as Error).message} To serve it, install that encoder: ${howToInstall(name)}`, {
        cause: error,
        context: { dataset: manifest.dataset, version: manifest.version, encoder: name, encoderId: id },
      });
    }
    if (encoder.id !== id || encoder.spec.sha256 !== manifest.backbone.sha256) {
      throw new BackboneMismatchError(`${where}, but the "${name}" on this server is another encoder (${encoder.id}); install the one the version names: ${howToInstall(name)}`, {
        context: { dataset: manifest.dataset, version: manifest.version, modelBackbone: id, servedBackbone: encoder.id },
      });
    }
    return encoder;
  }

  /** An encoder version: its encoder, head.onnx and the k-NN out-of-domain reference. */
  private async encoderModel(manifest: ModelManifest): Promise<ServedTextModel> {
    const { dataset, version } = manifest;
    const encoder = await this.encoderFor(manifest);
    // Loaded here, not at the top: the router imports this module, and TF-IDF versions need no onnxruntime.
    const [{ HeadModel }, { decodeOutOfDomain, scoreOutOfDomain }, { toPrediction }] = await Promise.all([import('../head/HeadModel.js'), import('../transfer/outOfDomain.js'), import('./predict.js')]);
    const head = await HeadModel.load(await this.registry.file(dataset, version, manifest.files.head));
    const ood = manifest.outOfDomain ? decodeOutOfDomain(manifest.outOfDomain, await this.registry.file(dataset, version, manifest.outOfDomain.reference.file)) : undefined;
    const k = manifest.labels.length;
    return {
      predict: async (texts) => {
        if (texts.length === 0) return [];
        const vectors = await encoder.embedTexts(texts);
        const probabilities = await head.predict(vectors);
        const domain = ood ? scoreOutOfDomain(ood, vectors) : undefined;
        return vectors.map((_, row) => {
          const { label, probability, top } = toPrediction(probabilities.subarray(row * k, (row + 1) * k), manifest.labels, version, 5);
          const d = domain?.[row];
          return { label, probability, top, outOfDomain: d?.outOfDomain ?? false, oodScore: d?.score ?? 0 };
        });
      },
      release: () => head.release(),
    };
  }

  /** Predicts each text with the current (or given) version; an unusable text gets its InvalidTextError in its slot. */
  async predict(dataset: string, texts: readonly string[], version?: string): Promise<Array<Prediction | InvalidTextError>> {
    const chosen = version ?? (await this.currentVersion(dataset));
    const model = await this.model(dataset, chosen);
    const checked = texts.map((raw) => {
      try {
        return checkText(raw);
      } catch (error) {
        if (error instanceof InvalidTextError) return error;
        throw error;
      }
    });
    const good = checked.filter((c): c is string => typeof c === 'string');
    const predictions = await model.predict(good);
    let row = 0;
    return checked.map((c) => (typeof c === 'string' ? { ...(predictions[row++] as TextPrediction), model: chosen } : c));
  }

  /** Releases the versions' head sessions and the encoders this predictor loaded. */
  async release(): Promise<void> {
    const models = this.models.takeAll();
    const encoders = this.encoders.values();
    this.encoders.clear();
    await Promise.allSettled([...models.map(async (m) => (await m).release?.()), ...encoders.map(async (e) => (await e).release())]);
  }
}

function howToInstall(name: string): string {
  const entry = findTextCatalogueEntry(name);
  if (entry?.model.url) return `\`npm run fetch-models -- ${name}\` on a machine with internet (or set HEADSTART_MODELS to a folder that holds its files)`;
  if (entry) return `set HEADSTART_MODELS to a folder that holds ${entry.model.file} and ${entry.tokenizer.file}`;
  return `\`headstart backbone add <model.onnx> --text --tokenizer <tokenizer.json> --name ${name}\` with the same two files the version was trained with`;
}
