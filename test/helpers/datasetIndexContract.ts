/**
 * The behaviour every DatasetIndex adapter must have, run against SQLite (unit) and DynamoDB on
 * moto_server (integration): upserts move counters exactly, deletes undo them, duplicated,
 * reordered and concurrent writes converge on counters equal to a recount of the rows.
 */
import { expect, it } from 'vitest';
import { collectEntries, type DatasetIndex, type IndexEntry } from '../../src/ports/DatasetIndex.js';
import { createRandom, shuffleInPlace } from '../../src/training/random.js';

function entry(key: string, label: string, state: 'embedded' | 'refused', extra: Partial<IndexEntry> = {}): IndexEntry {
  return {
    key,
    dataset: 'ds',
    label,
    file: key.split('/').at(-1) as string,
    etag: `etag-${key}`,
    size: 10,
    state,
    ...(state === 'embedded' ? { sha256: `sha-${key}`, backbone: 'bb' } : { error: { code: 'not_an_image', message: `${key} is not an image` } }),
    updatedAt: '2026-12-01T00:00:00.000Z',
    ...extra,
  };
}

/** Counters recomputed from the rows, to compare with the kept ones. */
async function recount(index: DatasetIndex, dataset: string): Promise<{ labels: Record<string, number>; embedded: number; refused: number }> {
  const rows = await collectEntries(index, dataset);
  const labels: Record<string, number> = {};
  for (const r of rows) if (r.state === 'embedded') labels[r.label ?? ''] = (labels[r.label ?? ''] ?? 0) + 1;
  return { labels, embedded: rows.filter((r) => r.state === 'embedded').length, refused: rows.filter((r) => r.state === 'refused').length };
}

export function datasetIndexContract(open: () => Promise<DatasetIndex>): void {
  it('keeps counters per label and state as rows are upserted, relabelled and deleted', async () => {
    const index = await open();
    expect(await index.counts('ds')).toBeUndefined();
    await index.put([entry('datasets/ds/ants/a.jpg', 'ants', 'embedded'), entry('datasets/ds/ants/b.jpg', 'ants', 'embedded'), entry('datasets/ds/bees/c.jpg', 'bees', 'refused')]);
    expect(await index.counts('ds')).toEqual({ dataset: 'ds', labels: { ants: 2 }, embedded: 2, refused: 1 });
    // The same row again (a duplicate event) changes nothing; a changed state moves one count.
    await index.put([entry('datasets/ds/ants/a.jpg', 'ants', 'embedded')]);
    await index.put([entry('datasets/ds/bees/c.jpg', 'bees', 'embedded')]);
    expect(await index.counts('ds')).toEqual({ dataset: 'ds', labels: { ants: 2, bees: 1 }, embedded: 3, refused: 0 });
    await index.delete('ds', ['datasets/ds/ants/a.jpg', 'datasets/ds/never/was.jpg']);
    expect(await index.counts('ds')).toEqual({ dataset: 'ds', labels: { ants: 1, bees: 1 }, embedded: 2, refused: 0 });
    expect(await index.get('ds', 'datasets/ds/ants/b.jpg')).toEqual(entry('datasets/ds/ants/b.jpg', 'ants', 'embedded'));
    expect(await index.get('ds', 'datasets/ds/ants/a.jpg')).toBeUndefined();
    expect(await index.datasets()).toEqual(['ds']);
    await index.delete('ds', ['datasets/ds/ants/b.jpg', 'datasets/ds/bees/c.jpg']);
    expect(await index.counts('ds')).toBeUndefined();
    expect(await index.datasets()).toEqual([]);
  });

  it('lists rows in key order, by state, in pages, and files unusable keys under no dataset', async () => {
    const index = await open();
    const keys = Array.from({ length: 30 }, (_, i) => `datasets/ds/l${i % 3}/f${String(i).padStart(3, '0')}.jpg`);
    await index.put(keys.map((k, i) => entry(k, `l${i % 3}`, i % 5 === 0 ? 'refused' : 'embedded')));
    const all = await collectEntries(index, 'ds');
    expect(all.map((e) => e.key)).toEqual([...keys].sort());
    const refused = await collectEntries(index, 'ds', { state: 'refused' });
    expect(refused.map((e) => e.key)).toEqual(keys.filter((_, i) => i % 5 === 0).sort());
    expect(refused[0]?.error).toEqual({ code: 'not_an_image', message: `${refused[0]?.key} is not an image` });
    const firstPage = await collectEntries(index, 'ds', { limit: 7 });
    const nextPage = await collectEntries(index, 'ds', { after: firstPage.at(-1)?.key as string, limit: 7 });
    expect([...firstPage, ...nextPage].map((e) => e.key)).toEqual(all.slice(0, 14).map((e) => e.key));

    const { dataset: _d, ...orphan } = entry('datasets/../x.jpg', '', 'refused');
    await index.put([orphan]);
    expect(await collectEntries(index, undefined)).toEqual([orphan]);
    expect(await index.datasets()).toEqual(['ds']);
  });

  it('converges to exact counters under duplicated, reordered and concurrent writes', async () => {
    const index = await open();
    const random = createRandom(7);
    const keys = Array.from({ length: 12 }, (_, i) => `datasets/ds/x/k${i}.jpg`);
    // Every key is written several times with different outcomes, some deleted, all at once.
    const ops: Array<() => Promise<void>> = [];
    for (const key of keys) {
      for (let i = 0; i < 4; i++) {
        const label = ['ants', 'bees', 'wasps'][random.int(3)] as string;
        const state = random.next() < 0.7 ? 'embedded' : 'refused';
        ops.push(() => index.put([entry(key, label, state)]));
      }
      if (random.next() < 0.3) ops.push(() => index.delete('ds', [key]));
    }
    shuffleInPlace(ops, random);
    await Promise.all(ops.map((op) => op()));
    const expected = await recount(index, 'ds');
    const counts = await index.counts('ds');
    expect({ labels: counts?.labels ?? {}, embedded: counts?.embedded ?? 0, refused: counts?.refused ?? 0 }).toEqual(expected);
    expect(expected.embedded + expected.refused).toBeGreaterThan(0);
  });

  it('remembers which contents have an embedding per backbone', async () => {
    const index = await open();
    await index.noteEmbedded('bb', ['s1', 's2']);
    await index.noteEmbedded('bb', ['s2', 's3']);
    await index.noteEmbedded('other', ['s9']);
    expect([...(await index.embeddedWith('bb', ['s1', 's3', 's4', 's9']))].sort()).toEqual(['s1', 's3']);
    expect(await index.embeddedWith('other', [])).toEqual(new Set());
  });
}
