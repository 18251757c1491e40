/**
 * The seeded per-label sample an assessment runs on (images and texts alike): drawn from the list
 * of rows before anything is read, so only the sampled objects are read and embedded.
 */
import { createRandom, shuffleInPlace } from '../training/random.js';

/** At most `maxPerClass` rows per label, a seeded sample, kept in row order (all rows when undefined). */
export function sampleRows<T extends { label: string }>(rows: readonly T[], maxPerClass: number | undefined, seed: number): T[] {
  if (maxPerClass === undefined) return [...rows];
  const random = createRandom(seed);
  const keep = new Set<number>();
  const byLabel = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const group = byLabel.get(r.label);
    if (group) group.push(i);
    else byLabel.set(r.label, [i]);
  });
  for (const label of [...byLabel.keys()].sort()) {
    for (const i of shuffleInPlace(byLabel.get(label) as number[], random).slice(0, maxPerClass)) keep.add(i);
  }
  return rows.filter((_, i) => keep.has(i));
}
