/**
 * The ledger on SQLite (issue #5): the ledger's SQL. `ledgerWriter` is the synchronous core the other store modules
 * call inside their own transactions (better-sqlite3 nests them as savepoints), so a job's money and its records
 * change together or not at all; `sqliteLedger` is the `LedgerStore` over it.
 *
 * Invariants (checked by `audit`, held by construction): postings are append-only; each transfer's postings sum to
 * zero and are written with the balances they change in one transaction; a balance is the sum of its account's
 * postings; no account but mint is below zero; an idempotency key is applied at most once, and only ever to the
 * transfer it was first used for.
 */
import type Database from 'better-sqlite3';
import { mayGoNegative, MINT, postingsProblem, TREASURY, type AccountId } from '../ledger/accounts.ts';
import type { HistoryEntry, LedgerAudit, LedgerStore, TransferRequest, TransferResult } from '../ledger/ledger-store.ts';

export interface LedgerWriter {
  /** Applies the transfer in a transaction of its own, or as part of the caller's. */
  apply(request: TransferRequest): TransferResult;
  /** The transfer applied with this key, or null. */
  applied(idempotencyKey: string): { id: number; kind: string; memo: string | null } | null;
  balance(account: AccountId): number;
  history(account: AccountId, page: { limit: number; before?: number }): HistoryEntry[];
  audit(): LedgerAudit;
  totals(): { supply: number; treasury: number; staked: number; pending: number };
}

export function ledgerWriter(db: Database.Database, now: () => Date): LedgerWriter {
  const findTransfer = db.prepare<[string], { id: number; fingerprint: string; kind: string; memo: string | null }>('SELECT id, fingerprint, kind, memo FROM transfers WHERE idempotency_key = ?');
  // Moves an account's balance (creating the account on first use) and reads the result, in one statement.
  const moveAndRead = db.prepare<[string, number, number], { balance: number }>('INSERT INTO accounts (id, balance) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET balance = balance + ? RETURNING balance');
  const balanceOf = db.prepare<[string], { balance: number }>('SELECT balance FROM accounts WHERE id = ?');
  const addTransfer = db.prepare<[string, string, string | null, string, string]>('INSERT INTO transfers (idempotency_key, kind, memo, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)');
  const addPosting = db.prepare<[number, string, number]>('INSERT INTO postings (transfer_id, account_id, amount) VALUES (?, ?, ?)');
  const historyOf = db.prepare<[string, number, number], HistoryEntry>(
    `SELECT t.id AS transferId, t.kind AS kind, p.amount AS amount, t.memo AS memo, t.created_at AS createdAt
       FROM postings p JOIN transfers t ON t.id = p.transfer_id
      WHERE p.account_id = ? AND p.transfer_id < ? ORDER BY p.transfer_id DESC LIMIT ?`,
  );
  const auditRows = db.prepare<[], { account: string; stored: number; recomputed: number }>(
    'SELECT a.id AS account, a.balance AS stored, COALESCE((SELECT SUM(amount) FROM postings p WHERE p.account_id = a.id), 0) AS recomputed FROM accounts a',
  );

  // Contributors' accounts only, found by key range ('contributor:' up to 'contributor;'), never the escrow account
  // every job leaves behind.
  const sumOfContributors = db.prepare<[string], { total: number | null }>("SELECT SUM(balance) AS total FROM accounts WHERE id >= 'contributor:' AND id < 'contributor;' AND id LIKE ?");

  /** Thrown inside a transfer's transaction to roll it back when an account would go below zero. */
  class Overdrawn extends Error {}

  const write = db.transaction((request: TransferRequest, fingerprint: string): number => {
    const transferId = Number(addTransfer.run(request.idempotencyKey, request.kind, request.memo ?? null, fingerprint, now().toISOString()).lastInsertRowid);
    // Net change per account, so an account posted twice in one transfer is checked on its total.
    const net = new Map<string, number>();
    for (const p of request.postings) net.set(p.account, (net.get(p.account) ?? 0) + p.amount);
    for (const [account, change] of net) {
      const after = moveAndRead.get(account, change, change)?.balance ?? 0;
      if (after < 0 && !mayGoNegative(account as AccountId)) throw new Overdrawn(`${account} holds ${after - change} µDPHN; ${-change} needed`);
    }
    for (const p of request.postings) addPosting.run(transferId, p.account, p.amount);
    return transferId;
  });

  const apply = (request: TransferRequest, fingerprint: string, immediate: boolean): TransferResult => {
    const existing = findTransfer.get(request.idempotencyKey);
    if (existing) {
      if (existing.fingerprint !== fingerprint) return { ok: false, reason: 'key_reused', message: `idempotency key ${request.idempotencyKey} was used for another transfer` };
      return { ok: true, transferId: existing.id, replayed: true };
    }
    try {
      // The transfer, its balances and postings are written together; an overdraft rolls all of it back.
      return { ok: true, transferId: immediate ? write.immediate(request, fingerprint) : write(request, fingerprint), replayed: false };
    } catch (error) {
      if (error instanceof Overdrawn) return { ok: false, reason: 'insufficient_funds', message: error.message };
      throw error;
    }
  };

  return {
    apply(request) {
      const problem = postingsProblem(request.postings) ?? (request.idempotencyKey.length === 0 ? 'an idempotency key is required' : null);
      if (problem) return { ok: false, reason: 'invalid', message: problem };
      // Outside a transaction, take the write lock at once (IMMEDIATE) rather than upgrading a read lock later.
      return apply(request, fingerprintOf(request), !db.inTransaction);
    },
    applied(key) {
      const found = findTransfer.get(key);
      return found ? { id: found.id, kind: found.kind, memo: found.memo } : null;
    },
    balance: (account) => balanceOf.get(account)?.balance ?? 0,
    history: (account, page) => historyOf.all(account, page.before ?? Number.MAX_SAFE_INTEGER, page.limit),
    totals: () => ({
      supply: -(balanceOf.get(MINT)?.balance ?? 0),
      treasury: balanceOf.get(TREASURY)?.balance ?? 0,
      staked: (sumOfContributors.get('%:staked')?.total ?? 0) + (sumOfContributors.get('%:unbonding')?.total ?? 0),
      pending: sumOfContributors.get('%:pending')?.total ?? 0,
    }),
    audit() {
      const rows = auditRows.all();
      return {
        sum: rows.reduce((total, r) => total + r.stored, 0),
        mismatches: rows.filter((r) => r.stored !== r.recomputed),
        negative: rows.filter((r) => r.stored < 0 && !mayGoNegative(r.account as AccountId)).map((r) => r.account),
      };
    },
  };
}

/** The same key must always mean the same transfer: what it moves, and why. */
function fingerprintOf(request: TransferRequest): string {
  return JSON.stringify([request.kind, request.memo ?? null, request.postings.map((p) => [p.account, p.amount])]);
}

/** The `LedgerStore` over a writer. */
export function sqliteLedger(writer: LedgerWriter): LedgerStore {
  return {
    transfer: async (request) => writer.apply(request),
    balance: async (account) => writer.balance(account),
    history: async (account, page) => writer.history(account, page),
    audit: async () => writer.audit(),
    totals: async () => writer.totals(),
  };
}
