/**
 * The ledger on SQLite through better-sqlite3 (issue #5): the one module that owns the ledger's SQL. The database
 * runs in WAL mode with foreign keys on; the schema is versioned (`schema_migrations`) and migrated on open, so a
 * file created by an older version is brought up to date and a new one is created on first start.
 *
 * Invariants (checked by `audit`, held by construction): postings are append-only; each transfer's postings sum to
 * zero and are written with the balances they change in one transaction; a balance is the sum of its account's
 * postings; no account but mint is below zero; an idempotency key is applied at most once.
 */
import Database from 'better-sqlite3';
import { mayGoNegative, postingsProblem, type AccountId } from './accounts.ts';
import type { HistoryEntry, LedgerStore, TransferRequest, TransferResult } from './ledger-store.ts';

/** Each entry migrates the schema from its index to the next version, in one transaction. Append only. */
const MIGRATIONS: readonly string[] = [
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
];

export interface SqliteLedgerOptions {
  /** A file path, or ':memory:' (tests). */
  path: string;
  now?: () => Date;
}

export function openSqliteLedger(options: SqliteLedgerOptions): LedgerStore {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  const now = options.now ?? (() => new Date());

  const findTransfer = db.prepare<[string], { id: number; fingerprint: string }>('SELECT id, fingerprint FROM transfers WHERE idempotency_key = ?');
  const ensureAccount = db.prepare<[string]>('INSERT INTO accounts (id) VALUES (?) ON CONFLICT (id) DO NOTHING');
  const balanceOf = db.prepare<[string], { balance: number }>('SELECT balance FROM accounts WHERE id = ?');
  const addTransfer = db.prepare<[string, string, string | null, string, string]>('INSERT INTO transfers (idempotency_key, kind, memo, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)');
  const addPosting = db.prepare<[number, string, number]>('INSERT INTO postings (transfer_id, account_id, amount) VALUES (?, ?, ?)');
  const moveBalance = db.prepare<[number, string]>('UPDATE accounts SET balance = balance + ? WHERE id = ?');
  const historyOf = db.prepare<[string, number, number], { transferId: number; kind: string; amount: number; memo: string | null; createdAt: string }>(
    `SELECT t.id AS transferId, t.kind AS kind, p.amount AS amount, t.memo AS memo, t.created_at AS createdAt
       FROM postings p JOIN transfers t ON t.id = p.transfer_id
      WHERE p.account_id = ? AND p.transfer_id < ? ORDER BY p.transfer_id DESC LIMIT ?`,
  );

  const apply = db.transaction((request: TransferRequest, fingerprint: string): TransferResult => {
    const existing = findTransfer.get(request.idempotencyKey);
    if (existing) {
      if (existing.fingerprint !== fingerprint) return { ok: false, reason: 'key_reused', message: `idempotency key ${request.idempotencyKey} was used for another transfer` };
      return { ok: true, transferId: existing.id, replayed: true };
    }
    // Net change per account, so an account posted twice in one transfer is checked on its total.
    const net = new Map<string, number>();
    for (const p of request.postings) net.set(p.account, (net.get(p.account) ?? 0) + p.amount);
    for (const [account, change] of net) {
      ensureAccount.run(account);
      const balance = balanceOf.get(account)?.balance ?? 0;
      if (balance + change < 0 && !mayGoNegative(account as AccountId)) return { ok: false, reason: 'insufficient_funds', message: `${account} holds ${balance} µDPHN; ${-change} needed` };
    }
    const transferId = Number(addTransfer.run(request.idempotencyKey, request.kind, request.memo ?? null, fingerprint, now().toISOString()).lastInsertRowid);
    for (const p of request.postings) addPosting.run(transferId, p.account, p.amount);
    for (const [account, change] of net) moveBalance.run(change, account);
    return { ok: true, transferId, replayed: false };
  });

  return {
    transfer(request) {
      const problem = postingsProblem(request.postings) ?? (request.idempotencyKey.length === 0 ? 'an idempotency key is required' : null);
      if (problem) return { ok: false, reason: 'invalid', message: problem };
      return apply.immediate(request, fingerprintOf(request));
    },
    balance: (account) => balanceOf.get(account)?.balance ?? 0,
    history(account, page): HistoryEntry[] {
      return historyOf.all(account, page.before ?? Number.MAX_SAFE_INTEGER, page.limit);
    },
    audit() {
      const rows = db
        .prepare<[], { account: string; stored: number; recomputed: number }>(
          `SELECT a.id AS account, a.balance AS stored, COALESCE((SELECT SUM(amount) FROM postings p WHERE p.account_id = a.id), 0) AS recomputed FROM accounts a`,
        )
        .all();
      return {
        sum: rows.reduce((total, r) => total + r.stored, 0),
        mismatches: rows.filter((r) => r.stored !== r.recomputed),
        negative: rows.filter((r) => r.stored < 0 && !mayGoNegative(r.account as AccountId)).map((r) => r.account),
      };
    },
    close: () => db.close(),
  };
}

/** The same key must always mean the same transfer: what it moves, and why. */
function fingerprintOf(request: TransferRequest): string {
  return JSON.stringify([request.kind, request.memo ?? null, request.postings.map((p) => [p.account, p.amount])]);
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
  const current = db.prepare<[], { version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations').get()?.version ?? 0;
  if (current > MIGRATIONS.length) throw new Error(`the ledger database is at schema version ${current}, newer than this coordinator (${MIGRATIONS.length})`);
  MIGRATIONS.slice(current).forEach((sql, i) =>
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(current + i + 1, new Date().toISOString());
    })(),
  );
}
