/**
 * The accounts API (issue #5): requesters and their API keys, balances and history, contributors' stakes, and the
 * network's economy. Request bodies are zod-validated at the boundary; errors use the API's one error shape
 * (api.ts). Amounts are whole µDPHN (1 DPHN = 1,000,000 µDPHN) as numbers, with a `dphn` string for people.
 */
import { z } from 'zod';

export { DEMO_API_KEY } from './demo-key.ts';

export const createAccountSchema = z.strictObject({ name: z.string().trim().min(1).max(80).optional() });
export const createKeySchema = z.strictObject({ name: z.string().trim().min(1).max(80).optional() });

/** A contributor's signed action on its DPHN: the signature covers accountStatementOf(action, id, amount, at). */
export const contributorActionSchema = z.strictObject({
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** When it was signed (ms since epoch): the coordinator accepts it for 5 minutes either way. */
  at: z.number().int().nonnegative(),
  /** Base64url raw Ed25519 public key; its hash is the contributor id in the path. */
  publicKey: z.string().max(100),
  signature: z.string().max(200),
});
export type ContributorAction = z.infer<typeof contributorActionSchema>;
export const CONTRIBUTOR_ACTIONS = ['stake', 'unstake'] as const;

export interface Amount {
  micros: number;
  dphn: string;
}

export interface ApiKeyView {
  id: string;
  prefix: string;
  name: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface AccountView {
  id: string;
  name: string;
  created_at: string;
  balance: Amount;
}

/** POST /api/accounts and POST /api/account/keys: the key itself appears here once and never again. */
export interface NewKeyView extends ApiKeyView {
  key: string;
}

export interface LedgerEntryView {
  transfer_id: number;
  kind: string;
  amount: Amount;
  memo: string | null;
  created_at: string;
}

export interface Page<T> {
  data: T[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: number | null;
}

export interface UsageView {
  job_id: string;
  model: string;
  status: 'escrowed' | 'settled' | 'refunded' | 'convicted';
  escrowed: Amount;
  charged: Amount | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  contributor_id: string | null;
  reason: string | null;
  created_at: string;
  ended_at: string | null;
}

export interface StandingView {
  available: Amount;
  pending: Amount;
  staked: Amount;
  unbonding: Amount;
  unbonding_entries: Array<{ amount: Amount; release_at: string }>;
  /** Per model: the least stake that lets this contributor take its jobs now (about gain / p: it rises as its audit rate p falls). */
  minimum_stake: Record<string, Amount>;
}

/** GET /api/contributors/:id: the identity's audit record and reputation, and its DPHN. */
export type ContributorView = import('./audits.ts').ContributorTrust & { dphn: StandingView };

export interface PriceView {
  model: string;
  prompt_per_1k: Amount;
  completion_per_1k: Amount;
  /** The least stake a contributor past probation needs to serve this model (audited at the lowest rate). */
  minimum_stake: Amount;
}

export interface EconomyView {
  /** Every DPHN issued (by the faucet, demo subsidies, and fees the treasury could not cover). */
  supply: Amount;
  treasury: Amount;
  /** Staked and unbonding, all contributors. */
  staked: Amount;
  /** Rewards not yet matured, all contributors. */
  pending: Amount;
  prices: PriceView[];
  contributor_share: number;
  settlement_window_ms: number;
  unbonding_ms: number;
}
