/**
 * What the coordinator needs from a ledger store (issue #5): atomic, idempotent transfers and balances recomputable
 * from an append-only history. `sqlite-ledger.ts` implements it on SQLite; a PostgreSQL implementation would follow
 * the same contract.
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

export interface LedgerStore {
  /** Applies every posting or none. Refuses a transfer that would take an account other than mint below zero. */
  transfer(request: TransferRequest): TransferResult;
  balance(account: AccountId): number;
  /** An account's postings, newest first, `limit` at most, before transfer id `before` when given. */
  history(account: AccountId, page: { limit: number; before?: number }): HistoryEntry[];
  /** Every account's balance recomputed from the postings alone, and as stored: equal unless something is broken. */
  audit(): { sum: number; mismatches: Array<{ account: string; stored: number; recomputed: number }>; negative: string[] };
  close(): void;
}
