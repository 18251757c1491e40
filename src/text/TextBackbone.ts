/**
 * A loaded text encoder: a tokenizer plus one onnxruntime session over a BERT-family graph
 * (input_ids / attention_mask / token_type_ids -> last_hidden_state). An embedding is the mean of
 * the token vectors over the attention mask, L2-normalised, as sentence-transformers computes it.
 *
 * Texts are run in batches grouped by token length: padding a 10-token inquiry to the 256 tokens of
 * the longest text in a random batch would cost 25 times the work. The attention mask makes padding
 * invisible to the result, so an embedding is the same batched or alone (tested to 1e-5).
 */
import { readFile } from 'node:fs/promises';
import { int64, OnnxSession, type Device } from '../backend/onnx.js';
import { type TextBackboneSpec } from '../backbone/catalogue.js';
import { InferenceError, InvalidTextError } from '../errors.js';
import { TextTokenizer, type TokenizedText } from './tokenizer.js';
import { resolveTextBackbone, type ResolvedTextBackbone, type TextBackboneLocation } from './resolveTextBackbone.js';
import { tryDecodeText } from './validateText.js';

export interface TextBackboneLoadOptions extends TextBackboneLocation {
  device?: Device;
  /** Texts per onnxruntime run. */
  batchSize?: number;
  intraOpThreads?: number;
}

const INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;

export class TextBackbone {
  readonly id: string;
  readonly embeddingSize: number;
  readonly modality = 'text' as const;

  private constructor(
    readonly spec: TextBackboneSpec,
    readonly resolved: ResolvedTextBackbone,
    readonly tokenizer: TextTokenizer,
    private readonly session: OnnxSession,
    private readonly batchSize: number,
  ) {
    this.id = resolved.id;
    this.embeddingSize = spec.embeddingSize;
  }

