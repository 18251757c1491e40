/**
 * Which backbone a training uses, and what it takes to use it: the policy both the local runtime
 * and the Batch job follow, so `--backbone auto` and training on another backbone behave the same
 * everywhere.
 *
 * - no choice: the backbone extraction embedded with (its embeddings are all cached);
 * - a name: that backbone, after embedding whatever the cache lacks for it (backfill);
 * - `auto`: the transfer assessment ranks every backbone on this machine, the best is backfilled
 *   and trained, and the assessment that chose it is kept in the version.
 *
 * A text dataset follows the text policy (trainTextChoosingRepresentation.ts): an encoder or TF-IDF.
 */
import type { BackboneLocation } from '../backbone/resolveBackbone.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { assessDataset, pickBackbone } from '../transfer/assess.js';
import { backfillEmbeddings } from './backfill.js';
import type { DataPlane } from './status.js';
import { TRAIN_ASSESSMENT, trainDataset, type TrainingBackbone, type TrainOptions } from './train.js';
import { datasetModality } from './datasetModality.js';
import { trainTextChoosingRepresentation, type TextEncoderSource } from './trainTextChoosingRepresentation.js';

export interface BackboneProvider {
  /** The backbone extraction embeds with. */
  extraction(): Promise<TrainingBackbone>;
  /** A catalogue or registered backbone, loaded once and kept by the provider. */
  named(name: string): Promise<TrainingBackbone>;
  /** Where registered backbones live, for the assessment's list of candidates. */
  location?: BackboneLocation;
  /** Text encoders, for text datasets (default: the catalogue's in HEADSTART_MODELS, loaded on the CPU). */
  text?: TextEncoderSource;
}

export async function trainChoosingBackbone(
  plane: Pick<DataPlane, 'store' | 'index'>,
  backbones: BackboneProvider,
  dataset: string,
  options: TrainOptions & { backbone?: string } = {},
): Promise<ModelManifest> {
  const { backbone: choice, ...rest } = options;
  // A text dataset trains its own way (TF-IDF or a text encoder); a mixed one is refused here, by name.
  if ((await datasetModality(plane, dataset)) === 'text') return trainTextChoosingRepresentation(plane, backbones.text ?? {}, dataset, options);
  const extraction = await backbones.extraction();
  if (choice === 'auto') {
    const assessment = await assessDataset(plane, dataset, {
      ...TRAIN_ASSESSMENT,
      ...(backbones.location ? { location: backbones.location } : {}),
      seed: rest.seed ?? 0,
      ...(rest.device ? { device: rest.device } : {}),
      ...(rest.progress ? { log: (m: string) => rest.progress!(`choosing the backbone: ${m}`) } : {}),
    });
    const chosen = await backbones.named(pickBackbone(assessment).name);
    if (chosen.id !== extraction.id) await backfillEmbeddings(plane, dataset, chosen);
    return trainDataset({ ...plane, backbone: chosen }, dataset, { ...rest, assessment });
  }
  const backbone = choice === undefined ? extraction : await backbones.named(choice);
  // Extraction cached embeddings of its own backbone only; embed the rest with this one first.
  if (backbone.id !== extraction.id) await backfillEmbeddings(plane, dataset, backbone);
  return trainDataset({ ...plane, backbone }, dataset, rest);
}
