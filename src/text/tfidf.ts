/**
 * The no-transfer baseline for text: TF-IDF of word 1-2-grams and character 2-5-grams, fitted on
 * the training texts. It is what the verdict compares a pretrained encoder with, and a model
 * headstart can serve when it wins, so a fitted featuriser serialises into the model version.
 *
 * The analysers follow scikit-learn's TfidfVectorizer, which the benchmark compares with:
 * - words: lower-cased, tokens of two or more word characters (`\b\w\w+\b`, Unicode), 1- and 2-grams;
 * - characters ("char_wb"): lower-cased, each whitespace-separated word padded with one space on
 *   either side, its 2- to 5-grams (a word shorter than n gives itself once). Character n-grams are
 *   what make the baseline work for languages written without spaces (Japanese);
 * - idf = ln((1 + n) / (1 + df)) + 1, raw counts times idf, each block L2-normalised; the two
 *   blocks are concatenated and scaled by 1/sqrt(2) so every row has unit norm.
 */
import { HeadstartError } from '../errors.js';

/** One featurised text: sorted feature indices and their values. */
export interface SparseRow {
  indices: Int32Array;
  values: Float32Array;
}

export interface TfidfOptions {
  /** Keep n-grams seen in at least this many training texts (1 keeps all, as scikit-learn's default). */
  minDf?: number;
  wordNgrams?: readonly [number, number];
  charNgrams?: readonly [number, number];
}

/** What a model version stores to featurise texts exactly as at training time. */
export interface TfidfState {
  kind: 'tfidf';
  version: 1;
  wordNgrams: [number, number];
  charNgrams: [number, number];
  minDf: number;
  /** Feature names, words first ("w:" prefix) then characters ("c:"); index = feature index. */
  features: string[];
  idf: number[];
}

/** Python's `\b\w\w+\b` over Unicode: maximal runs of two or more letters, digits or underscores (JS `\w` is ASCII-only). */
const WORD = /[\p{L}\p{N}_]{2,}/gu;

export function wordNgrams(text: string, [lo, hi]: readonly [number, number]): string[] {
  const tokens = text.toLowerCase().match(WORD) ?? [];
  const out: string[] = [];
  for (let n = lo; n <= hi; n++) {
    for (let i = 0; i + n <= tokens.length; i++) out.push(n === 1 ? (tokens[i] as string) : tokens.slice(i, i + n).join(' '));
  }
  return out;
}

export function charWbNgrams(text: string, [lo, hi]: readonly [number, number]): string[] {
  const out: string[] = [];
  for (const word of text.toLowerCase().split(/\s+/u)) {
    if (word.length === 0) continue;
    // Code points, not UTF-16 units: an emoji or a rare kanji is one character, as in Python.
    const padded = [' ', ...word, ' '];
    for (let n = lo; n <= hi; n++) {
      if (padded.length <= n) {
        // As scikit-learn: a padded word no longer than n is itself one n-gram, and ends this word.
        out.push(padded.join(''));
        break;
      }
      for (let i = 0; i + n <= padded.length; i++) out.push(padded.slice(i, i + n).join(''));
    }
  }
  return out;
}

function analyze(text: string, words: readonly [number, number], chars: readonly [number, number]): { words: string[]; chars: string[] } {
  return { words: wordNgrams(text, words), chars: charWbNgrams(text, chars) };
}

function counts(grams: readonly string[], prefix: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const g of grams) {
    const feature = prefix + g;
    m.set(feature, (m.get(feature) ?? 0) + 1);
  }
  return m;
}

/** A text's n-gram counts, words and characters apart (each block is normalised on its own), keyed as features ("w:", "c:"). */
export interface NgramCounts {
  words: ReadonlyMap<string, number>;
  chars: ReadonlyMap<string, number>;
}

export class TfidfFeaturizer {
  private readonly index: Map<string, number>;
  readonly wordFeatures: number;

