/**
 * A loaded backbone: one onnxruntime session plus the preprocessing from its catalogue entry.
 * Loading (hash check, optional graph surgery, session creation) is the expensive part, so
 * callers keep the instance; embedding and classifying reuse its single session.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { float32, OnnxSession, type Device } from '../backend/onnx.js';
import { sha256Hex } from '../dataset/keys.js';
import { BackboneMissingError, BadRequestError, HeadstartError, InferenceError, InvalidImageError } from '../errors.js';
import { preprocess, preprocessInto, validatePreprocessSpec } from '../image/preprocess.js';
import { mapLimit } from '../util/mapLimit.js';
import { DEFAULT_LIMITS, type ImageLimits } from '../image/validate.js';
import { addEmbeddingOutput } from './addEmbeddingOutput.js';
import { DEFAULT_BACKBONE, type BackboneSpec } from './catalogue.js';
import { resolveBackbone, type BackboneLocation, type ResolvedBackbone } from './resolveBackbone.js';

export interface BackboneLoadOptions extends BackboneLocation {
  device?: Device;
  /** Images per onnxruntime run; bounds memory (32 x 3x224x224 float32 = 19 MB of input). */
  batchSize?: number;
  /**
   * Images per onnxruntime run in `embedImages`, where the next group decodes while the backbone
   * runs this one: small enough that a short call still overlaps, large enough to batch well.
   */
  pipelineBatchSize?: number;
  /** Images decoded at once by `embedImages` (each decode is one libvips thread). */
  decodeConcurrency?: number;
  limits?: ImageLimits;
  /** onnxruntime threads per operator; default {@link defaultIntraOpThreads}. */
  intraOpThreads?: number;
}

/**
 * Measured with bench/extract.ts on the 2-core dev machine (hymenoptera JPEGs, fashion_mnist PNGs):
 * groups of 8 images with 4 decodes in flight kept both cores busy while onnxruntime ran the
 * previous group; larger groups overlapped less of a 16-image extract call.
 */
export const DEFAULT_PIPELINE_BATCH = 8;
export const DEFAULT_DECODE_CONCURRENCY = 4;

/**
 * One onnxruntime thread per CPU the process may use: 2 on the dev machine and CI, 1 on a
 * 1,769 MB (one vCPU) Lambda, where more threads would only take turns. onnxruntime's own default
 * counts physical cores, which is 1 on a 2-vCPU (hyper-threaded) VM.
 */
export function defaultIntraOpThreads(): number {
  return Math.max(1, os.availableParallelism());
}

export interface Classification {
  label: string;
  index: number;
  probability: number;
}

/** Name of the output the session is asked for when embedding. */
export const ADDED_OUTPUT = 'embedding';

function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp((logits[i] as number) - max);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

export class Backbone {
  readonly id: string;
  readonly embeddingSize: number;
  private readonly inputLength: number;

  private constructor(
    readonly spec: BackboneSpec,
    private readonly resolved: ResolvedBackbone,
    private readonly session: OnnxSession,
    /** Graph output holding the embedding (`embedding` after surgery for feature-tensor backbones). */
    readonly embeddingOutput: string,
    /** The surgered graph, for feature-tensor backbones; undefined when the file is used as is. */
    private readonly surgeredModel: Uint8Array | undefined,
    private readonly labels: readonly string[] | undefined,
    private readonly options: Required<Pick<BackboneLoadOptions, 'batchSize' | 'pipelineBatchSize' | 'decodeConcurrency' | 'limits'>>,
  ) {
    this.id = resolved.id;
    this.embeddingSize = spec.embeddingSize;
    this.inputLength = spec.inputShape[0] * spec.inputShape[1] * spec.inputShape[2];
  }

