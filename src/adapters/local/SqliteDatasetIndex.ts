/**
 * The dataset index in the home's SQLite file. A row change and its counter deltas are one
 * transaction, so counters are exact whatever order, repetition or concurrency the writes come in.
 */
import type { DatasetCounts, DatasetIndex, EntryQuery, EntryState, IndexEntry } from '../../ports/DatasetIndex.js';
import { NO_DATASET } from '../../ports/DatasetIndex.js';
import type { Sqlite } from './HomeDatabase.js';

interface EntryRow {
  dataset: string;
  key: string;
  label: string | null;
  file: string | null;
  etag: string;
  size: number;
  state: string;
  sha256: string | null;
  backbone: string | null;
  error_code: string | null;
  error_message: string | null;
  updated_at: string;
}

/** Rows fetched per statement while iterating, so a 1M-row scan never holds them all. */
const PAGE = 5_000;
/** SQLite's default limit on bound parameters is 32766; stay well under it. */
const IN_CHUNK = 500;

export class SqliteDatasetIndex implements DatasetIndex {
  /** Statement batches run, for benchmarks that count requests at the adapter boundary. */
  requests = 0;
  private readonly statements;

  constructor(private readonly db: Sqlite) {
    this.statements = {
      get: db.prepare<[string, string], EntryRow>('SELECT * FROM entries WHERE dataset = ? AND key = ?'),
      upsert: db.prepare(
        `INSERT INTO entries (dataset, key, label, file, etag, size, state, sha256, backbone, error_code, error_message, updated_at)
         VALUES (@dataset, @key, @label, @file, @etag, @size, @state, @sha256, @backbone, @error_code, @error_message, @updated_at)
         ON CONFLICT (dataset, key) DO UPDATE SET label = excluded.label, file = excluded.file, etag = excluded.etag, size = excluded.size,
           state = excluded.state, sha256 = excluded.sha256, backbone = excluded.backbone, error_code = excluded.error_code,
           error_message = excluded.error_message, updated_at = excluded.updated_at`,
      ),
      remove: db.prepare('DELETE FROM entries WHERE dataset = ? AND key = ?'),
      count: db.prepare(
        `INSERT INTO counts (dataset, label, state, n) VALUES (?, ?, ?, ?)
         ON CONFLICT (dataset, label, state) DO UPDATE SET n = n + excluded.n`,
      ),
      dropZeroCounts: db.prepare('DELETE FROM counts WHERE dataset = ? AND n = 0'),
      counts: db.prepare<[string], { label: string; state: string; n: number }>('SELECT label, state, n FROM counts WHERE dataset = ? AND n > 0'),
      datasets: db.prepare<[], { dataset: string }>(`SELECT dataset FROM counts WHERE n > 0 AND dataset <> '' GROUP BY dataset ORDER BY dataset`),
      noteEmbedded: db.prepare('INSERT OR IGNORE INTO embedded (backbone, sha256) VALUES (?, ?)'),
    };
  }

  async get(dataset: string | undefined, key: string): Promise<IndexEntry | undefined> {
    this.requests++;
    const row = this.statements.get.get(dataset ?? NO_DATASET, key);
    return row === undefined ? undefined : fromRow(row);
  }

  async put(entries: readonly IndexEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.requests++;
    this.db
      .transaction(() => {
        for (const entry of entries) {
          const dataset = entry.dataset ?? NO_DATASET;
          const before = this.statements.get.get(dataset, entry.key);
          if (before !== undefined) this.statements.count.run(dataset, before.label ?? '', before.state, -1);
          this.statements.upsert.run(toRow(entry));
          this.statements.count.run(dataset, entry.label ?? '', entry.state, 1);
        }
      })
      .immediate();
  }

