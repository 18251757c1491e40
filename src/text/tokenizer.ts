/**
 * A BERT-family tokenizer from its `tokenizer.json`, through @huggingface/tokenizers (a pure JS
 * port of the Rust tokenizers; it reproduced the Rust ids on every test text we have). That library
 * does not truncate, so this module does: to the model's token limit, keeping the closing [SEP],
 * as the Rust tokenizer and sentence-transformers do.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { HeadstartError } from '../errors.js';

export interface TokenizedText {
  /** Token ids, [CLS] ... [SEP], at most maxTokens long. */
  ids: number[];
  /** Segment ids (all 0 for a single text). */
  typeIds: number[];
  /** True when the text had more tokens than the limit. */
  truncated: boolean;
}

export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Token limit of the encoder (sentence-transformers' max_seq_length, 256 for MiniLM). */
    readonly maxTokens: number,
    readonly padId: number,
  ) {}

  /**
   * Parses a tokenizer.json. `config` is the optional tokenizer_config.json; the ids do not depend
   * on it for BERT WordPiece tokenizers (normalisation and special tokens live in tokenizer.json).
   */
  static fromJson(json: string | object, options: { maxTokens: number; config?: object }): TextTokenizer {
    let parsed: unknown;
    try {
      parsed = typeof json === 'string' ? JSON.parse(json) : json;
    } catch (error) {
      throw new HeadstartError(`tokenizer.json is not valid JSON: ${(error as Error).message}`, 'invalid_tokenizer', 400, { cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || !('model' in parsed)) {
      throw new HeadstartError('tokenizer.json has no "model" section: is it a Hugging Face tokenizers file?', 'invalid_tokenizer', 400);
    }
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 2) {
      throw new HeadstartError(`token limit must be an integer >= 2, got ${options.maxTokens}`, 'invalid_tokenizer', 400);
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(parsed, options.config ?? {});
    } catch (error) {
      throw new HeadstartError(`tokenizer.json could not be loaded: ${(error as Error).message}`, 'invalid_tokenizer', 400, { cause: error });
    }
    const padId = tokenizer.token_to_id('[PAD]') ?? 0;
    return new TextTokenizer(tokenizer, options.maxTokens, padId);
  }

  encode(text: string): TokenizedText {
    const encoding = tokenizer_encode(this.tokenizer, text);
    const { ids, typeIds } = encoding;
    if (ids.length <= this.maxTokens) return { ids, typeIds, truncated: false };
    // Keep the first maxTokens-1 tokens and the last one ([SEP]): the encoder was trained on
    // sequences that end with it, and mean pooling counts it like any other token.
    const keep = this.maxTokens - 1;
    return {
      ids: [...ids.slice(0, keep), ids[ids.length - 1] as number],
      typeIds: [...typeIds.slice(0, keep), typeIds[typeIds.length - 1] as number],
      truncated: true,
    };
  }
}

function tokenizer_encode(tokenizer: Tokenizer, text: string): { ids: number[]; typeIds: number[] } {
  const encoding = tokenizer.encode(text, { return_token_type_ids: true });
  return { ids: encoding.ids, typeIds: encoding.token_type_ids ?? encoding.ids.map(() => 0) };
}
