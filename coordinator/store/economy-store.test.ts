/**
 * Property tests of the economy's store on SQLite (issue #5) over thousands of random sequences of the real
 * operations — requesters created with starter credits, escrow (short balances, subsidies), settle and refund (and
 * invalid bills), rewards maturing one by one or when due, convictions, verifier fees, stake, unstake and release,
 * faucet grants — and replays of earlier operations with the same keys and job ids. A model of every balance,
 * bill, reward, unbonding entry, grant and conviction is kept beside the store; after every operation the ledger
 * audits clean (sum zero, no mismatch, nothing but mint below zero), every balance equals the model's, and each
 * contributor's standing agrees with its rewards and unbonding entries. A replay of an operation that succeeded
 * moves nothing.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom, type Random } from '../../test/unit/random.ts';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY, type AccountId } from '../ledger/accounts.ts';
import type { ConvictionResult, JobStatus, Settlement, Store } from '../ledger/economy-store.ts';
import type { TransferResult } from '../ledger/ledger-store.ts';
import { openSqliteStore } from './sqlite-store.ts';

const SEQUENCES = 1000;
const STEPS = 30;
const CONTRIBUTORS = ['c0', 'c1', 'c2', 'c3'] as const;
/** Verifiers are contributors too, and some only verify. */
const PEOPLE = [...CONTRIBUTORS, 'v0', 'v1'] as const;
const BUCKETS = ['available', 'pending', 'staked', 'unbonding'] as const;

type Op =
  | { type: 'create'; id: string; credits: number }
  | { type: 'escrow'; jobId: string; requesterId: string; amount: number; subsidy: boolean }
  | { type: 'settle'; settlement: Settlement }
  | { type: 'refund'; jobId: string; reason: string }
  | { type: 'matureReward'; jobId: string }
  | { type: 'matureDue'; now: number; held: string[]; limit: number }
  | { type: 'convict'; jobId: string; contributorId: string; verifiers: string[]; ppm: number }
  | { type: 'payFee'; key: string; verifierId: string; amount: number }
  | { type: 'stake'; contributorId: string; amount: number; key: string }
  | { type: 'unstake'; contributorId: string; amount: number; releaseAt: number; key: string }
  | { type: 'release'; now: number }
  | { type: 'grant'; claimant: AccountId; amount: number };

/** What an operation returned, in one comparable shape. */
type Outcome =
  | { ok: true; replayed: boolean }
  | { ok: false; reason: string }
  | { value: boolean | number }
  | { conviction: Omit<ConvictionResult, 'applied'>; applied: boolean }
  | { rejected: true };

interface JobModel {
  requesterId: string;
  escrowed: number;
  status: JobStatus;
  /** Which of settle and refund ended the job (a convicted job was settled first). */
  endedBy: 'settle' | 'refund' | 'convict' | null;
  charged: number | null;
  reward: number | null;
  contributorId: string | null;
}

interface RewardModel {
  contributorId: string;
  /** The requester account it matures into (bound at settlement, when that account existed), else null. */
  payoutTo: string | null;
  amount: number;
  dueAt: number;
  state: 'pending' | 'matured' | 'forfeited';
}

interface UnbondingModel {
  contributorId: string;
  amount: number;
  releaseAt: number;
  state: 'unbonding' | 'released' | 'slashed';
}

const isAmount = (n: number) => Number.isSafeInteger(n) && n >= 0;
const isPositive = (n: number) => Number.isSafeInteger(n) && n > 0;
const invalid: Outcome = { ok: false, reason: 'invalid' };
const fresh: Outcome = { ok: true, replayed: false };
const replayed: Outcome = { ok: true, replayed: true };

/** The documented rule, in exact integer arithmetic: each verifier gets floor(floor(slashed · ppm / 10⁶) / n). */
function verifierShare(slashed: number, ppm: number, verifiers: number): number {
  return verifiers === 0 ? 0 : Number((BigInt(slashed) * BigInt(ppm)) / 1_000_000n / BigInt(verifiers));
}

/** What the store should hold and answer, by the contracts in economy-store.ts. */
class Model {
  readonly balances = new Map<AccountId, number>([
    [MINT, 0],
    [TREASURY, 0],
  ]);
  readonly requesters = new Set<string>();
  readonly grants = new Set<string>();
  /** Caller-keyed transfers applied (stake, unstake, fees): what each key was for. */
  readonly keys = new Map<string, { fingerprint: string }>();
  readonly jobs = new Map<string, JobModel>();
  readonly rewards = new Map<string, RewardModel>();
  readonly unbonding: UnbondingModel[] = [];
  readonly convictions = new Map<string, Omit<ConvictionResult, 'applied'>>();

  balance(account: AccountId): number {
    return this.balances.get(account) ?? 0;
  }

  private move(postings: Array<[AccountId, number]>) {
    let sum = 0;
    for (const [account, amount] of postings) {
      sum += amount;
      this.balances.set(account, this.balance(account) + amount);
      if (account !== MINT && this.balance(account) < 0) throw new Error(`the model took ${account} below zero`);
    }
    if (sum !== 0) throw new Error('the model moved money that does not sum to zero');
  }

  /** The treasury pays; the mint covers what it cannot. */
  private fromTreasury(account: AccountId, amount: number): number {
    const fromTreasury = Math.min(amount, this.balance(TREASURY));
    this.move([
      [TREASURY, -fromTreasury],
      [MINT, fromTreasury - amount],
      [account, amount],
    ]);
    return fromTreasury;
  }

