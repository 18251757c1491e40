import type { ClassificationMetrics } from '../training/metrics.js';
import type { OutOfDomainManifest } from '../transfer/outOfDomain.js';
import type { AssessmentSummary } from '../transfer/assessmentSummary.js';
import type { MeasuredCurve } from '../transfer/learningCurve.js';

/**
 * model.json: everything needed to use, audit and reproduce a model version. The head (head.onnx)
 * only maps an embedding to probabilities; this file says which backbone and preprocessing produced
 * those embeddings, so a head never runs on another backbone's embeddings.
 */
/** Validation metrics as stored: the trainer's classification metrics (balanced accuracy is kept under `validation`). */
export type ModelMetrics = Omit<ClassificationMetrics, 'balancedAccuracy'>;

export interface BackboneRef {
  id: string;
  name: string;
  sha256: string;
  embeddingSize: number;
}

export interface ExcludedImage {
  key: string;
  reason: string;
}

/** How a text version turns a text into class probabilities. */
export interface TextModelManifest {
  /** 'tfidf': the fitted featuriser + sparse head; 'encoder': a text backbone's embedding + head.onnx. */
  representation: 'tfidf' | 'encoder';
  /** For 'tfidf': the featuriser state and the head weights. */
  stateFile?: string;
  headFile?: string;
  /**
   * For 'tfidf': its out-of-domain rule, 1 - max probability above the threshold. An 'encoder'
   * version has none here: its detector is the images' (k-NN on embeddings), in the manifest's `outOfDomain`.
   */
  outOfDomain?: { method: 'max-probability'; falseAlarmRate: number; threshold: number };
  /** Why this representation (no encoder installed, or the comparison that chose it). */
  choice: string;
}

export interface ModelManifest {
  dataset: string;
  version: string;
  createdAt: string;
  labels: string[];
  backbone: BackboneRef;
  /** The preprocessing the backbone's embeddings were made with (from its catalogue entry). */
  preprocessing: unknown;
  head: { kind: 'linear' | 'mlp'; hidden?: number; lambda: number; file: string };
  /** Validation metrics: out-of-fold predictions of the cross-validated head. */
  metrics: ModelMetrics;
  training: {
    seed: number;
    folds: number;
    lambdas: number[];
    /** Where the head was trained ('cpu' or 'cuda'). */
    device: string;
    /** Set when CUDA was asked for and the run fell back to the CPU: why. */
    deviceFallback?: string;
    /** Element type of the products over the rows ('float32' unless asked otherwise). */
    dtype?: string;
    durationMs: number;
    /** What this run packed into the dataset's embedding shards before reading them. */
    compaction?: { added: number; packedBefore: number; shards: number };
    imagesPerLabel: Record<string, number>;
    curve: number[];
  };
  data: {
    /** sha256 over the sorted (label, content hash) pairs the head was trained on. */
    fingerprint: string;
    images: number;
    excluded: ExcludedImage[];
  };
  files: { head: string; standalone?: string; report?: string };
  /** 'text' for a text classifier (absent: images). */
  modality?: 'image' | 'text';
  /** A text classifier's representation and serving files (see src/pipeline/trainText.ts). */
  text?: TextModelManifest;
  /** Out-of-domain detector: k-NN cosine distance to the training images, threshold on validation. */
  outOfDomain?: OutOfDomainManifest;
  /** Does transfer help on this dataset: LogME, probe vs no-transfer baseline, verdict. */
  assessment?: AssessmentSummary;
  /** Held-out accuracy with k examples per class, with and without pretraining (a TF-IDF text version: TF-IDF alone). */
  learningCurve?: MeasuredCurve;
  /** How the regularisation was chosen: every lambda's cross-validated scores. */
  validation?: { balancedAccuracy: number; logLoss: number; lambdaScores: unknown[]; selection: string };
}
