/**
 * Contributors' money on SQLite (issue #5): pending rewards (one row per job, summing to the pending account),
 * stakes and unbonding (one row per withdrawal, summing to the unbonding account), convictions, verifier fees and
 * faucet grants. Rows and transfers change in one transaction; transfers are keyed by what they settle
 * (`mature:<job>`, `convict:<job>:…`, `release:<row>`), so repeating an operation changes nothing.
 */
import type Database from 'better-sqlite3';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY, type AccountId, type Posting } from '../ledger/accounts.ts';
import type { ContributorStore, ConvictionResult, Standing } from '../ledger/economy-store.ts';
import type { TransferResult } from '../ledger/ledger-store.ts';
import { applyNonZero } from './sqlite-billing.ts';
import type { LedgerWriter } from './sqlite-ledger.ts';

export function sqliteContributors(db: Database.Database, ledger: LedgerWriter, now: () => Date): ContributorStore {
  const pendingReward = db.prepare<[string], { contributorId: string; amount: number; payoutTo: string | null }>("SELECT contributor_id AS contributorId, amount, payout_to AS payoutTo FROM rewards WHERE job_id = ? AND state = 'pending'");
  const setRewardState = db.prepare<[string, string]>('UPDATE rewards SET state = ? WHERE job_id = ?');
  const dueRewards = db.prepare<[number, number], { jobId: string }>("SELECT job_id AS jobId FROM rewards WHERE state = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?");
  const pendingOf = db.prepare<[string], { total: number | null }>("SELECT SUM(amount) AS total FROM rewards WHERE contributor_id = ? AND state = 'pending'");
  const forfeitAll = db.prepare<[string]>("UPDATE rewards SET state = 'forfeited' WHERE contributor_id = ? AND state = 'pending'");
  const slashUnbonding = db.prepare<[string]>("UPDATE unbonding SET state = 'slashed' WHERE contributor_id = ? AND state = 'unbonding'");
  const insertUnbonding = db.prepare<[string, number, number]>("INSERT INTO unbonding (contributor_id, amount, release_at, state) VALUES (?, ?, ?, 'unbonding')");
  const dueUnbonding = db.prepare<[number], { id: number; contributorId: string; amount: number }>("SELECT id, contributor_id AS contributorId, amount FROM unbonding WHERE state = 'unbonding' AND release_at <= ? ORDER BY release_at LIMIT 1000");
  const releaseRow = db.prepare<[number]>("UPDATE unbonding SET state = 'released' WHERE id = ?");
  const unbondingOf = db.prepare<[string], { amount: number; releaseAt: number }>("SELECT amount, release_at AS releaseAt FROM unbonding WHERE contributor_id = ? AND state = 'unbonding' ORDER BY release_at");
  const jobOf = db.prepare<[string], { requesterId: string; escrowed: number; charged: number | null; status: string; contributorId: string | null }>(
    'SELECT requester_id AS requesterId, escrowed, charged, status, contributor_id AS contributorId FROM jobs WHERE id = ?',
  );
  const markConvicted = db.prepare<[string]>("UPDATE jobs SET status = 'convicted' WHERE id = ?");
  const convictionOf = db.prepare<[string], { refunded: number; forfeited: number; slashed: number; toVerifiers: number }>(
    'SELECT refunded, forfeited, slashed, to_verifiers AS toVerifiers FROM convictions WHERE job_id = ?',
  );
  const insertConviction = db.prepare<[string, string, number, number, number, number, string]>(
    'INSERT INTO convictions (job_id, contributor_id, refunded, forfeited, slashed, to_verifiers, convicted_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const grantOf = db.prepare<[string], { claimant: string }>('SELECT claimant FROM faucet_grants WHERE claimant = ?');
  const insertGrant = db.prepare<[string, string, number, string]>('INSERT INTO faucet_grants (claimant, account_id, amount, granted_at) VALUES (?, ?, ?, ?) ON CONFLICT (claimant) DO NOTHING');

  const positive = (amount: number): TransferResult | null => (Number.isSafeInteger(amount) && amount > 0 ? null : { ok: false, reason: 'invalid', message: `${amount} is not a whole amount > 0` });
  const must = (result: TransferResult, what: string) => {
    if (!result.ok) throw new Error(`${what}: ${result.message}`);
  };

  /**
   * A payment whose amounts depend on a balance at the time (the treasury's) cannot be recognised by its postings
   * when repeated: it is answered from its key, the kind and memo naming what was paid; null when the key is new.
   */
  const repeatOf = (key: string, kind: string, memo: string): TransferResult | null => {
    const done = ledger.applied(key);
    if (done === null) return null;
    return done.kind === kind && done.memo === memo ? { ok: true, transferId: done.id, replayed: true } : { ok: false, reason: 'key_reused', message: `idempotency key ${key} was used for another payment` };
  };

  /** Pays `amount` to `account` from the treasury, the mint covering what the treasury cannot. */
  const fromTreasury = (key: string, kind: string, account: AccountId, amount: number, memo: string): TransferResult => {
    const repeat = repeatOf(key, kind, memo);
    if (repeat) return repeat;
    const fromTreasury = Math.min(amount, ledger.balance(TREASURY));
    return applyNonZero(ledger, { idempotencyKey: key, kind, memo, postings: [{ account: TREASURY, amount: -fromTreasury }, { account: MINT, amount: fromTreasury - amount }, { account, amount }] });
  };

  /** A verifier's fee, from the treasury only, as much of it as the treasury holds: fees never create DPHN. */
  const payFee = db.transaction((key: string, verifierId: string, amount: number): TransferResult => {
    const memo = `${amount} µDPHN to ${verifierId}`;
    const repeat = repeatOf(key, 'verifier-fee', memo);
    if (repeat) return repeat;
    const paid = Math.min(amount, ledger.balance(TREASURY));
    if (paid === 0) return { ok: false, reason: 'insufficient_funds', message: 'the treasury is empty' };
    return ledger.apply({ idempotencyKey: key, kind: 'verifier-fee', memo, postings: [{ account: TREASURY, amount: -paid }, { account: contributorAccount(verifierId, 'available'), amount: paid }] });
  });

  const mature = db.transaction((jobId: string): boolean => {
    const reward = pendingReward.get(jobId);
    if (!reward) return false;
    must(ledger.apply({ idempotencyKey: `mature:${jobId}`, kind: 'mature', memo: jobId, postings: [{ account: contributorAccount(reward.contributorId, 'pending'), amount: -reward.amount }, { account: reward.payoutTo ? requesterAccount(reward.payoutTo) : contributorAccount(reward.contributorId, 'available'), amount: reward.amount }] }), `maturing ${jobId}`);
    setRewardState.run('matured', jobId);
    return true;
  });

  const convict = db.transaction((jobId: string, contributorId: string, verifiers: readonly string[], verifierSharePpm: number): ConvictionResult => {
    const done = convictionOf.get(jobId);
    if (done) return { applied: false, ...done };
    const job = jobOf.get(jobId);
    if (job?.contributorId && job.contributorId !== contributorId) throw new Error(`job ${jobId} was served by ${job.contributorId}, not ${contributorId}`);
    const forfeited = pendingOf.get(contributorId)?.total ?? 0;
    forfeitAll.run(contributorId);
    must(applyNonZero(ledger, { idempotencyKey: `convict:${jobId}:forfeit`, kind: 'forfeit', memo: `${jobId} was convicted`, postings: [{ account: contributorAccount(contributorId, 'pending'), amount: -forfeited }, { account: TREASURY, amount: forfeited }] }), 'forfeiting');
    const staked = ledger.balance(contributorAccount(contributorId, 'staked'));
    const unbonding = ledger.balance(contributorAccount(contributorId, 'unbonding'));
    slashUnbonding.run(contributorId);
    const slashed = staked + unbonding;
    if (!Number.isInteger(verifierSharePpm) || verifierSharePpm < 0 || verifierSharePpm > 1e6) throw new Error(`verifier share ${verifierSharePpm} ppm is not from 0 to 1,000,000`);
    // Exact: slashed × ppm can pass 2^53.
    const each = verifiers.length ? Number((BigInt(slashed) * BigInt(verifierSharePpm)) / 1_000_000n / BigInt(verifiers.length)) : 0;
    const postings: Posting[] = [
      { account: contributorAccount(contributorId, 'staked'), amount: -staked },
      { account: contributorAccount(contributorId, 'unbonding'), amount: -unbonding },
      ...verifiers.map((v) => ({ account: contributorAccount(v, 'available'), amount: each })),
      { account: TREASURY, amount: slashed - each * verifiers.length },
    ];
    must(applyNonZero(ledger, { idempotencyKey: `convict:${jobId}:slash`, kind: 'slash', memo: `job ${jobId}`, postings }), 'slashing');
    let refunded = 0;
    if (job?.status === 'settled') {
      refunded = job.charged ?? 0;
      if (refunded > 0) must(fromTreasury(`convict:${jobId}:refund`, 'refund', requesterAccount(job.requesterId), refunded, `job ${jobId} was convicted`), 'refunding');
      markConvicted.run(jobId);
    } else if (job?.status === 'escrowed') {
      // Convicted before it was billed: nothing is charged, and it can no longer be settled.
      refunded = job.escrowed;
      must(applyNonZero(ledger, { idempotencyKey: `convict:${jobId}:refund`, kind: 'refund', memo: `job ${jobId} was convicted`, postings: [{ account: escrowAccount(jobId), amount: -job.escrowed }, { account: requesterAccount(job.requesterId), amount: job.escrowed }] }), 'refunding');
      markConvicted.run(jobId);
    }
    const result = { refunded, forfeited, slashed, toVerifiers: each };
    insertConviction.run(jobId, contributorId, refunded, forfeited, slashed, each, now().toISOString());
    return { applied: true, ...result };
  });

  const unstake = db.transaction((contributorId: string, amount: number, releaseAt: number, key: string): TransferResult => {
    const bad = positive(amount);
    if (bad) return bad;
    const result = ledger.apply({ idempotencyKey: key, kind: 'unstake', postings: [{ account: contributorAccount(contributorId, 'staked'), amount: -amount }, { account: contributorAccount(contributorId, 'unbonding'), amount }] });
    if (result.ok && !result.replayed) insertUnbonding.run(contributorId, amount, releaseAt);
    return result;
  });

  const release = db.transaction((at: number): number => {
    const due = dueUnbonding.all(at);
    for (const row of due) {
      must(ledger.apply({ idempotencyKey: `release:${row.id}`, kind: 'release', postings: [{ account: contributorAccount(row.contributorId, 'unbonding'), amount: -row.amount }, { account: contributorAccount(row.contributorId, 'available'), amount: row.amount }] }), 'releasing');
      releaseRow.run(row.id);
    }
    return due.length;
  });

  const grantOnce = db.transaction((claimant: string, account: AccountId, amount: number, kind: string): boolean => {
    if (insertGrant.run(claimant, account, amount, now().toISOString()).changes === 0) return false;
    must(applyNonZero(ledger, { idempotencyKey: `faucet:${claimant}`, kind, postings: [{ account: MINT, amount: -amount }, { account, amount }] }), 'granting');
    return true;
  });

  return {
    matureReward: async (jobId) => mature.immediate(jobId),
    async matureDue(at, held, limit) {
      let matured = 0;
      // A few times the limit, so rewards held by audits under way do not starve those behind them.
      for (const { jobId } of dueRewards.all(at, limit * 4)) {
        if (matured >= limit) break;
        if (!held(jobId) && mature.immediate(jobId)) matured++;
      }
      return matured;
    },
    convict: async (c) => convict.immediate(c.jobId, c.contributorId, c.verifiers, c.verifierSharePpm),
    payFee: async (fee) => positive(fee.amount) ?? payFee(fee.key, fee.verifierId, fee.amount),
    stake: async (contributorId, amount, key) =>
      positive(amount) ??
      ledger.apply({ idempotencyKey: key, kind: 'stake', postings: [{ account: contributorAccount(contributorId, 'available'), amount: -amount }, { account: contributorAccount(contributorId, 'staked'), amount }] }),
    unstake: async (contributorId, amount, releaseAt, key) => unstake.immediate(contributorId, amount, releaseAt, key),
    releaseUnbonded: async (at) => release.immediate(at),
    async standing(contributorId): Promise<Standing> {
      const balance = (bucket: 'available' | 'pending' | 'staked' | 'unbonding') => ledger.balance(contributorAccount(contributorId, bucket));
      return { available: balance('available'), pending: balance('pending'), staked: balance('staked'), unbonding: balance('unbonding'), unbondingEntries: unbondingOf.all(contributorId) };
    },
    hasGrant: async (claimant) => grantOf.get(claimant) !== undefined,
    grantOnce: async (g) => grantOnce.immediate(g.claimant, g.account, g.amount, g.kind),
  };
}