  pendingOf(contributorId: string): number {
    let sum = 0;
    for (const r of this.rewards.values()) if (r.contributorId === contributorId && r.state === 'pending') sum += r.amount;
    return sum;
  }

  unbondingOf(contributorId: string): Array<{ amount: number; releaseAt: number }> {
    return this.unbonding.filter((u) => u.contributorId === contributorId && u.state === 'unbonding').map(({ amount, releaseAt }) => ({ amount, releaseAt }));
  }

  private mature(jobId: string): boolean {
    const reward = this.rewards.get(jobId);
    if (!reward || reward.state !== 'pending') return false;
    this.move([
      [contributorAccount(reward.contributorId, 'pending'), -reward.amount],
      [reward.payoutTo ? requesterAccount(reward.payoutTo) : contributorAccount(reward.contributorId, 'available'), reward.amount],
    ]);
    reward.state = 'matured';
    return true;
  }

  /** Applies the operation to the model and says what the store should answer. */
  apply(op: Op): Outcome {
    switch (op.type) {
      case 'create': {
        if (this.requesters.has(op.id)) return { rejected: true };
        this.requesters.add(op.id);
        const account = requesterAccount(op.id);
        if (op.credits > 0) {
          this.grants.add(account);
          this.move([
            [MINT, -op.credits],
            [account, op.credits],
          ]);
        }
        return { value: true };
      }
      case 'escrow': {
        const existing = this.jobs.get(op.jobId);
        if (existing) return existing.requesterId === op.requesterId && existing.escrowed === op.amount ? replayed : invalid;
        if (!isAmount(op.amount)) return invalid;
        const account = requesterAccount(op.requesterId);
        const shortfall = op.amount - this.balance(account);
        if (op.subsidy && shortfall > 0)
          this.move([
            [MINT, -shortfall],
            [account, shortfall],
          ]);
        if (op.amount > this.balance(account)) return { ok: false, reason: 'insufficient_funds' };
        if (op.amount > 0)
          this.move([
            [account, -op.amount],
            [escrowAccount(op.jobId), op.amount],
          ]);
        this.jobs.set(op.jobId, { requesterId: op.requesterId, escrowed: op.amount, status: 'escrowed', endedBy: null, charged: null, reward: null, contributorId: null });
        return fresh;
      }
      case 'settle': {
        const s = op.settlement;
        const job = this.jobs.get(s.jobId);
        if (!job) return invalid;
        if (job.status !== 'escrowed') return job.endedBy === 'settle' ? replayed : invalid;
        if (![s.charge, s.reward, s.promptTokens, s.completionTokens].every(isAmount) || s.charge > job.escrowed || s.reward > s.charge) return invalid;
        this.move(
          (
            [
              [escrowAccount(s.jobId), -job.escrowed],
              [requesterAccount(job.requesterId), job.escrowed - s.charge],
              [contributorAccount(s.contributorId, 'pending'), s.reward],
              [TREASURY, s.charge - s.reward],
            ] as Array<[AccountId, number]>
          ).filter(([, amount]) => amount !== 0),
        );
        Object.assign(job, { status: 'settled', endedBy: 'settle', charged: s.charge, reward: s.reward, contributorId: s.contributorId });
        const payoutTo = s.payoutTo && this.requesters.has(s.payoutTo) ? s.payoutTo : null;
        if (s.reward > 0) this.rewards.set(s.jobId, { contributorId: s.contributorId, payoutTo, amount: s.reward, dueAt: s.dueAt, state: 'pending' });
        return fresh;
      }
      case 'refund': {
        const job = this.jobs.get(op.jobId);
        if (!job) return invalid;
        if (job.status !== 'escrowed') return job.endedBy === 'refund' ? replayed : invalid;
        if (job.escrowed > 0)
          this.move([
            [escrowAccount(op.jobId), -job.escrowed],
            [requesterAccount(job.requesterId), job.escrowed],
          ]);
        Object.assign(job, { status: 'refunded', endedBy: 'refund' });
        return fresh;
      }
      case 'matureReward':
        return { value: this.mature(op.jobId) };
      case 'matureDue': {
        // Oldest first, skipping held jobs, `limit` at most (dueAt values are distinct within a sequence).
        const due = [...this.rewards].filter(([jobId, r]) => r.state === 'pending' && r.dueAt <= op.now && !op.held.includes(jobId)).sort(([, a], [, b]) => a.dueAt - b.dueAt);
        let matured = 0;
        for (const [jobId] of due.slice(0, op.limit)) if (this.mature(jobId)) matured++;
        return { value: matured };
      }
      case 'convict': {
        const done = this.convictions.get(op.jobId);
        if (done) return { applied: false, conviction: done };
        const c = op.contributorId;
        const forfeited = this.pendingOf(c);
        for (const r of this.rewards.values()) if (r.contributorId === c && r.state === 'pending') r.state = 'forfeited';
        if (forfeited > 0)
          this.move([
            [contributorAccount(c, 'pending'), -forfeited],
            [TREASURY, forfeited],
          ]);
        const staked = this.balance(contributorAccount(c, 'staked'));
        const unbonding = this.balance(contributorAccount(c, 'unbonding'));
        for (const u of this.unbonding) if (u.contributorId === c && u.state === 'unbonding') u.state = 'slashed';
        const slashed = staked + unbonding;
        const each = verifierShare(slashed, op.ppm, op.verifiers.length);
        this.move(
          (
            [
              [contributorAccount(c, 'staked'), -staked],
              [contributorAccount(c, 'unbonding'), -unbonding],
              ...op.verifiers.map((v): [AccountId, number] => [contributorAccount(v, 'available'), each]),
              [TREASURY, slashed - each * op.verifiers.length],
            ] as Array<[AccountId, number]>
          ).filter(([, amount]) => amount !== 0),
        );
        const job = this.jobs.get(op.jobId);
        let refunded = 0;
        if (job?.status === 'settled') {
          refunded = job.charged ?? 0;
          if (refunded > 0) this.fromTreasury(requesterAccount(job.requesterId), refunded);
          job.status = 'convicted';
        } else if (job?.status === 'escrowed') {
          // Convicted before it was billed: the whole escrow returns, and the job can no longer be settled or refunded.
          refunded = job.escrowed;
          if (refunded > 0)
            this.move([
              [escrowAccount(op.jobId), -refunded],
              [requesterAccount(job.requesterId), refunded],
            ]);
          Object.assign(job, { status: 'convicted', endedBy: 'convict' });
        }
        const conviction = { refunded, forfeited, slashed, toVerifiers: each };
        this.convictions.set(op.jobId, conviction);
        return { applied: true, conviction };
      }
      case 'payFee': {
        if (!isPositive(op.amount)) return invalid;
        const fingerprint = `${op.verifierId}|${op.amount}`;
        const applied = this.keys.get(op.key);
        if (applied) return applied.fingerprint === fingerprint ? replayed : { ok: false, reason: 'key_reused' };
        // Fees come from the treasury only, as much as it holds; never minted.
        const paid = Math.min(op.amount, this.balance(TREASURY));
        if (paid === 0) return { ok: false, reason: 'insufficient_funds' };
        this.move([
          [TREASURY, -paid],
          [contributorAccount(op.verifierId, 'available'), paid],
        ]);
        this.keys.set(op.key, { fingerprint });
        return fresh;
      }
      case 'stake':
      case 'unstake': {
        if (!isPositive(op.amount)) return invalid;
        const fingerprint = `${op.type}|${op.contributorId}|${op.amount}`;
        const applied = this.keys.get(op.key);
        if (applied) return applied.fingerprint === fingerprint ? replayed : { ok: false, reason: 'key_reused' };
        const [from, to] = op.type === 'stake' ? (['available', 'staked'] as const) : (['staked', 'unbonding'] as const);
        if (this.balance(contributorAccount(op.contributorId, from)) < op.amount) return { ok: false, reason: 'insufficient_funds' };
        this.move([
          [contributorAccount(op.contributorId, from), -op.amount],
          [contributorAccount(op.contributorId, to), op.amount],
        ]);
        this.keys.set(op.key, { fingerprint });
        if (op.type === 'unstake') this.unbonding.push({ contributorId: op.contributorId, amount: op.amount, releaseAt: op.releaseAt, state: 'unbonding' });
        return fresh;
      }
      case 'release': {
        let released = 0;
        for (const u of this.unbonding)
          if (u.state === 'unbonding' && u.releaseAt <= op.now) {
            this.move([
              [contributorAccount(u.contributorId, 'unbonding'), -u.amount],
              [contributorAccount(u.contributorId, 'available'), u.amount],
            ]);
            u.state = 'released';
            released++;
          }
        return { value: released };
      }
      case 'grant': {
        if (this.grants.has(op.claimant)) return { value: false };
        this.grants.add(op.claimant);
        this.move([
          [MINT, -op.amount],
          [op.claimant, op.amount],
        ]);
        return { value: true };
      }
    }
  }
}

