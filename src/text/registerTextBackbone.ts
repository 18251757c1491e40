/**
 * Registers any BERT-family ONNX encoder as a text backbone: `backbone add <model.onnx> --text
 * --tokenizer <tokenizer.json> --name N`. Both files are hashed and recorded where they are; the
 * tokenizer must parse, and one probe run must give last_hidden_state [1, tokens, d], whose d becomes
 * the embedding size. The entry is then found by name like a catalogue one.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { backboneId, findTextCatalogueEntry, textBackboneSha256, type TextBackboneSpec } from '../backbone/catalogue.js';
import { validateBackboneName } from '../backbone/registeredBackbones.js';
import { sha256File } from '../backbone/sha256File.js';
import { BadRequestError, InvalidNameError } from '../errors.js';
import { TextBackbone } from './TextBackbone.js';
import { TextTokenizer } from './tokenizer.js';
import { writeRegisteredTextBackbone } from './resolveTextBackbone.js';

export interface RegisterTextOptions {
  name: string;
  tokenizer: string;
  /** Token limit (default 256, sentence-transformers' for MiniLM-sized encoders). */
  maxTokens?: number;
  output?: string;
}

export async function registerTextBackbone(model: string, options: RegisterTextOptions, backbonesDir: string): Promise<{ spec: TextBackboneSpec; id: string; entryFile: string }> {
  validateBackboneName(options.name);
  if (findTextCatalogueEntry(options.name)) throw new InvalidNameError(`backbone name "${options.name}" is a catalogue entry; choose another name`);
  const modelFile = path.resolve(model);
  const tokenizerFile = path.resolve(options.tokenizer);
  const maxTokens = options.maxTokens ?? 256;
  let tokenizerJson: string;
  try {
    tokenizerJson = await readFile(tokenizerFile, 'utf8');
  } catch (error) {
    throw new BadRequestError(`cannot read tokenizer ${tokenizerFile}: ${(error as Error).message}`, 'invalid_tokenizer');
  }
  TextTokenizer.fromJson(tokenizerJson, { maxTokens });
  const [modelSha, tokenizerSha] = await Promise.all([sha256File(modelFile), sha256File(tokenizerFile)]);
  const draft: TextBackboneSpec = {
    modality: 'text',
    name: options.name,
    model: { file: modelFile, sha256: modelSha },
    tokenizer: { file: tokenizerFile, sha256: tokenizerSha },
    sha256: textBackboneSha256(modelSha, tokenizerSha),
    preprocessing: { tokenizer: 'tokenizer.json', tokenizerSha256: tokenizerSha, maxTokens, pooling: 'mean', normalize: 'l2' },
    embeddingSize: 1,
    output: options.output ?? 'last_hidden_state',
    defaultCandidate: false,
  };
  // Probe: the interface check happens in load; the width of the output is the embedding size.
  const probe = await TextBackbone.load(draft, { batchSize: 1 }).catch((error: unknown) => {
    throw new BadRequestError(`${modelFile} is not a usable text encoder: ${(error as Error).message}`, 'invalid_model', 400, { cause: error });
  });
  const size = await probe.probeWidth();
  await probe.release();
  const spec: TextBackboneSpec = { ...draft, embeddingSize: size, description: `registered from ${modelFile} with ${tokenizerFile}` };
  const entryFile = await writeRegisteredTextBackbone(backbonesDir, spec);
  return { spec, id: backboneId(spec), entryFile };
}
