/**
 * Which accepted objects a training uses: content uploaded under two labels is a conflict (every
 * copy left out), and byte-identical copies within a label are kept once (so they cannot leak
 * across validation folds). Images and texts share the rule; only the wording differs.
 */
import type { ExcludedImage } from '../registry/ModelManifest.js';

export interface LabelledContent {
  key: string;
  sha256: string;
  label: string;
}

export function usableRows<T extends LabelledContent>(rows: readonly T[], kind: 'image' | 'text'): { usable: T[]; excluded: ExcludedImage[] } {
  const labelsBySha = new Map<string, Set<string>>();
  for (const r of rows) labelsBySha.set(r.sha256, (labelsBySha.get(r.sha256) ?? new Set()).add(r.label));
  const firstKeyBySha = new Map<string, string>();
  const usable: T[] = [];
  const excluded: ExcludedImage[] = [];
  for (const r of rows) {
    const labels = labelsBySha.get(r.sha256) ?? new Set();
    const first = firstKeyBySha.get(r.sha256);
    if (labels.size > 1) excluded.push({ key: r.key, reason: `conflict: the same ${kind} is labelled ${[...labels].sort().map((l) => JSON.stringify(l)).join(' and ')}` });
    else if (first !== undefined) excluded.push({ key: r.key, reason: kind === 'image' ? `duplicate: byte-identical to ${first}` : `duplicate: the same text as ${first}` });
    else {
      firstKeyBySha.set(r.sha256, r.key);
      usable.push(r);
    }
  }
  return { usable, excluded };
}
