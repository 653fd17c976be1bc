/**
 * The coordinator's SQLite database (better-sqlite3): opened in WAL mode with foreign keys on, its schema versioned
 * in `schema_migrations` and migrated on open, so a file written by an older version is brought up to date and a
 * new one is created on first start. Every table of the store is defined here; `coordinator/store/` is the only
 * place with SQL.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Each entry migrates the schema from its index to the next version, in one transaction. Append only. */
const MIGRATIONS: readonly string[] = [
  // 1: the double-entry ledger. A balance is the sum of its account's postings, kept beside them.
  `CREATE TABLE accounts (
     id TEXT PRIMARY KEY,
     balance INTEGER NOT NULL DEFAULT 0
   ) STRICT;
   CREATE TABLE transfers (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     idempotency_key TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     memo TEXT,
     fingerprint TEXT NOT NULL,
     created_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE postings (
     transfer_id INTEGER NOT NULL REFERENCES transfers(id),
     account_id TEXT NOT NULL REFERENCES accounts(id),
     amount INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX postings_by_account ON postings(account_id, transfer_id);`,
  // 2: requesters and their API keys (SHA-256 of the key, never the key); each job's bill; pending rewards and
  // unbonding stakes, one row per amount so each matures on its own; faucet grants, one per claimant; convictions.
  `CREATE TABLE requesters (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     created_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     requester_id TEXT NOT NULL REFERENCES requesters(id),
     hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     name TEXT,
     created_at TEXT NOT NULL,
     revoked_at TEXT
   ) STRICT;
   CREATE INDEX api_keys_by_requester ON api_keys(requester_id);
   CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     requester_id TEXT NOT NULL REFERENCES requesters(id),
     model TEXT NOT NULL,
     escrowed INTEGER NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('escrowed', 'settled', 'refunded', 'convicted')),
     charged INTEGER,
     prompt_tokens INTEGER,
     completion_tokens INTEGER,
     contributor_id TEXT,
     reward INTEGER,
     reason TEXT,
     created_at TEXT NOT NULL,
     ended_at TEXT
   ) STRICT;
   CREATE INDEX jobs_by_requester ON jobs(requester_id, seq);
   CREATE TABLE rewards (
     job_id TEXT PRIMARY KEY REFERENCES jobs(id),
     contributor_id TEXT NOT NULL,
     amount INTEGER NOT NULL CHECK (amount > 0),
     due_at INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'matured', 'forfeited'))
   ) STRICT;
   CREATE INDEX rewards_due ON rewards(state, due_at);
   CREATE INDEX rewards_by_contributor ON rewards(contributor_id, state);
   CREATE TABLE unbonding (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     contributor_id TEXT NOT NULL,
     amount INTEGER NOT NULL CHECK (amount > 0),
     release_at INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('unbonding', 'released', 'slashed'))
   ) STRICT;
   CREATE INDEX unbonding_due ON unbonding(state, release_at);
   CREATE INDEX unbonding_by_contributor ON unbonding(contributor_id, state);
   CREATE TABLE faucet_grants (
     claimant TEXT PRIMARY KEY,
     account_id TEXT NOT NULL,
     amount INTEGER NOT NULL,
     granted_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE convictions (
     job_id TEXT PRIMARY KEY,
     contributor_id TEXT NOT NULL,
     refunded INTEGER NOT NULL,
     forfeited INTEGER NOT NULL,
     slashed INTEGER NOT NULL,
     to_verifiers INTEGER NOT NULL,
     convicted_at TEXT NOT NULL
   ) STRICT;`,
  // 3: each contributor identity's audit record and reputation (a newer version only ever replaces an older one),
  // and decided audits with their verdicts.
  `CREATE TABLE identities (
     id TEXT PRIMARY KEY,
     record TEXT NOT NULL,
     version INTEGER NOT NULL,
     updated_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE audits (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     job_id TEXT NOT NULL UNIQUE,
     contributor_id TEXT NOT NULL,
     status TEXT NOT NULL,
     body TEXT NOT NULL,
     decided_at TEXT NOT NULL
   ) STRICT;
   CREATE INDEX audits_by_status ON audits(status);`,
  // 4: where a reward goes when it matures, when not to its contributor's available balance: the requester account
  // the serving tab named (a widget visitor lending their GPU under the site's account), bound when the job settled.
  `ALTER TABLE rewards ADD COLUMN payout_to TEXT REFERENCES requesters(id);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Opens (creating the file and its folder if needed) and migrates the database; ':memory:' for tests. */
export function openDatabase(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('cache_size = -65536');
  migrate(db);
  return db;
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
  const current = db.prepare<[], { version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations').get()?.version ?? 0;
  if (current > MIGRATIONS.length) throw new Error(`the database is at schema version ${current}, newer than this coordinator (${MIGRATIONS.length})`);
  MIGRATIONS.slice(current).forEach((sql, i) =>
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(current + i + 1, new Date().toISOString());
    })(),
  );
}
