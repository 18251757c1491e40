/**
 * The one SQLite file under HEADSTART_HOME (`headstart.db`) that holds everything several local
 * processes must share safely: the dataset index and its counters, the extraction queue, and the
 * training jobs. WAL mode lets readers (`status`, `predict`) run while a writer commits; every
 * multi-statement change is one transaction, and `busy_timeout` makes a process wait for another's
 * commit instead of failing.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Sqlite = Database.Database;

/** Bump with a new entry in MIGRATIONS; never edit a released one. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE entries (
    dataset TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT,
    file TEXT,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    sha256 TEXT,
    backbone TEXT,
    error_code TEXT,
    error_message TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (dataset, key)
  ) WITHOUT ROWID;
  CREATE INDEX entries_by_state ON entries (dataset, state, key);
  CREATE TABLE counts (
    dataset TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (dataset, label, state)
  ) WITHOUT ROWID;
  CREATE TABLE embedded (
    backbone TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (backbone, sha256)
  ) WITHOUT ROWID;
  CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    dataset TEXT,
    receive_count INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT NOT NULL,
    visible_at INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    -- The consumer holding the current delivery ("<pid>:<uuid>"): a dead process's deliveries come back at once.
    owner TEXT,
    dead INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX messages_by_visibility ON messages (dead, visible_at, seq);
  CREATE INDEX messages_by_dataset ON messages (dataset, dead);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    body TEXT NOT NULL
  );
  -- At most one queued or running training per dataset: a second submit violates this index.
  CREATE UNIQUE INDEX one_active_job_per_dataset ON jobs (dataset) WHERE status IN ('queued', 'running');
  `,
];

export const HOME_DATABASE_FILE = 'headstart.db';

/** Opens (creating and migrating) the home's database; `:memory:` for a private, throwaway one. */
export function openHomeDatabase(file: string): Sqlite {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: 30_000 });
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Sqlite): void {
  // BEGIN IMMEDIATE: two processes opening a new home at once migrate one after the other.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] as string);
    if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

/** The database of a home folder. */
export function homeDatabasePath(home: string): string {
  return path.join(home, HOME_DATABASE_FILE);
}
