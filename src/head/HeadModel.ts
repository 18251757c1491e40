/**
 * A loaded head.onnx: raw backbone embeddings in, class probabilities out. The labels and the
 * backbone id come from the file's own metadata, so a head cannot be separated from them.
 */
import { OnnxSession, float32, type Device } from '../backend/onnx.js';
import { BackboneMismatchError, InferenceError } from '../errors.js';
import { decodeModel } from '../onnx/graph.js';
import { HEAD_INPUT, HEAD_METADATA, HEAD_OUTPUT } from './headFormat.js';
import type { HeadKind } from '../training/types.js';

export interface HeadModelOptions {
  device?: Device;
}

interface HeadDescription {
  labels: string[];
  backboneId: string;
  kind: HeadKind;
  embeddingSize: number;
}

function describe(bytes: Uint8Array): HeadDescription {
  let model;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new InferenceError(`head is not a readable ONNX model: ${(error as Error).message}`, { cause: error });
  }
  const meta = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const missing = Object.values(HEAD_METADATA).filter((key) => !meta.has(key));
  if (missing.length > 0) throw new InferenceError(`head.onnx lacks metadata ${missing.join(', ')}: not a headstart head`, { context: { missing } });
  let labels: unknown;
  try {
    labels = JSON.parse(meta.get(HEAD_METADATA.labels) as string);
  } catch (error) {
    throw new InferenceError('head.onnx labels metadata is not JSON', { cause: error });
  }
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw new InferenceError('head.onnx labels metadata is not a list of strings');
  const input = model.graph?.input?.find((i) => i.name === HEAD_INPUT);
  const embeddingSize = Number(input?.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? 0);
  if (!(embeddingSize > 0)) throw new InferenceError(`head.onnx has no input "${HEAD_INPUT}" with a fixed width`);
  const kind = meta.get(HEAD_METADATA.kind);
  if (kind !== 'linear' && kind !== 'mlp') throw new InferenceError(`head.onnx has unknown head kind ${JSON.stringify(kind)}`);
  return { labels: labels as string[], backboneId: meta.get(HEAD_METADATA.backboneId) as string, kind, embeddingSize };
}

export class HeadModel {
  private constructor(
    private readonly session: OnnxSession,
    private readonly description: HeadDescription,
  ) {}

  static async load(bytes: Uint8Array, options: HeadModelOptions = {}): Promise<HeadModel> {
    const description = describe(bytes);
    return new HeadModel(await OnnxSession.create(bytes, { device: options.device ?? 'cpu' }), description);
  }

  /** Class names, index = probability column. */
  get labels(): readonly string[] {
    return this.description.labels;
  }

  get backboneId(): string {
    return this.description.backboneId;
  }

  get kind(): HeadKind {
    return this.description.kind;
  }

  get embeddingSize(): number {
    return this.description.embeddingSize;
  }

  /**
   * Probabilities, row-major [N, K], for N embeddings given one array each or as one row-major
   * [N, D] array.
   */
  async predict(embeddings: readonly Float32Array[] | Float32Array): Promise<Float32Array> {
    const d = this.embeddingSize;
    const wrongWidth = (got: number): never => {
      throw new BackboneMismatchError(`embedding has ${got} values, but this head expects ${d} (it was trained on backbone ${this.backboneId})`, {
        context: { expected: d, got, backbone: this.backboneId },
      });
    };
    let flat: Float32Array;
    if (embeddings instanceof Float32Array) {
      if (embeddings.length % d !== 0) wrongWidth(embeddings.length);
      flat = embeddings;
    } else {
      flat = new Float32Array(embeddings.length * d);
      embeddings.forEach((e, i) => {
        if (e.length !== d) wrongWidth(e.length);
        flat.set(e, i * d);
      });
    }
    const rows = flat.length / d;
    if (rows === 0) return new Float32Array(0);
    const out = await this.session.run({ [HEAD_INPUT]: float32(flat, [rows, d]) }, [HEAD_OUTPUT]);
    return out[HEAD_OUTPUT]?.data as Float32Array;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
