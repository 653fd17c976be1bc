/**
 * What the coordinator needs from a ledger store (issue #5): atomic, idempotent transfers and balances recomputable
 * from an append-only history. Asynchronous, so a PostgreSQL implementation can follow the same contract;
 * `coordinator/store/sqlite-ledger.ts` implements it on SQLite.
 */
import type { AccountId, Posting } from './accounts.ts';

export interface TransferRequest {
  /** Replaying a key that was already applied changes nothing and returns the first result. */
  idempotencyKey: string;
  /** What kind of movement this is (escrow, charge, refund, reward, stake, slash, faucet...). */
  kind: string;
  postings: readonly Posting[];
  memo?: string;
}

export type TransferResult =
  | { ok: true; transferId: number; replayed: boolean }
  | { ok: false; reason: 'invalid' | 'insufficient_funds' | 'key_reused'; message: string };

export interface HistoryEntry {
  transferId: number;
  kind: string;
  amount: number;
  memo: string | null;
  createdAt: string;
}

export interface LedgerAudit {
  /** The sum of every balance: zero. */
  sum: number;
  /** Accounts whose stored balance differs from the sum of their postings: none. */
  mismatches: Array<{ account: string; stored: number; recomputed: number }>;
  /** Accounts other than mint below zero: none. */
  negative: string[];
}

export interface LedgerStore {
  /** Applies every posting or none. Refuses a transfer that would take an account other than mint below zero. */
  transfer(request: TransferRequest): Promise<TransferResult>;
  balance(account: AccountId): Promise<number>;
  /** An account's postings, newest first, `limit` at most, before transfer id `before` when given. */
  history(account: AccountId, page: { limit: number; before?: number }): Promise<HistoryEntry[]>;
  /** Network-wide sums: issued (minus mint's balance), the treasury, contributors' staked + unbonding, and pending. */
  totals(): Promise<{ supply: number; treasury: number; staked: number; pending: number }>;
  /** Every account's balance recomputed from the postings alone, and as stored: equal unless something is broken. */
  audit(): Promise<LedgerAudit>;
}
