/**
 * Each job's bill on SQLite (issue #5): escrow when the request arrives, then exactly one of settle (charge the
 * tokens served, reward pending, return the rest) or refund (return everything). The job's row and its transfers
 * change in one transaction; the transfers are keyed by job (`escrow:`, `settle:`, `refund:`), so repeating an
 * operation changes nothing, and a job can be settled or refunded only while its escrow is held.
 */
import type Database from 'better-sqlite3';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY, type Posting } from '../ledger/accounts.ts';
import type { BillingStore, JobBill, JobStatus } from '../ledger/economy-store.ts';
import type { TransferRequest, TransferResult } from '../ledger/ledger-store.ts';
import type { LedgerWriter } from './sqlite-ledger.ts';

const JOB_COLUMNS = `seq, id AS jobId, requester_id AS requesterId, model, escrowed, status, charged, prompt_tokens AS promptTokens,
  completion_tokens AS completionTokens, contributor_id AS contributorId, reward, reason, created_at AS createdAt, ended_at AS endedAt`;
type JobRow = JobBill & { seq: number };
const bill = ({ seq: _seq, ...job }: JobRow): JobBill => job;

/** A transfer of the non-zero postings; when nothing moves (a free model) there is nothing to write. */
export function applyNonZero(ledger: LedgerWriter, request: Omit<TransferRequest, 'postings'> & { postings: Posting[] }): TransferResult {
  const postings = request.postings.filter((p) => p.amount !== 0);
  if (postings.length === 0) return { ok: true, transferId: 0, replayed: ledger.applied(request.idempotencyKey) !== null };
  return ledger.apply({ ...request, postings });
}

const invalid = (message: string): TransferResult => ({ ok: false, reason: 'invalid', message });