  private constructor(private readonly state: TfidfState) {
    this.index = new Map(state.features.map((f, i) => [f, i]));
    this.wordFeatures = state.features.findIndex((f) => f.startsWith('c:'));
    if (this.wordFeatures < 0) this.wordFeatures = state.features.length;
  }

  /** Learns the vocabulary and idf from the training texts. */
  static fit(texts: readonly string[], options: TfidfOptions = {}): TfidfFeaturizer {
    const words = [...(options.wordNgrams ?? [1, 2])] as [number, number];
    const chars = [...(options.charNgrams ?? [2, 5])] as [number, number];
    const minDf = options.minDf ?? 1;
    if (texts.length === 0) throw new HeadstartError('TF-IDF needs at least one training text', 'training_data', 422);
    const df = new Map<string, number>();
    for (const text of texts) {
      const { words: w, chars: c } = analyze(text, words, chars);
      for (const g of new Set(w)) df.set(`w:${g}`, (df.get(`w:${g}`) ?? 0) + 1);
      for (const g of new Set(c)) df.set(`c:${g}`, (df.get(`c:${g}`) ?? 0) + 1);
    }
    // Sorted, so the same texts always give the same feature order (and the same model bytes).
    const kept = [...df.entries()].filter(([, n]) => n >= minDf).map(([f]) => f);
    const wordsFirst = [...kept.filter((f) => f.startsWith('w:')).sort(), ...kept.filter((f) => f.startsWith('c:')).sort()];
    const n = texts.length;
    const idf = wordsFirst.map((f) => Math.log((1 + n) / (1 + (df.get(f) as number))) + 1);
    return new TfidfFeaturizer({ kind: 'tfidf', version: 1, wordNgrams: words, charNgrams: chars, minDf, features: wordsFirst, idf });
  }

  static fromState(state: TfidfState): TfidfFeaturizer {
    if (state.kind !== 'tfidf' || state.version !== 1 || state.features.length !== state.idf.length) {
      throw new HeadstartError('TF-IDF state is malformed (kind, version or feature/idf lengths)', 'invalid_model', 500);
    }
    return new TfidfFeaturizer(state);
  }

  get dimension(): number {
    return this.state.features.length;
  }

  toState(): TfidfState {
    return this.state;
  }

  /** One text -> its unit-norm sparse TF-IDF row (n-grams never seen in training are dropped). */
  transform(text: string): SparseRow {
    return this.transformCounts(this.count(text));
  }

  /**
   * A text's n-gram counts under this featuriser's analysers, keyed as features are. They depend
   * only on the n-gram ranges, so one count serves every featuriser fitted with the same options
   * (the learning curve featurises a held-out text once for the vocabularies of all its points).
   */
  count(text: string): NgramCounts {
    const { words, chars } = analyze(text, this.state.wordNgrams, this.state.charNgrams);
    return { words: counts(words, 'w:'), chars: counts(chars, 'c:') };
  }

  /** {@link transform} of a text already counted with {@link count}. */
  transformCounts(grams: NgramCounts): SparseRow {
    const entries: Array<[number, number]> = [];
    const block = (counted: ReadonlyMap<string, number>): void => {
      const start = entries.length;
      let norm = 0;
      for (const [feature, count] of counted) {
        const i = this.index.get(feature);
        if (i === undefined) continue;
        const v = count * (this.state.idf[i] as number);
        entries.push([i, v]);
        norm += v * v;
      }
      // Each block unit-norm, then both scaled by 1/sqrt(2): the whole row has norm 1.
      const scale = norm > 0 ? 1 / Math.sqrt(2 * norm) : 0;
      for (let k = start; k < entries.length; k++) (entries[k] as [number, number])[1] *= scale;
    };
    block(grams.words);
    block(grams.chars);
    entries.sort((a, b) => a[0] - b[0]);
    return { indices: Int32Array.from(entries, (e) => e[0]), values: Float32Array.from(entries, (e) => e[1]) };
  }

  transformAll(texts: readonly string[]): SparseRow[] {
    return texts.map((t) => this.transform(t));
  }
}
