/**
 * The public shape of a transfer assessment: what `headstart assess --json` prints, what model.json
 * keeps under `assessment`, and what the report and `GET /datasets/{name}/assessment` show.
 */
import type { TransferAssessment } from './assess.js';
import type { Verdict } from './verdict.js';

export interface AssessmentSummary {
  backbones: { id: string; logme: number; probeAccuracy: number; rankByLogme: number; rankByProbe: number }[];
  /** The no-transfer arm: 'pixels-32x32-rgb' for images, 'tfidf' for texts (absent in older versions: pixels). */
  baseline?: string;
  baselineAccuracy: number;
  /** Balanced accuracy with pretraining minus without, as a fraction (0.05 = 5 points). */
  gain: number;
  /** The 95% interval of the gain. */
  gainInterval: [number, number];
  verdict: Verdict;
  confident: boolean;
  negativeTransfer: boolean;
  explanation: string;
  /** The backbone the verdict is about (the best probe). */
  chosen: string;
  n: number;
  thresholds: { helps: number; doesNotHelp: number };
}

/** What a summary is made of: an image assessment, or a text one (encoders vs TF-IDF, see assessText.ts). */
export type SummarizableAssessment = Pick<TransferAssessment, 'backbones' | 'baselineAccuracy' | 'gain' | 'verdict' | 'confident' | 'negativeTransfer' | 'explanation' | 'chosen' | 'n' | 'thresholds'> & {
  baseline: { features: string };
};

export function summarizeAssessment(a: SummarizableAssessment): AssessmentSummary {
  return {
    backbones: a.backbones.map((b) => ({ id: b.id, logme: b.logme, probeAccuracy: b.probeAccuracy, rankByLogme: b.rankByLogme, rankByProbe: b.rankByProbe })),
    baseline: a.baseline.features,
    baselineAccuracy: a.baselineAccuracy,
    gain: a.gain.value,
    gainInterval: [a.gain.low, a.gain.high],
    verdict: a.verdict,
    confident: a.confident,
    negativeTransfer: a.negativeTransfer,
    explanation: a.explanation,
    chosen: a.chosen,
    n: a.n,
    thresholds: { helps: a.thresholds.helps, doesNotHelp: a.thresholds.doesNotHelp },
  };
}
