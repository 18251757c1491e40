/**
 * The backbones headstart knows by name. Everything a caller needs to use one, the preprocessing
 * included, lives in its entry, so no caller hard-codes input sizes or the ImageNet mean.
 */
import { createHash } from 'node:crypto';
import type { PreprocessSpec } from '../image/preprocess.js';

/**
 * Where the embedding comes from: a graph output, or an internal feature map we mean-pool, named,
 * or (no `featureTensor`) found by structure: the input of the last global pooling before the
 * classifier (addEmbeddingOutput.ts findFeatureTensor).
 */
export type EmbeddingSource = { output: string } | { featureTensor?: string; pool: 'mean' };

export interface BackboneSpec {
  /** Lower-case name, safe in S3 keys and file names. */
  name: string;
  /** Model file: a bare name is looked up in the models folder; an absolute path is used as is. */
  file: string;
  /** sha256 of the model file, hex. */
  sha256: string;
  inputName: string;
  /** One image, CHW. */
  inputShape: readonly [3, number, number];
  preprocessing: PreprocessSpec;
  embedding: EmbeddingSource;
  embeddingSize: number;
  /** Logits output, for `classify`. */
  classifierOutput?: string;
  /** Class names, one a line in output order; a bare name is looked up next to the model. */
  labelsFile?: string;
  /** Where `npm run fetch-models` gets the file; absent for files that cannot be downloaded. */
  source?: { url: string; sha256: string };
  description?: string;
}

/** torchvision's ImageNet evaluation transform, which the MobileNetV2 entries were trained with. */
export const IMAGENET_PREPROCESSING: PreprocessSpec = Object.freeze({
  resizeShorter: 256,
  crop: 224,
  mean: Object.freeze([0.485, 0.456, 0.406] as const),
  std: Object.freeze([0.229, 0.224, 0.225] as const),
  interpolation: 'bilinear',
});

const ZOO = 'https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model';

export const IMAGENET_LABELS_FILE = 'imagenet_classes.txt';

export const DEFAULT_BACKBONE = 'mobilenetv2-12-fp32-embed';

/** What every MobileNetV2 entry shares: torchvision's input, 1280-wide features, ImageNet logits. */
const MOBILENET_V2 = {
  inputName: 'input',
  inputShape: [3, 224, 224],
  preprocessing: IMAGENET_PREPROCESSING,
} as const;
const MOBILENET_V2_HEAD = { embeddingSize: 1280, classifierOutput: 'output', labelsFile: IMAGENET_LABELS_FILE } as const;

/** A file from the ONNX Model Zoo: downloaded from the zoo and pinned to the hash it is fetched with. */
function zooMobileNetV2(file: string, sha256: string, featureTensor: string | undefined, description: string): BackboneSpec {
  return {
    name: file.replace(/\.onnx$/, ''),
    file,
    sha256,
    ...MOBILENET_V2,
    embedding: featureTensor === undefined ? { pool: 'mean' } : { featureTensor, pool: 'mean' },
    ...MOBILENET_V2_HEAD,
    source: { url: `${ZOO}/${file}`, sha256 },
    description,
  };
}

export const CATALOGUE: readonly BackboneSpec[] = Object.freeze([
  {
    name: 'mobilenetv2-12-fp32-embed',
    file: 'mobilenetv2-12-fp32-embed.onnx',
    sha256: '0a4188c54960d764d85608930b03d1bfc45a213a426fbc80c4d93615c3a676db',
    ...MOBILENET_V2,
    embedding: { output: 'embedding' },
    ...MOBILENET_V2_HEAD,
    description:
      'MobileNetV2 (ImageNet-1k) as plain float32 with an `embedding` output: the int8 zoo model dequantized. ' +
      'Same numbers on AVX-512, AVX2 and SSE4.1 CPUs. Derived file, not downloadable: it ships in the shared models folder.',
  },
  zooMobileNetV2(
    'mobilenetv2-12-int8.onnx',
    'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f',
    // Float output of the DequantizeLinear after the last 1x1 conv + ReLU6, [N,1280,7,7].
    '627',
    'ONNX Model Zoo MobileNetV2 int8 (QLinear ops). Its numbers differ between CPUs with and without VNNI: ' +
      'do not mix embeddings made on different hosts.',
  ),
  zooMobileNetV2(
    'mobilenetv2-12.onnx',
    // Pinned by several public projects for this exact zoo file (13,964,571 bytes).
    'c0c3f76d93fa3fd6580652a45618618a220fced18babf65774ed169de0432ad5',
    // No tensor name: the input of its last global pooling, found in the file when it is loaded
    // (a name read off public layer tables could not be checked against the file here).
    undefined,
    'ONNX Model Zoo MobileNetV2 float32, as released; `npm run fetch-models` downloads it.',
  ),
] satisfies BackboneSpec[]);