/** Runs the operation against the store and says what it returned. */
async function perform(store: Store, op: Op): Promise<Outcome> {
  const transfer = (result: TransferResult): Outcome => (result.ok ? { ok: true, replayed: result.replayed } : { ok: false, reason: result.reason });
  switch (op.type) {
    case 'create':
      try {
        await store.requesters.create({ id: op.id, name: `requester ${op.id}`, key: { id: `key-${op.id}`, sha256: `sha-${op.id}`, prefix: 'dph_', name: null }, starterCredits: op.credits });
        return { value: true };
      } catch {
        return { rejected: true };
      }
    case 'escrow':
      return transfer(await store.billing.escrow({ jobId: op.jobId, requesterId: op.requesterId, model: 'm', amount: op.amount, subsidy: op.subsidy }));
    case 'settle':
      return transfer(await store.billing.settle(op.settlement));
    case 'refund':
      return transfer(await store.billing.refund(op.jobId, op.reason));
    case 'matureReward':
      return { value: await store.contributors.matureReward(op.jobId) };
    case 'matureDue':
      return { value: await store.contributors.matureDue(op.now, (jobId) => op.held.includes(jobId), op.limit) };
    case 'convict': {
      const { applied, refunded, forfeited, slashed, toVerifiers } = await store.contributors.convict({ jobId: op.jobId, contributorId: op.contributorId, verifiers: op.verifiers, verifierSharePpm: op.ppm });
      return { applied, conviction: { refunded, forfeited, slashed, toVerifiers } };
    }
    case 'payFee':
      return transfer(await store.contributors.payFee({ key: op.key, verifierId: op.verifierId, amount: op.amount }));
    case 'stake':
      return transfer(await store.contributors.stake(op.contributorId, op.amount, op.key));
    case 'unstake':
      return transfer(await store.contributors.unstake(op.contributorId, op.amount, op.releaseAt, op.key));
    case 'release':
      return { value: await store.contributors.releaseUnbonded(op.now) };
    case 'grant':
      return { value: await store.contributors.grantOnce({ claimant: op.claimant, account: op.claimant, amount: op.amount, kind: 'faucet' }) };
  }
}

