/**
 * Which representation a text dataset trains on, and training it: the core's policy, used through
 * trainChoosingBackbone by both the local runtime and the Batch job.
 *
 * - no choice: the default text encoder when one is installed (defaultTextBackboneName), else the
 *   TF-IDF baseline, saying that no encoder is installed and how to get one;
 * - `tfidf`: the TF-IDF baseline;
 * - an encoder's name: that encoder;
 * - `auto`: on one seeded sample (at most TRAIN_ASSESSMENT's cap per label), every installed
 *   encoder against TF-IDF with the same folds and seed (assessText.ts); the better one is trained
 *   and the version keeps the comparison (`assessment`) and why, with both numbers (`text.choice`).
 *
 * Training on an encoder also measures it against TF-IDF on that sample, as every image training
 * measures its backbone against pixels, unless `assess` is false.
 */
import type { Device } from '../backend/onnx.js';
import { NotFoundError, TrainingDataError } from '../errors.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { listTextBackbones, defaultTextBackboneName, type TextBackboneLocation } from '../text/resolveTextBackbone.js';
import type { TextBackbone } from '../text/TextBackbone.js';
import { assessTextRepresentations, TFIDF_BASELINE, type TextTransferAssessment } from '../transfer/assessText.js';
import { summarizeAssessment } from '../transfer/assessmentSummary.js';
import type { DataPlane } from './status.js';
import { TRAIN_ASSESSMENT, type TrainOptions } from './train.js';
import { HOW_TO_GET_TEXT_ENCODER, loadTextTrainingSet, NO_TEXT_ENCODER, trainTextDataset } from './trainText.js';
import { trainTextOnEncoder } from './trainTextEncoder.js';

/** Where text encoders come from for a training. */
export interface TextEncoderSource {
  /** Where installed and registered encoders are found (default: HEADSTART_MODELS, no registered ones). */
  location?: TextBackboneLocation;
  /**
   * Loads an encoder by name and keeps it (the caller releases it, e.g. the local runtime shares its
   * extraction encoder). Without it, encoders are loaded here and released after the training.
   */
  load?: (name: string) => Promise<TextBackbone>;
  device?: Device;
  /**
   * The encoder extraction embeds with when the edge configures one (the AWS stack's TEXT_BACKBONE):
   * the default then. Else the installed default (defaultTextBackboneName), as local extraction picks it.
   */
  defaultName?: string;
}

type Plane = Pick<DataPlane, 'store' | 'index'>;

class EncoderLoader {
  private readonly owned: TextBackbone[] = [];
  constructor(private readonly source: TextEncoderSource) {}

  async load(name: string): Promise<TextBackbone> {
    if (this.source.load) return this.source.load(name);
    const { TextBackbone } = await import('../text/TextBackbone.js');
    const encoder = await TextBackbone.load(name, { ...this.source.location, ...(this.source.device ? { device: this.source.device } : {}) });
    this.owned.push(encoder);
    return encoder;
  }

  async release(): Promise<void> {
    await Promise.allSettled(this.owned.map((e) => e.release()));
  }
}

/** Installed encoders that may be picked without being named (test-only ones never are). */
async function candidateEncoders(location: TextBackboneLocation): Promise<string[]> {
  return (await listTextBackbones(location)).filter((b) => b.spec.defaultCandidate || b.registered).map((b) => b.spec.name);
}

/** Loads each encoder; one that cannot be loaded is skipped, with the reason. */
async function loadEncoders(loader: EncoderLoader, names: readonly string[]): Promise<{ encoders: TextBackbone[]; skipped: { name: string; reason: string }[] }> {
  const encoders: TextBackbone[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of names) {
    try {
      encoders.push(await loader.load(name));
    } catch (error) {
      skipped.push({ name, reason: (error as Error).message });
    }
  }
  return { encoders, skipped };
}

/**
 * `headstart assess` on a text dataset: the named encoders (default: every installed one that may
 * be picked) against TF-IDF, on the sample a training assesses.
 */