export function sqliteBilling(db: Database.Database, ledger: LedgerWriter, now: () => Date): BillingStore {
  const getJob = db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`);
  const insertJob = db.prepare<[string, string, string, number, string]>("INSERT INTO jobs (id, requester_id, model, escrowed, status, created_at) VALUES (?, ?, ?, ?, 'escrowed', ?)");
  const settleJob = db.prepare<[number, number, number, string, number, string, string]>(
    "UPDATE jobs SET status = 'settled', charged = ?, prompt_tokens = ?, completion_tokens = ?, contributor_id = ?, reward = ?, ended_at = ? WHERE id = ?",
  );
  const refundJob = db.prepare<[string, string, string]>("UPDATE jobs SET status = 'refunded', reason = ?, ended_at = ? WHERE id = ?");
  const insertReward = db.prepare<[string, string, number, number, string | null]>("INSERT INTO rewards (job_id, contributor_id, amount, due_at, state, payout_to) VALUES (?, ?, ?, ?, 'pending', ?)");
  const requesterExists = db.prepare<[string], { id: string }>('SELECT id FROM requesters WHERE id = ?');
  const escrowedBefore = db.prepare<[string, number], { id: string }>("SELECT id FROM jobs WHERE status = 'escrowed' AND created_at < ? ORDER BY seq LIMIT ?");
  const usageOf = db.prepare<[string, number, number], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE requester_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`);

  /** The job's row when it is still escrowed; a result to return otherwise. */
  /**
   * The job's row when it is still escrowed; a result to return otherwise: a repeat of the operation that ended it
   * (a settled job has its charge, even once convicted; a refunded one its status), or invalid.
   */
  const escrowed = (jobId: string, operation: 'settle' | 'refund'): JobRow | TransferResult => {
    const job = getJob.get(jobId);
    if (!job) return invalid(`no job ${jobId}`);
    if (job.status === 'escrowed') return job;
    if (operation === 'settle' ? job.charged !== null : job.status === 'refunded') return { ok: true, transferId: ledger.applied(`${operation}:${jobId}`)?.id ?? 0, replayed: true };
    return invalid(`job ${jobId} is ${job.status satisfies JobStatus}, not escrowed`);
  };

  const escrow = db.transaction((jobId: string, requesterId: string, model: string, amount: number, subsidy: boolean): TransferResult => {
    const existing = getJob.get(jobId);
    if (existing) return existing.requesterId === requesterId && existing.escrowed === amount ? { ok: true, transferId: 0, replayed: true } : invalid(`job ${jobId} exists`);
    if (!Number.isSafeInteger(amount) || amount < 0) return invalid(`escrow ${amount} is not a whole amount ≥ 0`);
    const account = requesterAccount(requesterId);
    const shortfall = amount - ledger.balance(account);
    if (subsidy && shortfall > 0) {
      const topUp = ledger.apply({ idempotencyKey: `subsidy:${jobId}`, kind: 'subsidy', memo: 'demo requests are paid by the network', postings: [{ account: MINT, amount: -shortfall }, { account, amount: shortfall }] });
      if (!topUp.ok) return topUp;
    }
    const held = applyNonZero(ledger, { idempotencyKey: `escrow:${jobId}`, kind: 'escrow', memo: `${jobId} (${model})`, postings: [{ account, amount: -amount }, { account: escrowAccount(jobId), amount }] });
    if (!held.ok) return held;
    insertJob.run(jobId, requesterId, model, amount, now().toISOString());
    return held;
  });

  const settle = db.transaction((s: Parameters<BillingStore['settle']>[0]): TransferResult => {
    const job = escrowed(s.jobId, 'settle');
    if ('ok' in job) return job;
    for (const [name, value] of [['charge', s.charge], ['reward', s.reward], ['prompt tokens', s.promptTokens], ['completion tokens', s.completionTokens]] as const)
      if (!Number.isSafeInteger(value) || value < 0) return invalid(`${name} ${value} is not a whole number ≥ 0`);
    if (s.charge > job.escrowed) return invalid(`charge ${s.charge} exceeds the escrow ${job.escrowed}`);
    if (s.reward > s.charge) return invalid(`reward ${s.reward} exceeds the charge ${s.charge}`);
    const result = applyNonZero(ledger, {
      idempotencyKey: `settle:${s.jobId}`,
      kind: 'settle',
      memo: `${s.jobId} (${job.model}): ${s.promptTokens} prompt + ${s.completionTokens} completion tokens`,
      postings: [
        { account: escrowAccount(s.jobId), amount: -job.escrowed },
        { account: requesterAccount(job.requesterId), amount: job.escrowed - s.charge },
        { account: contributorAccount(s.contributorId, 'pending'), amount: s.reward },
        { account: TREASURY, amount: s.charge - s.reward },
      ],
    });
    if (!result.ok) return result;
    settleJob.run(s.charge, s.promptTokens, s.completionTokens, s.contributorId, s.reward, now().toISOString(), s.jobId);
    // A payout to no existing account is no payout: the reward stays the contributor's.
    const payoutTo = s.payoutTo && requesterExists.get(s.payoutTo) ? s.payoutTo : null;
    if (s.reward > 0) insertReward.run(s.jobId, s.contributorId, s.reward, s.dueAt, payoutTo);
    return result;
  });

  const refund = db.transaction((jobId: string, reason: string): TransferResult => {
    const job = escrowed(jobId, 'refund');
    if ('ok' in job) return job;
    const result = applyNonZero(ledger, { idempotencyKey: `refund:${jobId}`, kind: 'refund', memo: `${jobId}: ${reason.slice(0, 200)}`, postings: [{ account: escrowAccount(jobId), amount: -job.escrowed }, { account: requesterAccount(job.requesterId), amount: job.escrowed }] });
    if (result.ok) refundJob.run(reason.slice(0, 200), now().toISOString(), jobId);
    return result;
  });

  return {
    escrow: async (hold) => escrow.immediate(hold.jobId, hold.requesterId, hold.model, hold.amount, hold.subsidy === true),
    settle: async (settlement) => settle.immediate(settlement),
    refund: async (jobId, reason) => refund.immediate(jobId, reason),
    job: async (jobId) => {
      const row = getJob.get(jobId);
      return row ? bill(row) : null;
    },
    escrowedJobs: async (before, limit) => escrowedBefore.all(before, limit).map((r) => r.id),
    async usage(requesterId, page) {
      const rows = usageOf.all(requesterId, page.before ?? Number.MAX_SAFE_INTEGER, page.limit);
      return { jobs: rows.map(bill), next: rows.length === page.limit ? (rows.at(-1)?.seq ?? null) : null };
    },
  };
}