/** Operations whose repetition must move nothing once they succeeded (matureDue and release are not keyed: they act on what is due now). */
const KEYED = new Set<Op['type']>(['create', 'escrow', 'settle', 'refund', 'matureReward', 'convict', 'payFee', 'stake', 'unstake', 'grant']);

const succeeded = (outcome: Outcome) => ('ok' in outcome && outcome.ok) || ('value' in outcome && outcome.value === true) || ('applied' in outcome && outcome.applied);

interface Done {
  op: Op;
  succeeded: boolean;
}

/** A random amount: mostly what the balance allows, sometimes more, sometimes not an amount at all. */
function amountFor(r: Random, balance: number, badChance: number): number {
  const roll = r.next();
  if (roll < badChance) return r.pick([0, -1, -r.int(1000) - 1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]);
  if (roll < badChance + 0.2) return balance + 1 + r.int(1_000_000);
  if (roll < badChance + 0.3) return Math.max(1, balance); // all of it
  return 1 + r.int(Math.max(1, Math.min(balance, 1_000_000)));
}

/** How often each kind of operation comes (a replay of an earlier one, or a key reused, besides). */
const WEIGHTS = { create: 5, escrow: 18, settle: 18, refund: 6, matureReward: 5, matureDue: 5, convict: 6, payFee: 6, stake: 9, unstake: 7, release: 4, grant: 6 } satisfies Record<Op['type'], number>;
const TOTAL_WEIGHT = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);

