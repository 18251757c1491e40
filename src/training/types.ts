/** Public types of head training. */
import type { Device } from '../backend/onnx.js';
import type { ClassificationMetrics } from './metrics.js';
import type { HeadKind } from './headLayout.js';
import type { StopReason } from './lbfgs.js';

export type { HeadKind } from './headLayout.js';

export interface TrainingData {
  /** Row-major [N, D]. */
  embeddings: Float32Array;
  dims: readonly [number, number];
  /** Class index (into classNames) of each row. */
  labels: Int32Array;
  classNames: readonly string[];
}

export interface TrainOptions {
  /** Hidden units of a one-hidden-layer ReLU head; 0 or absent trains the linear head. */
  hidden?: number;
  /** L2 strengths to choose from by cross-validation (on the weighted mean loss). */
  lambdas?: readonly number[];
  /** Requested folds; capped by the smallest class count. */
  folds?: number;
  seed?: number;
  device?: Device;
  /**
   * onnxruntime intra-op threads for the training graphs; default onnxruntime's (one per core).
   * On a machine shared with other busy processes, 1 avoids its spinning thread pool's contention.
   */
  threads?: number;
  /** Iteration cap of each L-BFGS fit. */
  maxIterations?: number;
  /** Element type of the products over the rows; default float32 (trainHead.DEFAULT_DTYPE). */
  dtype?: 'float32' | 'float64';
  /**
   * Where the matrix lives between loss evaluations (foldLoss.ts): fed per run (CPU default) or
   * stored in the session, on the device for CUDA (CUDA default).
   */
  placement?: 'fed' | 'resident';
}

/** One dense layer: `out = in @ weights + bias`, weights row-major [inputs, outputs]. */
export interface DenseLayer {
  inputs: number;
  outputs: number;
  weights: Float32Array;
  bias: Float32Array;
}

/** Linear head: one layer. MLP head: two layers with ReLU between. Inputs are L2-normalised first. */
export interface HeadParams {
  layers: DenseLayer[];
}

/** Validation metrics from out-of-fold predictions at the chosen lambda. */
export interface ValidationMetrics extends ClassificationMetrics {
  /** Class-balanced mean negative log-likelihood of the out-of-fold probabilities. */
  logLoss: number;
  folds: number;
}

export interface LambdaScore {
  lambda: number;
  balancedAccuracy: number;
  accuracy: number;
  logLoss: number;
}

export interface TrainingSettings {
  kind: HeadKind;
  hidden: number;
  /** Every lambda fitted, strongest first. */
  lambdas: number[];
  /** How they were chosen (cvPlan.ts). */
  lambdaSearch: string;
  foldsRequested: number;
  folds: number;
  seed: number;
  /** Where the graphs ran. */
  device: Device;
  deviceRequested: Device;
  /** Set when CUDA was asked for but the run fell back to the CPU: why. */
  deviceFallback?: string;
  dtype: 'float32' | 'float64';
  placement: 'fed' | 'resident';
  /** onnxruntime intra-op threads; 0 = onnxruntime's default. */
  threads: number;
  maxIterations: number;
  normalization: 'l2';
  classWeighting: 'balanced';
  selection: string;
}

export interface TrainingTimings {
  normalizeMs: number;
  crossValidationMs: number;
  refitMs: number;
  totalMs: number;
}

export interface FitSummary {
  iterations: number;
  evaluations: number;
  reason: StopReason;
}

export interface TrainedHead {
  kind: HeadKind;
  params: HeadParams;
  lambda: number;
  classNames: string[];
  metrics: ValidationMetrics;
  /** Row-major [N, K] out-of-fold probabilities at the chosen lambda, in training-row order. */
  oofProbabilities: Float32Array;
  /** Out-of-fold predicted class of every row (argmax of its probabilities); `metrics` is computed from these. */
  oofPredictions: Int32Array;
  /** Fold index of every training row. */
  folds: Int32Array;
  /** Objective after each iteration of the final fit on all data (index 0 = start). */
  trainingCurve: number[];
  /** Cross-validated scores of every lambda tried, in the order tried. */
  lambdaScores: LambdaScore[];
  finalFit: FitSummary;
  settings: TrainingSettings;
  timings: TrainingTimings;
}