  async delete(dataset: string | undefined, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    this.requests++;
    const ds = dataset ?? NO_DATASET;
    this.db
      .transaction(() => {
        for (const key of keys) {
          const before = this.statements.get.get(ds, key);
          if (before === undefined) continue;
          this.statements.remove.run(ds, key);
          this.statements.count.run(ds, before.label ?? '', before.state, -1);
        }
        this.statements.dropZeroCounts.run(ds);
      })
      .immediate();
  }

  async counts(dataset: string): Promise<DatasetCounts | undefined> {
    this.requests++;
    const rows = this.statements.counts.all(dataset);
    if (rows.length === 0) return undefined;
    const counts: DatasetCounts = { dataset, labels: {}, embedded: 0, refused: 0 };
    for (const { label, state, n } of rows) {
      if (state === 'embedded') {
        counts.labels[label] = (counts.labels[label] ?? 0) + n;
        counts.embedded += n;
      } else counts.refused += n;
    }
    return counts;
  }

  async *entries(dataset: string | undefined, query: EntryQuery = {}): AsyncIterable<IndexEntry> {
    const ds = dataset ?? NO_DATASET;
    let after = query.after ?? '';
    let left = query.limit ?? Number.POSITIVE_INFINITY;
    const byState = this.db.prepare<[string, string, string, number], EntryRow>(
      'SELECT * FROM entries WHERE dataset = ? AND state = ? AND key > ? ORDER BY key LIMIT ?',
    );
    const all = this.db.prepare<[string, string, number], EntryRow>('SELECT * FROM entries WHERE dataset = ? AND key > ? ORDER BY key LIMIT ?');
    while (left > 0) {
      const page = Math.min(PAGE, left);
      this.requests++;
      const rows = query.state === undefined ? all.all(ds, after, page) : byState.all(ds, query.state, after, page);
      for (const row of rows) yield fromRow(row);
      if (rows.length < page) return;
      left -= rows.length;
      after = (rows.at(-1) as EntryRow).key;
    }
  }

  async datasets(): Promise<string[]> {
    this.requests++;
    return this.statements.datasets.all().map((r) => r.dataset);
  }

  async embeddedWith(backboneId: string, sha256s: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < sha256s.length; i += IN_CHUNK) {
      const chunk = sha256s.slice(i, i + IN_CHUNK);
      this.requests++;
      const rows = this.db
        .prepare<string[], { sha256: string }>(`SELECT sha256 FROM embedded WHERE backbone = ? AND sha256 IN (${chunk.map(() => '?').join(',')})`)
        .all(backboneId, ...chunk);
      for (const row of rows) found.add(row.sha256);
    }
    return found;
  }

  async noteEmbedded(backboneId: string, sha256s: readonly string[]): Promise<void> {
    if (sha256s.length === 0) return;
    this.requests++;
    this.db.transaction(() => {
      for (const sha of sha256s) this.statements.noteEmbedded.run(backboneId, sha);
    })();
  }
}

function toRow(entry: IndexEntry): EntryRow {
  return {
    dataset: entry.dataset ?? NO_DATASET,
    key: entry.key,
    label: entry.label ?? null,
    file: entry.file ?? null,
    etag: entry.etag,
    size: entry.size,
    state: entry.state,
    sha256: entry.sha256 ?? null,
    backbone: entry.backbone ?? null,
    error_code: entry.error?.code ?? null,
    error_message: entry.error?.message ?? null,
    updated_at: entry.updatedAt,
  };
}

function fromRow(row: EntryRow): IndexEntry {
  return {
    key: row.key,
    ...(row.dataset === NO_DATASET ? {} : { dataset: row.dataset }),
    ...(row.label === null ? {} : { label: row.label }),
    ...(row.file === null ? {} : { file: row.file }),
    etag: row.etag,
    size: row.size,
    state: row.state as EntryState,
    ...(row.sha256 === null ? {} : { sha256: row.sha256 }),
    ...(row.backbone === null ? {} : { backbone: row.backbone }),
    ...(row.error_code === null ? {} : { error: { code: row.error_code, message: row.error_message ?? '' } }),
    updatedAt: row.updated_at,
  };
}
