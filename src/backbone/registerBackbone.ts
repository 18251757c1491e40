/**
 * Registers any ONNX image classifier as a backbone: the user names the feature tensor to pool,
 * we check the model actually yields an embedding from it (one probe run on a blank image), and
 * write a catalogue-style entry that {@link resolveBackbone} and {@link listBackbones} then find.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { float32, OnnxSession } from '../backend/onnx.js';
import { sha256Hex } from '../dataset/keys.js';
import { BadRequestError, InvalidNameError } from '../errors.js';
import { validatePreprocessSpec, type PreprocessSpec } from '../image/preprocess.js';
import { decodeModel } from '../onnx/graph.js';
import { addEmbeddingOutput, findFeatureTensor } from './addEmbeddingOutput.js';
import { backboneId, findCatalogueEntry, IMAGENET_PREPROCESSING, type BackboneSpec } from './catalogue.js';
import { validateBackboneName, writeRegisteredBackbone } from './registeredBackbones.js';

export interface RegisterBackboneOptions {
  name: string;
  /**
   * Internal float tensor to mean-pool, [N,C,H,W] (or [N,C] already pooled). Default: the input of
   * the last global pooling before the classifier, found in the graph (findFeatureTensor).
   */
  featureTensor?: string;
  /** Default: the model's only (non-initializer) input. */
  inputName?: string;
  /** Default: ImageNet's (resize 256, crop 224, ImageNet mean/std), cropped to the model's input size. */
  preprocessing?: PreprocessSpec;
  /** Logits output, to let `classify` work (with `labelsFile`). */
  classifierOutput?: string;
  labelsFile?: string;
  description?: string;
}

export interface RegisteredBackbone {
  spec: BackboneSpec;
  id: string;
  /** The JSON file written. */
  entryFile: string;
}

function inputOf(model: ReturnType<typeof decodeModel>, wanted: string | undefined): { name: string; dims: Array<number | undefined> } {
  const graph = model.graph;
  const initializers = new Set((graph?.initializer ?? []).map((t) => t.name));
  const inputs = (graph?.input ?? []).filter((i) => !initializers.has(i.name));
  const chosen = wanted ? inputs.find((i) => i.name === wanted) : inputs.length === 1 ? inputs[0] : undefined;
  if (!chosen?.name) {
    const names = inputs.map((i) => i.name).join(', ');
    throw new BadRequestError(
      wanted ? `the model has no input "${wanted}" (inputs: ${names})` : `the model has ${inputs.length} inputs (${names}); say which one takes the image`,
      'invalid_model',
    );
  }
  const dims = (chosen.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue != null ? Number(d.dimValue) : undefined));
  return { name: chosen.name, dims };
}

/**
 * Validates `file` as a backbone and writes `<backbonesDir>/<name>.json`. The model file stays
 * where it is (its absolute path and sha256 are recorded); moving or changing it makes the entry
 * unusable until registered again.
 */
export async function registerBackbone(file: string, options: RegisterBackboneOptions, backbonesDir: string): Promise<RegisteredBackbone> {
  validateBackboneName(options.name);
  if (findCatalogueEntry(options.name)) {
    throw new InvalidNameError(`"${options.name}" is a built-in backbone; register yours under another name`, { context: { name: options.name } });
  }
  const modelPath = path.resolve(file);
  const size = (await stat(modelPath).catch(() => undefined))?.size;
  if (!size) throw new BadRequestError(`model file ${modelPath} does not exist or is empty`, 'model_file_missing');
  const bytes = await readFile(modelPath);

  const input = inputOf(decodeModel(bytes), options.inputName);
  const [channels, height, width] = input.dims.slice(1);
  if (input.dims.length !== 4 || (channels !== undefined && channels !== 3)) {
    throw new BadRequestError(`input "${input.name}" has shape [${input.dims.map((d) => d ?? '?').join(',')}]; a backbone takes [N,3,H,W] RGB`, 'invalid_model');
  }
  const base = options.preprocessing ?? IMAGENET_PREPROCESSING;
  const crop = height ?? width ?? base.crop;
  if ((height !== undefined && width !== undefined && height !== width) || (options.preprocessing && options.preprocessing.crop !== crop)) {
    throw new BadRequestError(`input "${input.name}" is ${height ?? '?'}x${width ?? '?'} but preprocessing crops ${base.crop}x${base.crop}`, 'invalid_model');
  }
  // Keep ImageNet's 256/224 ratio when the model wants another size and no spec was given.
  const preprocessing: PreprocessSpec = options.preprocessing ?? (crop === base.crop ? base : { ...base, crop, resizeShorter: Math.round((crop * 256) / 224) });
  validatePreprocessSpec(preprocessing);

  // The registration records the tensor it pools by name, found or given, so it never changes meaning.
  const featureTensor = options.featureTensor ?? findFeatureTensor(decodeModel(bytes));
  // Probe: the surgery must apply and yield a float [1,C] embedding (this also gives C).
  const probeModel = addEmbeddingOutput(bytes, featureTensor, { outputName: 'embedding' });
  const session = await OnnxSession.create(probeModel);
  let embeddingSize: number;
  try {
    const wanted = ['embedding', ...(options.classifierOutput ? [options.classifierOutput] : [])];
    const missing = wanted.filter((o) => !session.outputNames.includes(o));
    if (missing.length > 0) throw new BadRequestError(`the model has no output ${missing.join(', ')} (outputs: ${session.outputNames.join(', ')})`, 'invalid_model');
    const blank = new Float32Array(3 * crop * crop);
    const out = (await session.run({ [input.name]: float32(blank, [1, 3, crop, crop]) }, ['embedding']))['embedding'];
    if (!out || out.type !== 'float32' || out.dims.length !== 2 || out.dims[0] !== 1) {
      throw new BadRequestError(`pooling "${featureTensor}" gave ${out ? `${out.type}[${out.dims.join(',')}]` : 'nothing'}, not a float32 [1,C] embedding`, 'feature_tensor_rank');
    }
    embeddingSize = out.dims[1] as number;
  } finally {
    await session.release();
  }

  const spec: BackboneSpec = {
    name: options.name,
    file: modelPath,
    // The bytes just validated, not a second read that could see another file.
    sha256: sha256Hex(bytes),
    inputName: input.name,
    inputShape: [3, crop, crop],
    preprocessing,
    embedding: { featureTensor, pool: 'mean' },
    embeddingSize,
    ...(options.classifierOutput ? { classifierOutput: options.classifierOutput } : {}),
    ...(options.labelsFile ? { labelsFile: path.resolve(options.labelsFile) } : {}),
    ...(options.description ? { description: options.description } : {}),
  };
  const entryFile = await writeRegisteredBackbone(backbonesDir, spec);
  return { spec, id: backboneId(spec), entryFile };
}