export async function assessTextDataset(plane: Plane, source: TextEncoderSource, dataset: string, options: Pick<TrainOptions, 'seed' | 'device'> & { encoders?: string[] } = {}): Promise<TextTransferAssessment> {
  const loader = new EncoderLoader(source);
  try {
    const { encoders, skipped } = await loadEncoders(loader, options.encoders ?? (await candidateEncoders(source.location ?? {})));
    if (encoders.length === 0) {
      const why = skipped.length > 0 ? skipped.map((s) => `${s.name}: ${s.reason}`).join('; ') : `no pretrained text encoder is installed. ${HOW_TO_GET_TEXT_ENCODER}`;
      throw new TrainingDataError(`dataset "${dataset}" holds texts, and no text encoder could be assessed against the TF-IDF baseline: ${why}`, { context: { dataset } });
    }
    return await assessOnSample(plane, dataset, encoders, options, skipped);
  } finally {
    await loader.release();
  }
}

async function assessOnSample(plane: Plane, dataset: string, encoders: TextBackbone[], options: TrainOptions, skipped: { name: string; reason: string }[] = []): Promise<TextTransferAssessment> {
  const seed = options.seed ?? 0;
  const progress = options.progress ?? ((): void => {});
  progress('transfer assessment: reading the sampled texts');
  const sample = await loadTextTrainingSet(plane, dataset, { sample: { maxPerClass: TRAIN_ASSESSMENT.images.maxPerClass, seed } });
  return assessTextRepresentations(plane.store, dataset, sample, encoders, {
    seed,
    lambdas: TRAIN_ASSESSMENT.lambdas,
    skipped,
    ...(options.device ? { device: options.device } : {}),
    log: (m) => progress(`transfer assessment: ${m}`),
  });
}

export async function trainTextChoosingRepresentation(plane: Plane, source: TextEncoderSource, dataset: string, options: TrainOptions & { backbone?: string } = {}): Promise<ModelManifest> {
  const { backbone: choice, ...rest } = options;
  const location = source.location ?? {};
  const tfidf = (why: string, assessment?: TextTransferAssessment): Promise<ModelManifest> =>
    trainTextDataset(plane, dataset, {
      ...(rest.seed !== undefined ? { seed: rest.seed } : {}),
      ...(rest.promote !== undefined ? { promote: rest.promote } : {}),
      choice: why,
      ...(assessment ? { assessment: summarizeAssessment(assessment) } : {}),
    });
  const loader = new EncoderLoader(source);
  try {
    const onEncoder = async (encoder: TextBackbone, why: string, assessment?: TextTransferAssessment): Promise<ModelManifest> => {
      const measured = assessment ?? ((rest.assess ?? true) ? await assessOnSample(plane, dataset, [encoder], rest) : undefined);
      const { hidden, seed, device, lambdas, folds, promote, progress } = rest;
      return trainTextOnEncoder(plane, encoder, dataset, {
        hidden,
        seed,
        device,
        lambdas,
        folds,
        promote,
        progress,
        choice: why,
        ...(measured ? { assessment: summarizeAssessment(measured) } : {}),
      });
    };

    if (choice === TFIDF_BASELINE) return await tfidf('the TF-IDF baseline, as asked (--backbone tfidf)');
    if (choice === undefined) {
      const name = source.defaultName ?? (await defaultTextBackboneName(location));
      if (name === undefined) return await tfidf(NO_TEXT_ENCODER);
      return await onEncoder(await loader.load(name), `the default text encoder "${name}" (--backbone tfidf trains the TF-IDF baseline, --backbone auto the better of the two)`);
    }
    if (choice !== 'auto') {
      const named = await loader.load(choice).catch((error: unknown) => {
        // An image backbone's name (or a typo) on a text dataset: say what --backbone takes here.
        if (error instanceof NotFoundError) throw new NotFoundError(`dataset "${dataset}" holds texts, so --backbone takes a text encoder, "tfidf" or "auto": ${error.message}`, error.code, { cause: error });
        throw error;
      });
      return await onEncoder(named, `text encoder "${choice}", as asked (--backbone ${choice})`);
    }

    const { encoders, skipped } = await loadEncoders(loader, await candidateEncoders(location));
    if (encoders.length === 0) {
      const why = skipped.length > 0 ? `no text encoder could be loaded (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : NO_TEXT_ENCODER;
      return await tfidf(`--backbone auto: the only representation available is the TF-IDF baseline; ${why}`);
    }
    const assessment = await assessOnSample(plane, dataset, encoders, rest, skipped);
    const why = `--backbone auto: ${assessment.reason}`;
    const winner = encoders.find((e) => e.id === assessment.better);
    return winner ? await onEncoder(winner, why, assessment) : await tfidf(why, assessment);
  } finally {
    await loader.release();
  }
}