/** The next operation of a sequence, chosen from what the model holds now. */
function nextOp(r: Random, m: Model, step: number, done: Done[]): { op: Op; replay?: Done; reuse?: true } {
  const jobIds = [...m.jobs.keys()];
  const withStatus = (status: JobStatus) => jobIds.filter((id) => m.jobs.get(id)?.status === status);
  const escrowed = withStatus('escrowed');
  const requesters = [...m.requesters];
  const anyJob = () => (r.next() < 0.05 || jobIds.length === 0 ? 'job-none' : r.pick(jobIds));
  const openJob = () => (escrowed.length && r.next() < 0.8 ? r.pick(escrowed) : anyJob());
  const time = () => r.int(101) * 100;
  /** Mostly someone with money in the bucket, when there is such a one. */
  const holderOf = (bucket: 'available' | 'staked') => {
    const holders = PEOPLE.filter((p) => m.balance(contributorAccount(p, bucket)) > 0);
    return holders.length && r.next() < 0.8 ? r.pick(holders) : r.pick(PEOPLE);
  };

  const roll = r.next();
  if (done.length && roll < 0.1) {
    // Creating requesters comes early in every sequence; replay it less often than the rest.
    const replay = r.pick(done);
    if (replay.op.type !== 'create' || r.next() < 0.3) return { op: replay.op, replay };
  }
  // The same key for a different amount: refused as key_reused, moving nothing.
  const reusable = done.filter((d) => d.succeeded && (d.op.type === 'stake' || d.op.type === 'unstake' || d.op.type === 'payFee'));
  if (reusable.length && roll >= 0.1 && roll < 0.12) {
    const old = r.pick(reusable).op as Extract<Op, { amount: number }>;
    return { op: { ...old, amount: old.amount + 1 }, reuse: true };
  }
  let pick = r.next() * TOTAL_WEIGHT;
  let type = 'create' as Op['type'];
  for (const [name, weight] of Object.entries(WEIGHTS) as Array<[Op['type'], number]>) {
    if (pick < weight) {
      type = name;
      break;
    }
    pick -= weight;
  }
  if (requesters.length === 0) type = 'create';
  switch (type) {
    case 'create': {
      const credits = r.pick([0, 1 + r.int(1_000_000), 1_000_000 + r.int(5_000_000), 1_000_000 + r.int(5_000_000)]);
      return { op: { type: 'create', id: `r${m.requesters.size}`, credits } };
    }
    case 'escrow': {
      // A job id in use (with another amount) now and then; a requester that does not exist, rarely.
      if (jobIds.length && r.next() < 0.05) {
        const jobId = r.pick(jobIds);
        const job = m.jobs.get(jobId);
        return { op: { type: 'escrow', jobId, requesterId: job?.requesterId ?? 'r0', amount: (job?.escrowed ?? 0) + 1, subsidy: false } };
      }
      if (r.next() < 0.03) return { op: { type: 'escrow', jobId: `job-${step}`, requesterId: 'ghost', amount: 1 + r.int(1000), subsidy: false } };
      const requesterId = r.pick(requesters);
      const amount = r.next() < 0.05 ? 0 : amountFor(r, m.balance(requesterAccount(requesterId)), 0.05);
      return { op: { type: 'escrow', jobId: `job-${step}`, requesterId, amount, subsidy: r.next() < 0.2 } };
    }
    case 'settle': {
      const jobId = openJob();
      const escrow = m.jobs.get(jobId)?.escrowed ?? 1000;
      let charge = r.next() < 0.2 ? escrow : r.int(escrow + 1);
      let reward = r.next() < 0.7 ? Math.floor((charge * 9) / 10) : r.int(charge + 1);
      let promptTokens = r.int(500);
      const bad = r.next();
      if (bad < 0.04) charge = escrow + 1 + r.int(100);
      else if (bad < 0.07) reward = charge + 1;
      else if (bad < 0.09) charge = -1;
      else if (bad < 0.11) reward = 0.5;
      else if (bad < 0.12) promptTokens = -3;
      const contributorId = r.pick(CONTRIBUTORS);
      // Now and then served by a tab lending under a requester's account, or naming one that does not exist (from the
      // step, not the random stream, so the sequences stay what they were).
      const payoutTo = step % 5 === 0 && requesters.length ? (requesters[step % requesters.length] ?? null) : step % 7 === 0 ? 'ghost' : null;
      // Distinct due times within a sequence, so "oldest first" is one order.
      return { op: { type: 'settle', settlement: { jobId, charge, reward, promptTokens, completionTokens: r.int(500), contributorId, dueAt: r.int(100) * 100 + step, payoutTo } } };
    }
    case 'refund':
      return { op: { type: 'refund', jobId: openJob(), reason: r.pick(['cancelled', 'failed', 'no contributor identity']) } };
    case 'matureReward': {
      const pending = [...m.rewards].filter(([, reward]) => reward.state === 'pending').map(([jobId]) => jobId);
      const rewarded = [...m.rewards.keys()];
      const jobId = pending.length && r.next() < 0.6 ? r.pick(pending) : rewarded.length && r.next() < 0.7 ? r.pick(rewarded) : anyJob();
      return { op: { type: 'matureReward', jobId } };
    }
    case 'matureDue': {
      // At most 3 held with a limit of at least 1: the store looks at 4 × limit due rewards, so none is starved here.
      const rewarded = [...m.rewards.keys()];
      const held = rewarded.length ? [...new Set([r.pick(rewarded), r.pick(rewarded), r.pick(rewarded)])].slice(0, r.int(4)) : [];
      return { op: { type: 'matureDue', now: r.next() < 0.5 ? 10_000 : time(), held, limit: 1 + r.int(4) } };
    }
    case 'convict': {
      const settled = withStatus('settled');
      const jobId = settled.length && r.next() < 0.75 ? r.pick(settled) : anyJob();
      const contributorId = m.jobs.get(jobId)?.contributorId ?? r.pick(CONTRIBUTORS);
      const others = PEOPLE.filter((p) => p !== contributorId);
      const verifiers = [...new Set(Array.from({ length: r.int(4) }, () => r.pick(others)))];
      const ppm = r.pick([0, 500_000, 1_000_000, r.int(1_000_001)]);
      return { op: { type: 'convict', jobId, contributorId, verifiers, ppm } };
    }
    case 'payFee':
      return { op: { type: 'payFee', key: `fee-${step}`, verifierId: r.pick(PEOPLE), amount: r.next() < 0.06 ? r.pick([0, -5, 2.5]) : 1 + r.int(2_000_000) } };
    case 'stake': {
      const contributorId = holderOf('available');
      return { op: { type: 'stake', contributorId, amount: amountFor(r, m.balance(contributorAccount(contributorId, 'available')), 0.06), key: `stake-${step}` } };
    }
    case 'unstake': {
      const contributorId = holderOf('staked');
      return { op: { type: 'unstake', contributorId, amount: amountFor(r, m.balance(contributorAccount(contributorId, 'staked')), 0.06), releaseAt: time(), key: `unstake-${step}` } };
    }
    case 'release':
      return { op: { type: 'release', now: r.next() < 0.5 ? 10_000 : time() } };
    case 'grant': {
      const claimants: AccountId[] = [...PEOPLE.map((p) => contributorAccount(p, 'staked')), ...PEOPLE.slice(0, 2).map((p) => contributorAccount(p, 'available')), ...requesters.map((id) => requesterAccount(id))];
      return { op: { type: 'grant', claimant: r.pick(claimants), amount: 1 + r.int(5_000_000) } };
    }
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Every balance the model knows, as the store holds it. */
async function balancesOf(store: Store, model: Model): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const account of model.balances.keys()) out[account] = await store.ledger.balance(account);
  return out;
}

