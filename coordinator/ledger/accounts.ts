/**
 * The DPHN ledger's accounts and amounts (issue #5). Pure.
 *
 * Amounts are whole micro-DPHN (1 DPHN = 1,000,000 µDPHN), safe integers: no floating point ever touches money.
 * Every movement is a transfer: postings that sum to zero. Only `mint` may go below zero (it is where credits come
 * from: its balance is minus the supply); every other account's balance stays at or above zero.
 */

export const MICROS_PER_DPHN = 1_000_000;

export type AccountId =
  | 'mint'
  | 'treasury'
  | `requester:${string}`
  | `contributor:${string}:${'available' | 'pending' | 'staked' | 'unbonding'}`
  | `escrow:${string}`;

export const MINT: AccountId = 'mint';
export const TREASURY: AccountId = 'treasury';
export const requesterAccount = (requesterId: string): AccountId => `requester:${requesterId}`;
export const contributorAccount = (contributorId: string, bucket: 'available' | 'pending' | 'staked' | 'unbonding'): AccountId => `contributor:${contributorId}:${bucket}`;
export const escrowAccount = (jobId: string): AccountId => `escrow:${jobId}`;

export function mayGoNegative(account: AccountId): boolean {
  return account === MINT;
}

export interface Posting {
  account: AccountId;
  /** µDPHN; positive credits the account, negative debits it. */
  amount: number;
}

/** What is wrong with a transfer's postings, or null: at least two, whole amounts, none zero, summing to zero. */
export function postingsProblem(postings: readonly Posting[]): string | null {
  if (postings.length < 2) return 'a transfer needs at least two postings';
  let sum = 0;
  for (const p of postings) {
    if (!Number.isSafeInteger(p.amount) || p.amount === 0) return `posting to ${p.account}: ${p.amount} is not a non-zero whole number of µDPHN`;
    sum += p.amount;
  }
  if (!Number.isSafeInteger(sum)) return 'the postings overflow';
  return sum === 0 ? null : `the postings sum to ${sum}, not zero`;
}