/** `name@<first 16 hex of sha256>`: names both the network and the exact file, and is safe in keys. */
export function backboneId(spec: Pick<BackboneSpec, 'name' | 'sha256'>): string {
  return `${spec.name}@${spec.sha256.slice(0, 16)}`;
}

export function findCatalogueEntry(name: string): BackboneSpec | undefined {
  return CATALOGUE.find((spec) => spec.name === name);
}

/**
 * How a text encoder turns a text into a vector: tokenize with its tokenizer.json, truncate to
 * `maxTokens` keeping [SEP], run, mean-pool the last hidden state over the attention mask, L2
 * normalise. Recorded with every embedding and head, like an image backbone's preprocessing.
 */
export interface TextPreprocessing {
  tokenizer: 'tokenizer.json';
  /** sha256 of the tokenizer.json, so a different vocabulary is a different backbone. */
  tokenizerSha256: string;
  maxTokens: number;
  pooling: 'mean';
  normalize: 'l2';
}

/** A pinned file of a text backbone, and where `npm run fetch-models` gets it. */
export interface PinnedFile {
  /** A bare or relative name is looked up in the models folder; an absolute path is used as is. */
  file: string;
  sha256: string;
  bytes?: number;
  url?: string;
}

/** A BERT-family encoder: inputs input_ids / attention_mask / token_type_ids, output last_hidden_state. */
export interface TextBackboneSpec {
  modality: 'text';
  name: string;
  model: PinnedFile;
  tokenizer: PinnedFile;
  /** sha256 over both files' hashes (model, then tokenizer): the id changes when either does. */
  sha256: string;
  preprocessing: TextPreprocessing;
  embeddingSize: number;
  /** Graph output with the token vectors, [batch, tokens, embeddingSize]. */
  output: string;
  /** May it be picked when no backbone is named? False for test-only encoders. */
  defaultCandidate: boolean;
  description?: string;
}

/** sha256 of a text backbone's files taken together: of "<model sha256>\n<tokenizer sha256>". */
export function textBackboneSha256(modelSha256: string, tokenizerSha256: string): string {
  return createHash('sha256').update(`${modelSha256}\n${tokenizerSha256}`).digest('hex');
}

const MINILM_HUB = 'https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/main';
const MINILM_TOKENIZER_SHA256 = 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0';

function textEntry(entry: Omit<TextBackboneSpec, 'modality' | 'sha256' | 'preprocessing'> & { maxTokens: number }): TextBackboneSpec {
  const { maxTokens, ...rest } = entry;
  return {
    modality: 'text',
    ...rest,
    sha256: textBackboneSha256(entry.model.sha256, entry.tokenizer.sha256),
    preprocessing: { tokenizer: 'tokenizer.json', tokenizerSha256: entry.tokenizer.sha256, maxTokens, pooling: 'mean', normalize: 'l2' },
  };
}

export const DEFAULT_TEXT_BACKBONE = 'minilm-l6-v2';

export const TEXT_CATALOGUE: readonly TextBackboneSpec[] = Object.freeze([
  textEntry({
    name: 'minilm-l6-v2',
    model: { file: 'text/all-MiniLM-L6-v2/model_quantized.onnx', sha256: 'afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1', bytes: 22_972_370, url: `${MINILM_HUB}/onnx/model_quantized.onnx` },
    tokenizer: { file: 'text/all-MiniLM-L6-v2/tokenizer.json', sha256: MINILM_TOKENIZER_SHA256, bytes: 711_661, url: `${MINILM_HUB}/tokenizer.json` },
    maxTokens: 256,
    embeddingSize: 384,
    output: 'last_hidden_state',
    defaultCandidate: true,
    description: 'sentence-transformers all-MiniLM-L6-v2 (int8 ONNX export by Xenova): 384-d sentence embeddings; `npm run fetch-models -- minilm-l6-v2` downloads it.',
  }),
  textEntry({
    name: 'tiny-bert-random',
    model: { file: 'text/tiny-bert-random.onnx', sha256: '4220e6be6db6e5464bdbc97e3e3017b8df460c50b1a68c432169f6f4bf8399f8', bytes: 4_091_540 },
    tokenizer: { file: 'text/all-MiniLM-L6-v2/tokenizer.json', sha256: MINILM_TOKENIZER_SHA256, bytes: 711_661 },
    maxTokens: 256,
    embeddingSize: 32,
    output: 'last_hidden_state',
    defaultCandidate: false,
    description: 'A 2-layer BERT with RANDOM weights and the MiniLM vocabulary, for testing the text path only: its embeddings mean nothing. Used only when named.',
  }),
] satisfies TextBackboneSpec[]);

export function findTextCatalogueEntry(name: string): TextBackboneSpec | undefined {
  return TEXT_CATALOGUE.find((spec) => spec.name === name);
}