/** The invariants, checked against the store after an operation; throws with what differs. */
async function checkInvariants(store: Store, model: Model, where: () => string): Promise<void> {
  const fail = (what: string, actual: unknown, expected: unknown) => {
    throw new Error(`${where()}: ${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  };
  const audit = await store.ledger.audit();
  if (audit.sum !== 0 || audit.mismatches.length || audit.negative.length) fail('audit', audit, { sum: 0, mismatches: [], negative: [] });
  // Every account the model knows equals the store's. Since both sum to zero and nothing but mint is negative in
  // the store, an account the model does not know holds zero.
  for (const [account, expected] of model.balances) {
    const actual = await store.ledger.balance(account);
    if (actual !== expected) fail(`balance of ${account}`, actual, expected);
  }
  for (const person of PEOPLE) {
    const standing = await store.contributors.standing(person);
    for (const bucket of BUCKETS) if (standing[bucket] !== model.balance(contributorAccount(person, bucket))) fail(`${person}'s ${bucket}`, standing[bucket], model.balance(contributorAccount(person, bucket)));
    const pending = model.pendingOf(person);
    if (standing.pending !== pending) fail(`${person}'s pending vs its pending rewards`, standing.pending, pending);
    const entries = standing.unbondingEntries.reduce((sum, e) => sum + e.amount, 0);
    if (standing.unbonding !== entries) fail(`${person}'s unbonding vs its entries`, standing.unbonding, entries);
    const order = (xs: Array<{ amount: number; releaseAt: number }>) => [...xs].sort((a, b) => a.releaseAt - b.releaseAt || a.amount - b.amount);
    if (!same(order(standing.unbondingEntries), order(model.unbondingOf(person)))) fail(`${person}'s unbonding entries`, standing.unbondingEntries, model.unbondingOf(person));
  }
}

/** At the end of a sequence: every bill as the model has it, and no ended job's escrow holding money. */
async function checkBills(store: Store, model: Model, where: string): Promise<void> {
  for (const [jobId, job] of model.jobs) {
    const bill = await store.billing.job(jobId);
    expect(bill, `${where}: ${jobId}`).toMatchObject({ requesterId: job.requesterId, escrowed: job.escrowed, status: job.status, charged: job.charged, reward: job.reward, contributorId: job.contributorId });
    if (job.status !== 'escrowed') expect(await store.ledger.balance(escrowAccount(jobId)), `${where}: escrow of ${jobId}`).toBe(0);
    else expect(await store.ledger.balance(escrowAccount(jobId)), `${where}: escrow of ${jobId}`).toBe(job.escrowed);
  }
  expect(await store.billing.job('job-none')).toBeNull();
  for (const claimant of model.grants) expect(await store.contributors.hasGrant(claimant), `${where}: grant of ${claimant}`).toBe(true);
}

describe('economy store on SQLite', () => {
  it(`keeps its invariants over ${SEQUENCES.toLocaleString('en')} random sequences of ${STEPS} economy operations, replays included`, async () => {
    const counts: Record<string, number> = {};
    const count = (name: string) => (counts[name] = (counts[name] ?? 0) + 1);
    for (let sequence = 0; sequence < SEQUENCES; sequence++) {
      const r = seededRandom(sequence + 1);
      const store = openSqliteStore({ path: ':memory:' });
      const model = new Model();
      const done: Done[] = [];
      try {
        for (let step = 0; step < STEPS; step++) {
          const { op, replay, reuse } = nextOp(r, model, step, done);
          const where = () => `sequence ${sequence}, step ${step}${replay ? ' (replay)' : reuse ? ' (key reused)' : ''}: ${JSON.stringify(op)}`;
          // A replay of what succeeded, or a key reused for something else, must move nothing.
          const before = (replay?.succeeded && KEYED.has(op.type)) || reuse ? await balancesOf(store, model) : null;
          if (op.type === 'matureDue' && op.held.some((jobId) => model.rewards.get(jobId)?.state === 'pending' && (model.rewards.get(jobId)?.dueAt ?? Infinity) <= op.now)) count('matureDue: held back a due reward');
          const expected = model.apply(op);
          const actual = await perform(store, op);
          if (!same(actual, expected)) {
            throw new Error(`${where()}: the store answered ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
          }
          if (before) {
            const after = await balancesOf(store, model);
            if (!same(after, before)) throw new Error(`${where()}: a replay moved money: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
            count(reuse ? 'keys reused' : 'replays of a success');
          }
          // What kinds of outcome were exercised.
          const label = 'ok' in actual ? (actual.ok ? (actual.replayed ? 'replayed' : 'applied') : actual.reason) : 'applied' in actual ? (actual.applied ? 'applied' : 'again') : 'rejected' in actual ? 'rejected' : String(actual.value);
          count(`${op.type}: ${label}`);
          if (op.type === 'escrow' && op.subsidy && label === 'applied') count('escrow: subsidised');
          await checkInvariants(store, model, where);
          if (!replay) done.push({ op, succeeded: succeeded(actual) });
          else if (succeeded(actual)) replay.succeeded = true; // a retry of what was refused before may go through now
        }
        await checkBills(store, model, `sequence ${sequence}`);
      } finally {
        store.close();
      }
    }
    console.log(`economy store: ${SEQUENCES} sequences × ${STEPS} operations: ${JSON.stringify(Object.fromEntries(Object.entries(counts).sort()))}`);
    // Every path was exercised, many times.
    for (const [name, least] of Object.entries({
      'create: true': 1500,
      'create: rejected': 50,
      'escrow: applied': 2000,
      'escrow: subsidised': 500,
      'escrow: replayed': 150,
      'escrow: insufficient_funds': 800,
      'escrow: invalid': 200,
      'settle: applied': 1000,
      'settle: replayed': 500,
      'settle: invalid': 1000,
      'refund: applied': 300,
      'refund: replayed': 80,
      'refund: invalid': 500,
      'matureReward: true': 150,
      'matureReward: false': 500,
      'matureDue: 1': 50,
      'matureDue: held back a due reward': 10,
      'release: 1': 50,
      'convict: applied': 600,
      'convict: again': 250,
      // Fees are paid only from what the treasury holds, often nothing in a short random sequence.
      'payFee: applied': 300,
      'payFee: insufficient_funds': 500,
      'payFee: replayed': 8,
      'payFee: key_reused': 30,
      'payFee: invalid': 40,
      'stake: applied': 300,
      'stake: replayed': 25,
      'stake: insufficient_funds': 700,
      'stake: invalid': 70,
      'stake: key_reused': 30,
      'unstake: applied': 300,
      'unstake: replayed': 10,
      'unstake: insufficient_funds': 600,
      'unstake: key_reused': 30,
      'grant: true': 700,
      'grant: false': 200,
      'replays of a success': 600,
      'keys reused': 100,
    }))
      expect(counts[name] ?? 0, name).toBeGreaterThanOrEqual(least);
  }, 60_000);

  it('convicts once per job: forfeits all pending, slashes staked and unbonding, pays the verifiers, refunds the charge', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const { billing, contributors, requesters, ledger } = store;
    await requesters.create({ id: 'r', name: 'r', key: { id: 'k', sha256: 'h', prefix: 'p', name: null }, starterCredits: 10_000 });
    for (const [i, charge] of [1000, 600, 400].entries()) {
      expect(await billing.escrow({ jobId: `j${i}`, requesterId: 'r', model: 'm', amount: 1000 })).toMatchObject({ ok: true, replayed: false });
      expect(await billing.settle({ jobId: `j${i}`, charge, reward: (charge * 9) / 10, promptTokens: 1, completionTokens: 1, contributorId: 'c', dueAt: i })).toMatchObject({ ok: true, replayed: false });
    }
    expect(await contributors.matureReward('j2')).toBe(true); // 360 available
    expect(await contributors.grantOnce({ claimant: contributorAccount('c', 'staked'), account: contributorAccount('c', 'staked'), amount: 7_000, kind: 'faucet' })).toBe(true);
    expect(await contributors.unstake('c', 3_001, 10, 'u1')).toMatchObject({ ok: true });
    expect(await contributors.standing('c')).toEqual({ available: 360, pending: 1440, staked: 3_999, unbonding: 3_001, unbondingEntries: [{ amount: 3_001, releaseAt: 10 }] });
    const treasury = await ledger.balance(TREASURY); // 100 + 60 + 40
    const requester = await ledger.balance(requesterAccount('r')); // 10,000 − 2,000
    const result = await contributors.convict({ jobId: 'j1', contributorId: 'c', verifiers: ['v1', 'v2', 'v3'], verifierSharePpm: 333_333 });
    // floor(floor(7,000 × 0.333333) / 3) = floor(2,333 / 3) = 777.
    expect(result).toEqual({ applied: true, refunded: 600, forfeited: 1440, slashed: 7_000, toVerifiers: 777 });
    expect(await contributors.standing('c')).toEqual({ available: 360, pending: 0, staked: 0, unbonding: 0, unbondingEntries: [] });
    for (const v of ['v1', 'v2', 'v3']) expect(await ledger.balance(contributorAccount(v, 'available'))).toBe(777);
    expect(await ledger.balance(TREASURY)).toBe(treasury + 1440 + 7_000 - 3 * 777 - 600);
    expect(await ledger.balance(requesterAccount('r'))).toBe(requester + 600);
    expect(await billing.job('j1')).toMatchObject({ status: 'convicted', charged: 600 });
    expect(await contributors.matureReward('j0')).toBe(false); // forfeited
    expect(await contributors.releaseUnbonded(100)).toBe(0); // slashed, not released
    // Again: nothing moves, the first result is reported.
    expect(await contributors.convict({ jobId: 'j1', contributorId: 'c', verifiers: ['v1', 'v2', 'v3'], verifierSharePpm: 333_333 })).toEqual({ ...result, applied: false });
    expect(await ledger.balance(TREASURY)).toBe(treasury + 1440 + 7_000 - 3 * 777 - 600);
    expect(await ledger.balance(requesterAccount('r'))).toBe(requester + 600);
    // A settled or convicted job cannot be refunded; settling it again is a replay.
    expect(await billing.refund('j1', 'late')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await billing.settle({ jobId: 'j1', charge: 600, reward: 540, promptTokens: 1, completionTokens: 1, contributorId: 'c', dueAt: 1 })).toMatchObject({ ok: true, replayed: true });
    expect(await ledger.audit()).toEqual({ sum: 0, mismatches: [], negative: [] });
    store.close();
  });

  it("matures a reward into the requester account bound to it when its job settled, or the contributor's own", async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const { billing, contributors, requesters, ledger } = store;
    await requesters.create({ id: 'acct_site', name: 'site', key: { id: 'k', sha256: 'h', prefix: 'p', name: null }, starterCredits: 10_000 });
    await requesters.create({ id: 'user', name: 'user', key: { id: 'k2', sha256: 'h2', prefix: 'p', name: null }, starterCredits: 10_000 });
    // Served under the site's account; then under none; then naming an account that does not exist.
    for (const [i, payoutTo] of (['acct_site', null, 'acct_gone'] as const).entries()) {
      await billing.escrow({ jobId: `j${i}`, requesterId: 'user', model: 'm', amount: 1000 });
      expect(await billing.settle({ jobId: `j${i}`, charge: 1000, reward: 800, promptTokens: 1, completionTokens: 1, contributorId: 'lent', dueAt: i, payoutTo })).toMatchObject({ ok: true });
    }
    const site = await ledger.balance(requesterAccount('acct_site'));
    expect(await contributors.matureReward('j1')).toBe(true);
    expect(await contributors.matureReward('j0')).toBe(true);
    expect(await contributors.matureDue(10, () => false, 10)).toBe(1);
    expect(await ledger.balance(requesterAccount('acct_site'))).toBe(site + 800);
    expect(await contributors.standing('lent')).toMatchObject({ available: 1600, pending: 0 });
    expect(await ledger.audit()).toEqual({ sum: 0, mismatches: [], negative: [] });
    store.close();
  });

  it('refuses an escrow the balance cannot cover and changes nothing; a subsidy tops the balance up to the amount', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const { billing, requesters, ledger } = store;
    await requesters.create({ id: 'r', name: 'r', key: { id: 'k', sha256: 'h', prefix: 'p', name: null }, starterCredits: 500 });
    expect(await billing.escrow({ jobId: 'j', requesterId: 'r', model: 'm', amount: 501 })).toMatchObject({ ok: false, reason: 'insufficient_funds' });
    expect(await billing.job('j')).toBeNull();
    expect(await ledger.balance(requesterAccount('r'))).toBe(500);
    expect(await billing.escrow({ jobId: 'j', requesterId: 'r', model: 'm', amount: 501, subsidy: true })).toMatchObject({ ok: true, replayed: false });
    expect(await ledger.balance(requesterAccount('r'))).toBe(0);
    expect(await ledger.balance(escrowAccount('j'))).toBe(501);
    expect(await ledger.balance(MINT)).toBe(-501);
    expect(await billing.escrow({ jobId: 'j', requesterId: 'r', model: 'm', amount: 501, subsidy: true })).toMatchObject({ ok: true, replayed: true });
    expect(await billing.escrow({ jobId: 'j', requesterId: 'r', model: 'm', amount: 502, subsidy: true })).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await ledger.balance(MINT)).toBe(-501);
    expect(await billing.refund('j', 'cancelled')).toMatchObject({ ok: true, replayed: false });
    expect(await billing.refund('j', 'cancelled')).toMatchObject({ ok: true, replayed: true });
    expect(await billing.settle({ jobId: 'j', charge: 1, reward: 0, promptTokens: 1, completionTokens: 1, contributorId: 'c', dueAt: 0 })).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await ledger.balance(requesterAccount('r'))).toBe(501);
    expect(await ledger.balance(escrowAccount('j'))).toBe(0);
    store.close();
  });

  /** A store whose treasury holds 40 µDPHN (from one settled job). */
  async function withTreasury() {
    const store = openSqliteStore({ path: ':memory:' });
    const { billing, requesters, ledger } = store;
    await requesters.create({ id: 'r', name: 'r', key: { id: 'k', sha256: 'h', prefix: 'p', name: null }, starterCredits: 2000 });
    await billing.escrow({ jobId: 'j', requesterId: 'r', model: 'm', amount: 1000 });
    await billing.settle({ jobId: 'j', charge: 400, reward: 360, promptTokens: 1, completionTokens: 1, contributorId: 'c', dueAt: 0 });
    expect(await ledger.balance(TREASURY)).toBe(40);
    return store;
  }

  it('pays a verifier fee from the treasury only, as much as it holds, and answers a retry from its key', async () => {
    const store = await withTreasury();
    const { billing, contributors, ledger } = store;
    const supply = -(await ledger.balance(MINT));
    expect(await contributors.payFee({ key: 'fee:a1:v', verifierId: 'v', amount: 100 })).toMatchObject({ ok: true, replayed: false });
    expect(await ledger.balance(contributorAccount('v', 'available'))).toBe(40);
    expect(await ledger.balance(TREASURY)).toBe(0);
    // An empty treasury pays nothing.
    expect(await contributors.payFee({ key: 'fee:a2:v', verifierId: 'v', amount: 100 })).toMatchObject({ ok: false, reason: 'insufficient_funds' });
    // The treasury fills again; a retry of the first fee is a replay, and moves nothing.
    await billing.escrow({ jobId: 'j2', requesterId: 'r', model: 'm', amount: 1000 });
    await billing.settle({ jobId: 'j2', charge: 400, reward: 360, promptTokens: 1, completionTokens: 1, contributorId: 'c', dueAt: 0 });
    expect(await contributors.payFee({ key: 'fee:a1:v', verifierId: 'v', amount: 100 })).toMatchObject({ ok: true, replayed: true });
    expect(await ledger.balance(contributorAccount('v', 'available'))).toBe(40);
    expect(await ledger.balance(TREASURY)).toBe(40);
    expect(-(await ledger.balance(MINT))).toBe(supply); // nothing minted
    store.close();
  });

  it('answers a fee key reused for another fee (amount or verifier) with key_reused, moving nothing', async () => {
    const store = await withTreasury();
    const { contributors, ledger } = store;
    expect(await contributors.payFee({ key: 'fee:a1:v', verifierId: 'v', amount: 10 })).toMatchObject({ ok: true, replayed: false });
    const other = await contributors.payFee({ key: 'fee:a1:v', verifierId: 'w', amount: 25 });
    expect(await ledger.balance(contributorAccount('w', 'available'))).toBe(0); // nothing moved, as it should
    expect(other).toMatchObject({ ok: false, reason: 'key_reused' });
    store.close();
  });

  // slashed × ppm passes 2^53 here (a stake above ~9,007 DPHN at 100%): the share must still be exact.
  it('pays the verifiers an exact share of a large slashed stake', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const { contributors } = store;
    const slashed = 78_912_368_906; // µDPHN: about 78,912 DPHN
    const ppm = 953_766;
    expect(await contributors.grantOnce({ claimant: contributorAccount('c', 'staked'), account: contributorAccount('c', 'staked'), amount: slashed, kind: 'faucet' })).toBe(true);
    const result = await contributors.convict({ jobId: 'j', contributorId: 'c', verifiers: ['v'], verifierSharePpm: ppm });
    expect(result.slashed).toBe(slashed);
    expect(result.toVerifiers).toBe(verifierShare(slashed, ppm, 1)); // 75,263,934,441
    store.close();
  });
});
