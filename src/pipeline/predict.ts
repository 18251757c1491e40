/**
 * Prediction: image bytes -> the backbone (same preprocessing as extraction) -> the dataset's
 * current head -> top-k labels. The infer Lambda, the local server and the CLI share it.
 *
 * The backbone is loaded once by the caller; heads are loaded per (dataset, version) and cached.
 * The current pointer is re-read (at most every `pointerTtlMs`), so a newly promoted version is
 * served without a redeploy, and each answer names the one version that computed it.
 */
import { BackboneMismatchError, BadRequestError, InvalidImageError, ModelNotFoundError } from '../errors.js';
import { HeadModel } from '../head/HeadModel.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { decodeOutOfDomain, scoreOutOfDomain, type OutOfDomainModel } from '../transfer/outOfDomain.js';
import type { Embedder } from './extract.js';
import { DEFAULT_MAX_MODELS, ServedVersions } from './servedVersions.js';

export interface LabelProbability {
  label: string;
  probability: number;
}

export interface Prediction {
  label: string;
  probability: number;
  top: LabelProbability[];
  /** The model version that computed this prediction. */
  model: string;
  /**
   * True when the image looks unlike the training images (k-NN cosine distance above the threshold
   * calibrated on validation at a 5% false-alarm rate): the label is then likely meaningless.
   */
  outOfDomain?: boolean;
  /** The distance score behind `outOfDomain` (0 = like the training images). */
  oodScore?: number;
}

export interface LoadedModel {
  manifest: ModelManifest;
  head: HeadModel;
  ood?: OutOfDomainModel;
  /** The backbone this version's head was trained on. */
  embedder: Embedder;
}

export interface PredictorOptions {
  /** How long a read of the current pointer is trusted; 0 reads it on every request. */
  pointerTtlMs?: number;
  /**
   * Loads another backbone by catalogue name for versions trained on one (the local runtime can;
   * a Lambda ships one backbone and answers such versions with 409 backbone_mismatch).
   */
  embedderFor?: (backboneName: string) => Promise<Embedder>;
  topK?: number;
  /**
   * Versions kept loaded, least recently used evicted (a head session plus its out-of-domain
   * reference, about 10 MB each). Default 8.
   */
  maxModels?: number;
}

export class Predictor {
  private readonly registry: ModelRegistry;
  private readonly models: ServedVersions<LoadedModel>;
  private readonly pointers = new Map<string, { version: string; readAt: number }>();

  constructor(
    store: ObjectStore,
    private readonly embedder: Embedder,
    private readonly options: PredictorOptions = {},
  ) {
    this.registry = new ModelRegistry(store);
    this.models = new ServedVersions((dataset, version) => this.load(dataset, version), (m) => m.head.release(), options.maxModels ?? DEFAULT_MAX_MODELS);
  }

  /** The version currently served for a dataset (ModelNotFoundError when it has none). */
  async currentVersion(dataset: string): Promise<string> {
    const ttl = this.options.pointerTtlMs ?? 0;
    const cached = this.pointers.get(dataset);
    if (cached !== undefined && Date.now() - cached.readAt < ttl) return cached.version;
    const pointer = await this.registry.pointer(dataset);
    if (pointer === undefined) {
      throw new ModelNotFoundError(`dataset "${dataset}" has no trained model yet; train it first`, { context: { dataset } });
    }
    this.pointers.set(dataset, { version: pointer.version, readAt: Date.now() });
    return pointer.version;
  }

  /** Versions loaded now (bounded by maxModels). */
  get loadedVersions(): number {
    return this.models.size;
  }

  /** Loads (once) and returns a version's head, refusing heads made for another backbone. */
  model(dataset: string, version: string): Promise<LoadedModel> {
    return this.models.get(dataset, version);
  }

  private async load(dataset: string, version: string): Promise<LoadedModel> {
    const manifest = await this.registry.manifest(dataset, version);
    if (manifest.modality === 'text') {
      throw new BadRequestError(`dataset "${dataset}" holds a text model (${version}): send text (text/plain or JSON {"text": "..."}), not an image`, 'modality_mismatch', 415, { context: { dataset, version } });
    }
    let embedder = this.embedder;
    if (manifest.backbone.id !== embedder.id && this.options.embedderFor) embedder = await this.options.embedderFor(manifest.backbone.name);
    if (manifest.backbone.id !== embedder.id) {
      throw new BackboneMismatchError(
        `model ${dataset}/${version} was trained on backbone ${manifest.backbone.id}, but this server runs ${this.embedder.id}`,
        { context: { dataset, version, modelBackbone: manifest.backbone.id, servedBackbone: this.embedder.id } },
      );
    }
    const head = await HeadModel.load(await this.registry.file(dataset, version, manifest.files.head));
    const ood = manifest.outOfDomain
      ? decodeOutOfDomain(manifest.outOfDomain, await this.registry.file(dataset, version, manifest.outOfDomain.reference.file))
      : undefined;
    return { manifest, head, embedder, ...(ood ? { ood } : {}) };
  }

  /**
   * Predicts each image with the dataset's current version (or the version given). A bad image
   * yields its InvalidImageError in its slot; the others are still answered.
   */
  async predict(dataset: string, images: Uint8Array[], version?: string): Promise<Array<Prediction | InvalidImageError>> {
    const chosen = version ?? (await this.currentVersion(dataset));
    const { manifest, head, ood, embedder } = await this.model(dataset, chosen);
    const embedded = await embedder.embedImages(images);
    const good = embedded.filter((e): e is Float32Array => e instanceof Float32Array);
    const probabilities = good.length > 0 ? await head.predict(good) : new Float32Array(0);
    const domain = ood && good.length > 0 ? scoreOutOfDomain(ood, good) : undefined;
    const k = manifest.labels.length;
    let row = 0;
    return embedded.map((e) => {
      // Image versions run on image backbones only (text versions are refused in load), so a refusal here is an image's.
      if (!(e instanceof Float32Array)) return e as InvalidImageError;
      const p = probabilities.subarray(row * k, (row + 1) * k);
      const d = domain?.[row];
      row++;
      const prediction = toPrediction(p, manifest.labels, chosen, this.options.topK ?? 5);
      return d ? { ...prediction, outOfDomain: d.outOfDomain, oodScore: d.score } : prediction;
    });
  }
}

export function toPrediction(probabilities: Float32Array, labels: readonly string[], version: string, topK: number): Prediction {
  const ranked = labels.map((label, i) => ({ label, probability: probabilities[i] ?? 0 })).sort((a, b) => b.probability - a.probability);
  const best = ranked[0] ?? { label: '', probability: 0 };
  return { label: best.label, probability: best.probability, top: ranked.slice(0, Math.min(topK, ranked.length)), model: version };
}