  /** Resolves and sha256-checks both files, parses the tokenizer, opens one session and checks its interface. */
  static async load(specOrName: TextBackboneSpec | string, options: TextBackboneLoadOptions = {}): Promise<TextBackbone> {
    const resolved = await resolveTextBackbone(specOrName, options);
    const { spec } = resolved;
    const tokenizer = TextTokenizer.fromJson(await readFile(resolved.tokenizerPath, 'utf8'), { maxTokens: spec.preprocessing.maxTokens });
    const session = await OnnxSession.create(resolved.modelPath, { device: options.device ?? 'cpu', ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}) });
    const problem = interfaceProblem(session, spec);
    if (problem) {
      await session.release();
      throw new InferenceError(`text backbone "${spec.name}": ${problem}`, { context: { backbone: spec.name, path: resolved.modelPath } });
    }
    return new TextBackbone(spec, resolved, tokenizer, session, options.batchSize ?? 32);
  }

  /** The facts a head or an embedding record keeps about the encoder that made its inputs. */
  get ref(): { id: string; name: string; sha256: string; embeddingSize: number } {
    return { id: this.id, name: this.spec.name, sha256: this.spec.sha256, embeddingSize: this.embeddingSize };
  }

  get device(): Device {
    return this.session.device;
  }

  tokenize(text: string): TokenizedText {
    return this.tokenizer.encode(text);
  }

  /** Texts (already validated) -> L2-normalised embeddings, in input order. */
  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    const tokenized = texts.map((t) => this.tokenizer.encode(t));
    // Shortest first, so each batch pads to a length close to all of its texts'.
    const order = tokenized.map((t, i) => ({ i, n: t.ids.length })).sort((a, b) => a.n - b.n || a.i - b.i);
    const out = new Array<Float32Array>(texts.length);
    for (let start = 0; start < order.length; start += this.batchSize) {
      const chunk = order.slice(start, start + this.batchSize);
      const vectors = await this.runBatch(chunk.map((c) => tokenized[c.i] as TokenizedText));
      chunk.forEach((c, k) => (out[c.i] = vectors[k] as Float32Array));
    }
    return out;
  }

  /** UTF-8 bytes of text objects -> embeddings; a text that cannot be used gets its {@link InvalidTextError} in its slot. */
  async embedTextBytes(objects: readonly Uint8Array[]): Promise<Array<Float32Array | InvalidTextError>> {
    const decoded = objects.map((bytes) => tryDecodeText(bytes));
    const good = decoded.flatMap((d, i) => (typeof d === 'string' ? [{ i, text: d }] : []));
    const vectors = await this.embedTexts(good.map((g) => g.text));
    const results: Array<Float32Array | InvalidTextError> = decoded.map((d) => (typeof d === 'string' ? new Float32Array(0) : d));
    good.forEach((g, k) => (results[g.i] = vectors[k] as Float32Array));
    return results;
  }

  /** The width of the encoder's token vectors, from one run on a short text (for registering an encoder). */
  async probeWidth(): Promise<number> {
    const t = this.tokenizer.encode('hello');
    const dims = [1, t.ids.length];
    const ids = BigInt64Array.from(t.ids, (v) => BigInt(v));
    const result = (await this.session.run({ input_ids: int64(ids, dims), attention_mask: int64(new BigInt64Array(t.ids.length).fill(1n), dims), token_type_ids: int64(new BigInt64Array(t.ids.length), dims) }, [this.spec.output]))[this.spec.output];
    if (!result || result.dims.length !== 3 || !(result.data instanceof Float32Array)) {
      throw new InferenceError(`text backbone "${this.spec.name}": ${this.spec.output} is ${result ? `${result.type}[${result.dims.join(',')}]` : 'missing'}; expected float32 [batch, tokens, width]`);
    }
    return result.dims[2] as number;
  }

  private async runBatch(batch: readonly TokenizedText[]): Promise<Float32Array[]> {
    const rows = batch.length;
    const width = Math.max(...batch.map((t) => t.ids.length));
    const ids = new BigInt64Array(rows * width).fill(BigInt(this.tokenizer.padId));
    const mask = new BigInt64Array(rows * width);
    const types = new BigInt64Array(rows * width);
    batch.forEach((t, r) => {
      t.ids.forEach((id, j) => {
        ids[r * width + j] = BigInt(id);
        mask[r * width + j] = 1n;
        types[r * width + j] = BigInt(t.typeIds[j] ?? 0);
      });
    });
    const dims = [rows, width];
    const output = this.spec.output;
    const result = (await this.session.run({ input_ids: int64(ids, dims), attention_mask: int64(mask, dims), token_type_ids: int64(types, dims) }, [output]))[output];
    const size = this.embeddingSize;
    if (!result || !(result.data instanceof Float32Array) || result.dims.length !== 3 || result.dims[0] !== rows || result.dims[1] !== width || result.dims[2] !== size) {
      throw new InferenceError(`text backbone "${this.spec.name}" returned ${result ? `${result.type}[${result.dims.join(',')}]` : 'nothing'} for ${output}; expected float32[${rows},${width},${size}]`);
    }
    return batch.map((t, r) => meanPoolNormalized(result.data as Float32Array, r, width, size, t.ids.length));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Mean of row r's first `tokens` token vectors (those the attention mask keeps: padding is always
 * at the end), then divided by its L2 norm. Summed in float64 so the order of the batch cannot
 * change the result beyond float32 rounding.
 */
export function meanPoolNormalized(hidden: Float32Array, r: number, width: number, size: number, tokens: number): Float32Array {
  const sum = new Float64Array(size);
  for (let j = 0; j < tokens; j++) {
    const base = (r * width + j) * size;
    for (let k = 0; k < size; k++) sum[k] = (sum[k] as number) + (hidden[base + k] as number);
  }
  let norm = 0;
  for (let k = 0; k < size; k++) {
    sum[k] = (sum[k] as number) / tokens;
    norm += (sum[k] as number) ** 2;
  }
  norm = Math.sqrt(norm);
  const out = new Float32Array(size);
  for (let k = 0; k < size; k++) out[k] = norm > 0 ? (sum[k] as number) / norm : 0;
  return out;
}

function interfaceProblem(session: OnnxSession, spec: TextBackboneSpec): string | undefined {
  const missing = INPUTS.filter((name) => !session.inputNames.includes(name));
  // Some exports drop token_type_ids; we require all three because we always feed them.
  if (missing.length > 0) return `the model lacks input ${missing.join(', ')} (inputs: ${session.inputNames.join(', ')}); a BERT-family encoder takes ${INPUTS.join(', ')}`;
  const extra = session.inputNames.filter((name) => !(INPUTS as readonly string[]).includes(name));
  if (extra.length > 0) return `the model takes inputs headstart cannot feed: ${extra.join(', ')}`;
  if (!session.outputNames.includes(spec.output)) return `the model has no output "${spec.output}" (outputs: ${session.outputNames.join(', ')})`;
  return undefined;
}