  /** Resolves (and sha256-checks) the model file, applies the embedding surgery if the spec asks, opens one session. */
  static async load(specOrName: BackboneSpec | string = DEFAULT_BACKBONE, options: BackboneLoadOptions = {}): Promise<Backbone> {
    const resolved = await resolveBackbone(specOrName, options);
    const { spec } = resolved;
    if (spec.preprocessing.crop !== spec.inputShape[1] || spec.preprocessing.crop !== spec.inputShape[2]) {
      throw new HeadstartError(
        `backbone "${spec.name}": preprocessing crops ${spec.preprocessing.crop}px but the input is ${spec.inputShape.join('x')}`,
        'invalid_backbone_entry',
      );
    }

    let model: string | Uint8Array = resolved.modelPath;
    let embeddingOutput: string;
    if ('output' in spec.embedding) {
      embeddingOutput = spec.embedding.output;
    } else {
      model = addEmbeddingOutput(await readFile(resolved.modelPath), spec.embedding.featureTensor, { outputName: ADDED_OUTPUT, channels: spec.embeddingSize });
      embeddingOutput = ADDED_OUTPUT;
    }
    // Spinning off: in embedImages the next images decode while a run is under way, on the same cores.
    const session = await OnnxSession.create(model, { device: options.device ?? 'cpu', intraOpThreads: options.intraOpThreads ?? defaultIntraOpThreads(), allowSpinning: false });
    for (const name of [embeddingOutput, ...(spec.classifierOutput ? [spec.classifierOutput] : [])]) {
      if (!session.outputNames.includes(name)) {
        await session.release();
        throw new HeadstartError(`backbone "${spec.name}" has no output "${name}" (outputs: ${session.outputNames.join(', ')})`, 'invalid_backbone_entry');
      }
    }
    if (!session.inputNames.includes(spec.inputName)) {
      await session.release();
      throw new HeadstartError(`backbone "${spec.name}" has no input "${spec.inputName}" (inputs: ${session.inputNames.join(', ')})`, 'invalid_backbone_entry');
    }

    const labels = resolved.labelsPath
      ? (await readFile(resolved.labelsPath, 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0)
      : undefined;
    return new Backbone(spec, resolved, session, embeddingOutput, typeof model === 'string' ? undefined : model, labels, {
      batchSize: options.batchSize ?? 32,
      pipelineBatchSize: options.pipelineBatchSize ?? DEFAULT_PIPELINE_BATCH,
      limits: options.limits ?? DEFAULT_LIMITS,
      decodeConcurrency: options.decodeConcurrency ?? DEFAULT_DECODE_CONCURRENCY,
    });
  }

  /** The facts a head or an embedding record keeps about the backbone that made its inputs. */
  get ref(): { id: string; name: string; sha256: string; embeddingSize: number } {
    return { id: this.id, name: this.spec.name, sha256: this.spec.sha256, embeddingSize: this.embeddingSize };
  }

  /**
   * The ONNX graph this backbone runs, with its embedding output (e.g. to fuse with a head into a
   * standalone model). Read again from disk for file-as-is backbones and checked against the
   * pinned sha256, so the bytes always belong to {@link id}.
   */
  async modelBytes(): Promise<Uint8Array> {
    if (this.surgeredModel) return this.surgeredModel;
    const bytes = await readFile(this.resolved.modelPath);
    const sha256 = sha256Hex(bytes);
    if (sha256 !== this.spec.sha256) {
      throw new BackboneMissingError(`backbone file ${this.resolved.modelPath} changed since it was loaded (sha256 ${sha256}, expected ${this.spec.sha256})`, {
        context: { backbone: this.spec.name, path: this.resolved.modelPath },
      });
    }
    return bytes;
  }

  get device(): Device {
    return this.session.device;
  }

  /** Can {@link classify} run: a logits output and a labels file were found. */
  get canClassify(): boolean {
    return this.spec.classifierOutput !== undefined && this.labels !== undefined;
  }

  private async runBatch(inputs: readonly Float32Array[], output: string): Promise<Float32Array[]> {
    const batch = new Float32Array(inputs.length * this.inputLength);
    inputs.forEach((x, i) => batch.set(x, i * this.inputLength));
    return this.runTensor(batch, inputs.length, output);
  }

  /** Runs `count` images laid out in `batch` (count x 3 x H x W); one run at a time per session. */
  private runTensor(batch: Float32Array, count: number, output: string): Promise<Float32Array[]> {
    const run = this.lane.then(async () => {
      const [, h, w] = this.spec.inputShape;
      const data = batch.length === count * this.inputLength ? batch : batch.subarray(0, count * this.inputLength);
      const result = (await this.session.run({ [this.spec.inputName]: float32(data, [count, 3, h, w]) }, [output]))[output];
      const width = result ? result.data.length / count : 0;
      if (!result || !(result.data instanceof Float32Array) || result.dims[0] !== count || !Number.isInteger(width)) {
        throw new InferenceError(`backbone "${this.spec.name}" returned ${result ? `${result.type}[${result.dims.join(',')}]` : 'nothing'} for ${output}`, {
          context: { batch: count },
        });
      }
      // Copies, so each row owns its buffer (callers store them independently).
      return Array.from({ length: count }, (_, i) => (result.data as Float32Array).slice(i * width, (i + 1) * width));
    });
    // Concurrent callers queue behind this run instead of sharing the cores with it.
    this.lane = run.then(() => undefined, () => undefined);
    return run;
  }

  /** The session's queue of runs: one at a time, so concurrent callers never oversubscribe the cores. */
  private lane: Promise<void> = Promise.resolve();

  private checkEmbeddingWidth(row: Float32Array): Float32Array {
    if (row.length !== this.embeddingSize) {
      throw new InferenceError(`backbone "${this.spec.name}" made embeddings of ${row.length} values; its catalogue entry says ${this.embeddingSize}`);
    }
    return row;
  }

  /**
   * Preprocessed images (each CHW float32 of 3*H*W, from {@link preprocess} with this backbone's
   * spec) -> embeddings, in order, run in chunks of `batchSize`.
   */
  async embed(batch: readonly Float32Array[]): Promise<Float32Array[]> {
    batch.forEach((x, i) => {
      if (x.length !== this.inputLength) {
        throw new BadRequestError(`input ${i} has ${x.length} values; backbone "${this.spec.name}" takes ${this.inputLength} (${this.spec.inputShape.join('x')})`, 'bad_input_shape');
      }
    });
    const out: Float32Array[] = [];
    for (let start = 0; start < batch.length; start += this.options.batchSize) {
      const rows = await this.runBatch(batch.slice(start, start + this.options.batchSize), this.embeddingOutput);
      for (const row of rows) out.push(this.checkEmbeddingWidth(row));
    }
    return out;
  }

  /**
   * Decodes images[start, start+count) straight into one batch tensor, `decodeConcurrency` at a
   * time. Images that cannot be used leave their error in `errors`; the good ones are packed to
   * the front, in order, so the run covers only them.
   */
  private async decodeGroup(images: readonly Uint8Array[], start: number, count: number): Promise<{ tensor: Float32Array; good: number[]; errors: Map<number, InvalidImageError> }> {
    const L = this.inputLength;
    const tensor = new Float32Array(count * L);
    const errors = new Map<number, InvalidImageError>();
    await mapLimit(Array.from({ length: count }, (_, k) => k), this.options.decodeConcurrency, async (k) => {
      try {
        await preprocessInto(images[start + k] as Uint8Array, this.spec.preprocessing, tensor, k * L, this.options.limits);
      } catch (error) {
        if (!(error instanceof InvalidImageError)) throw error;
        errors.set(start + k, error);
      }
    });
    const good: number[] = [];
    for (let k = 0; k < count; k++) {
      if (errors.has(start + k)) continue;
      if (good.length !== k) tensor.copyWithin(good.length * L, k * L, (k + 1) * L);
      good.push(start + k);
    }
    return { tensor, good, errors };
  }

  /** Image bytes -> embeddings; an image that cannot be used gets its {@link InvalidImageError} in its slot. */
  async embedImages(images: readonly Uint8Array[]): Promise<Array<Float32Array | InvalidImageError>> {
    validatePreprocessSpec(this.spec.preprocessing);
    const results = new Array<Float32Array | InvalidImageError>(images.length);
    const group = this.options.pipelineBatchSize;
    const decode = (start: number): Promise<Awaited<ReturnType<Backbone['decodeGroup']>>> | undefined => {
      if (start >= images.length) return undefined;
      const decoding = this.decodeGroup(images, start, Math.min(group, images.length - start));
      // Awaited below; this only keeps a failure from counting as unhandled while a run is under way.
      decoding.catch(() => undefined);
      return decoding;
    };
    // A pipeline of two stages: group k+1 decodes (sharp, libuv threads) while onnxruntime runs group k.
    let next = decode(0);
    for (let start = 0; next; start += group) {
      const { tensor, good, errors } = await next;
      next = decode(start + group);
      for (const [i, error] of errors) results[i] = error;
      if (good.length === 0) continue;
      const rows = await this.runTensor(tensor, good.length, this.embeddingOutput);
      good.forEach((i, k) => (results[i] = this.checkEmbeddingWidth(rows[k] as Float32Array)));
    }
    return results;
  }

  /** ImageNet (or whatever the labels file holds) top-k for one image: softmax of the classifier output. */
  async classify(bytes: Uint8Array, topK = 5): Promise<Classification[]> {
    const output = this.spec.classifierOutput;
    if (!output || !this.labels) {
      throw new BadRequestError(`backbone "${this.spec.name}" cannot classify: it has ${output ? 'no labels file' : 'no classifier output'}`, 'cannot_classify');
    }
    const x = await preprocess(bytes, this.spec.preprocessing, this.options.limits);
    const [logits] = await this.runBatch([x], output);
    if (!logits || logits.length !== this.labels.length) {
      throw new InferenceError(`backbone "${this.spec.name}" has ${logits?.length ?? 0} classes but ${this.labels.length} labels`);
    }
    const probabilities = softmax(logits);
    return Array.from(probabilities, (probability, index) => ({ label: this.labels![index] as string, index, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, Math.max(0, topK));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
