/**
 * The store contracts of the network's economy (issue #5), beside the ledger's own (ledger-store.ts): requesters and
 * their API keys, each job's bill, contributors' rewards, stakes and faucet grants, and the audit records trust
 * is built from. Every operation that moves money writes its transfers and its records in one transaction, keyed
 * so that repeating it (a retry, a restart) changes nothing. Amounts are computed by the pure rules (pricing.ts)
 * and passed in, except where only the store can know them at the instant of the transaction (a contributor's
 * whole pending or staked balance). Asynchronous so a PostgreSQL implementation can follow;
 * `coordinator/store/` implements them on SQLite.
 */
import type { AccountId } from './accounts.ts';
import type { LedgerStore, TransferResult } from './ledger-store.ts';

export interface Requester {
  id: string;
  name: string;
  createdAt: string;
}

/** An API key as listed: never the key itself, which is shown once when made and stored only as its SHA-256. */
export interface ApiKeyInfo {
  id: string;
  requesterId: string;
  /** The key's first characters, so its owner can tell keys apart. */
  prefix: string;
  name: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface NewApiKey {
  id: string;
  sha256: string;
  prefix: string;
  name: string | null;
}

export interface RequesterStore {
  /** Creates the requester with its first key; `starterCredits` > 0 are granted from the mint as its faucet grant. */
  create(requester: { id: string; name: string; key: NewApiKey; starterCredits: number }): Promise<void>;
  /** Creates the requester if it does not exist (the demo account). */
  ensure(requester: { id: string; name: string }): Promise<void>;
  get(requesterId: string): Promise<Requester | null>;
  addKey(requesterId: string, key: NewApiKey): Promise<void>;
  /** The requester of the unrevoked key with this SHA-256, or null. */
  findKey(sha256: string): Promise<{ key: ApiKeyInfo; requester: Requester } | null>;
  keys(requesterId: string): Promise<ApiKeyInfo[]>;
  /** Revokes the requester's key; false when it has no such key or it was revoked already. */
  revokeKey(requesterId: string, keyId: string): Promise<boolean>;
}

export type JobStatus = 'escrowed' | 'settled' | 'refunded' | 'convicted';

/** A job's bill: what was held, charged and paid. */
export interface JobBill {
  jobId: string;
  requesterId: string;
  model: string;
  escrowed: number;
  status: JobStatus;
  charged: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  contributorId: string | null;
  reward: number | null;
  /** Why a job was refunded. */
  reason: string | null;
  createdAt: string;
  endedAt: string | null;
}

export interface Settlement {
  jobId: string;
  /** What the requester pays for the tokens served; at most what was escrowed, the rest goes back. */
  charge: number;
  promptTokens: number;
  completionTokens: number;
  contributorId: string;
  /** The contributor's part of the charge, credited as pending; the treasury gets the rest of the charge. */
  reward: number;
  /** When the reward matures without a passed audit (ms since epoch), unless an audit fails first. */
  dueAt: number;
  /**
   * The requester account the reward goes to when it matures (the serving tab named it: a widget visitor lending
   * their GPU under the site's account); absent, null or not an account: the contributor's available balance.
   */
  payoutTo?: string | null;
}

export interface BillingStore {
  /**
   * Holds `amount` of the requester's balance for the job (insufficient_funds when it is short). With `subsidy`
   * the mint first tops the balance up to `amount` (the rate-limited demo account).
   */
  escrow(hold: { jobId: string; requesterId: string; model: string; amount: number; subsidy?: boolean }): Promise<TransferResult>;
  /** The job ended with a verified result: the charge leaves escrow, the reward goes pending, the rest returns. */
  settle(settlement: Settlement): Promise<TransferResult>;
  /** The job failed or was cancelled: all of its escrow returns to the requester. */
  refund(jobId: string, reason: string): Promise<TransferResult>;
  job(jobId: string): Promise<JobBill | null>;
  /** Jobs still holding their escrow that were created before `before` (ISO time), oldest first, `limit` at most. */
  escrowedJobs(before: string, limit: number): Promise<string[]>;
  /** The requester's jobs, newest first; `before` is a cursor from an earlier page. */
  usage(requesterId: string, page: { limit: number; before?: number }): Promise<{ jobs: JobBill[]; next: number | null }>;
}

export interface Standing {
  available: number;
  pending: number;
  staked: number;
  unbonding: number;
  /** Stake on its way out: each amount and when it becomes available (ms since epoch). */
  unbondingEntries: Array<{ amount: number; releaseAt: number }>;
}

export interface ConvictionResult {
  /** False when this job's conviction had been applied already (nothing moved again). */
  applied: boolean;
  refunded: number;
  forfeited: number;
  slashed: number;
  /** Each verifier's share of the slashed stake. */
  toVerifiers: number;
}

export interface ContributorStore {
  /** A passed audit: the job's pending reward becomes available (or goes to the account it was bound to). False when it was not pending. */
  matureReward(jobId: string): Promise<boolean>;
  /** Pending rewards due by `now`, oldest first, skipping jobs `held` names (an audit under way): made available. */
  matureDue(now: number, held: (jobId: string) => boolean, limit: number): Promise<number>;
  /**
   * A convicted job: the requester gets its charge back from the treasury (the mint covers what the treasury
   * cannot); every pending reward of the contributor is forfeited to the treasury; its whole stake, staked and
   * unbonding, is slashed — `verifierSharePpm` of it split equally among `verifiers`, the rest to the treasury.
   * Once per job.
   */
  convict(conviction: { jobId: string; contributorId: string; verifiers: readonly string[]; verifierSharePpm: number }): Promise<ConvictionResult>;
  /** A verifier's fee for an audit, from the treasury, as much of it as the treasury holds (insufficient_funds when empty). */
  payFee(fee: { key: string; verifierId: string; amount: number }): Promise<TransferResult>;
  /** Available → staked. */
  stake(contributorId: string, amount: number, key: string): Promise<TransferResult>;
  /** Staked → unbonding until `releaseAt` (ms since epoch); slashable until then. */
  unstake(contributorId: string, amount: number, releaseAt: number, key: string): Promise<TransferResult>;
  /** Unbonding stake whose time has come → available. */
  releaseUnbonded(now: number): Promise<number>;
  standing(contributorId: string): Promise<Standing>;
  /** Whether this claimant had its faucet grant. */
  hasGrant(claimant: string): Promise<boolean>;
  /** Grants `amount` from the mint to `account` once per claimant; false when this claimant had its grant. */
  grantOnce(grant: { claimant: string; account: AccountId; amount: number; kind: string }): Promise<boolean>;
}

/** The audit records trust is built from, persisted (the audit book keeps its working copy in memory). */
export interface TrustStore {
  /** Every identity's record, as the audit book serialised it. */
  identities(): Promise<Array<{ contributorId: string; record: string }>>;
  /** Saves the record unless a newer `version` of it is saved already (writes may land out of order). */
  saveIdentity(contributorId: string, record: string, version: number): Promise<void>;
  /** A decided audit (serialised), replacing an earlier save of the same job. */
  saveAudit(audit: { jobId: string; contributorId: string; status: string; body: string; decidedAt: string }): Promise<void>;
  audit(jobId: string): Promise<string | null>;
  /** The latest decided audits, newest first, and the count of each status. */
  recentAudits(limit: number): Promise<{ recent: string[]; counts: Record<string, number> }>;
}

export interface Store {
  ledger: LedgerStore;
  requesters: RequesterStore;
  billing: BillingStore;
  contributors: ContributorStore;
  trust: TrustStore;
  close(): void;
}
