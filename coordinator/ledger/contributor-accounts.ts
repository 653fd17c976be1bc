/**
 * Contributors' DPHN (issue #5; design.md "Audit rate, reputation, stake"): rewards pending until their job's audit
 * passes or the settlement window ends without a failed one; a conviction refunds the requester, forfeits the
 * contributor's pending rewards and slashes its stake (a share to the verifiers who convicted); verifiers earn a fee
 * per verdict; stake is deposited from available and leaves through an unbonding delay, slashable until released.
 *
 * The minimum stake follows the sampling condition p·(stake + pending) > gain, where gain is the most one job can
 * pay (a job filling the context) and p the contributor's current audit probability: a newcomer on probation
 * (every job audited) needs little, an identity audited at 5% needs 20× a job's reward. A tab takes jobs of a
 * model only while its identity's stake meets that model's minimum (`eligible`, used by the scheduler).
 *
 * Standings of connected contributors are cached here so the scheduler decides synchronously; the store stays the
 * truth and every change re-reads it.
 */
import { contributorAccount } from './accounts.ts';
import type { ContributorStore, Standing } from './economy-store.ts';
import { maxJobReward, minimumStake, priceOf, verifierFee, type PriceTable } from './pricing.ts';
import type { RateLimiter } from '../api/rate-limit.ts';

export interface ContributorAccountsOptions {
  store: ContributorStore;
  prices: PriceTable;
  contributorSharePpm: number;
  /** A verifier's fee per verdict, as a share of what the audited job cost (ppm). */
  verifierFeePpm: number;
  /** The convicting verifiers' share of a slashed stake (ppm), split equally among them. */
  slashVerifierSharePpm: number;
  unbondingMs: number;
  /** µDPHN staked for a new contributor identity, once (the faucet), at most `starterLimiter` allows per address. */
  starterStake: number;
  starterLimiter: RateLimiter;
  /** A model's context length (tokens), or undefined for a model the network does not serve. */
  contextLength: (model: string) => number | undefined;
  /** The chance the identity's next job is audited (audit-policy.ts). */
  auditProbability: (contributorId: string) => number;
  /** Whether the job's audit is under way (its reward waits for the outcome). */
  auditOpen: (jobId: string) => boolean;
  /** A standing changed: tabs may have become eligible. */
  changed: () => void;
  now: () => number;
  log: (message: string) => void;
}

export interface AuditOutcome {
  jobId: string;
  workerId: string;
  status: 'passed' | 'convicted' | 'unverified';
  /** The verifiers whose failing verdicts convicted. */
  convictedBy: readonly string[];
}

export class ContributorAccounts {
  private readonly standings = new Map<string, Standing>();
  /** Identities whose starter stake is being granted: a second tab accepted meanwhile must not take another unit. */
  private readonly granting = new Set<string>();
  private changeQueued = false;
  private readonly gains = new Map<string, number>();

  constructor(private readonly options: ContributorAccountsOptions) {}

  /**
   * The most one job of the model can reward its contributor (the gain a cheater could pocket). Prices and context
   * lengths are fixed at start, and the scheduler asks for every candidate tab: computed once per model.
   */
  maxGain(model: string): number {
    let gain = this.gains.get(model);
    if (gain === undefined) {
      const context = this.options.contextLength(model);
      gain = context === undefined ? 0 : maxJobReward(priceOf(this.options.prices, model), context, this.options.contributorSharePpm);
      this.gains.set(model, gain);
    }
    return gain;
  }

  /**
   * The least stake that lets the identity take the model's jobs now, with audit probability `p` (default: its own)
   * and `pending` rewards (default: its cached standing's).
   */
  minimumStake(contributorId: string, model: string, p = this.options.auditProbability(contributorId), pending = this.standings.get(contributorId)?.pending ?? 0): number {
    return minimumStake({ gain: this.maxGain(model), auditProbability: p, pending });
  }

  /** The least stake for the model at audit probability `p` with nothing pending (what the network page shows). */
  minimumStakeAt(model: string, p: number): number {
    return minimumStake({ gain: this.maxGain(model), auditProbability: p, pending: 0 });
  }

  /** Whether the identity's stake lets it take a job of the model now. */
  eligible(contributorId: string | null, model: string): boolean {
    if (contributorId === null) return false;
    const standing = this.standings.get(contributorId);
    return standing !== undefined && standing.staked >= this.minimumStake(contributorId, model);
  }

  /** A tab of this identity was accepted from `address`: load its standing, and stake a newcomer's starter credits. */
  async accepted(contributorId: string, address: string): Promise<void> {
    await this.guard(`standing of ${contributorId}`, async () => {
      const { store, starterStake, starterLimiter } = this.options;
      const claimant = contributorAccount(contributorId, 'staked');
      if (starterStake > 0 && !this.granting.has(contributorId)) {
        this.granting.add(contributorId);
        try {
          if (!(await store.hasGrant(claimant))) {
            const taken = starterLimiter.take(address);
            if (taken.ok) await store.grantOnce({ claimant, account: claimant, amount: starterStake, kind: 'faucet' });
            else this.options.log(`contributor ${contributorId}: no starter stake, too many new identities from ${address}`);
          }
        } finally {
          this.granting.delete(contributorId);
        }
      }
      await this.refresh(contributorId, true);
    });
  }

  /** The identity has no tab connected any more: forget its cached standing. */
  forget(contributorId: string): void {
    this.standings.delete(contributorId);
  }

  /** A job settled: the worker's pending rewards grew. */
  async settled(contributorId: string): Promise<void> {
    await this.guard(`standing of ${contributorId}`, () => this.refresh(contributorId));
  }

  /** A verifier gave a signed verdict (on a real or a planted transcript, which earn the same): its fee. */
  async verdictGiven(v: { auditId: string; verifierId: string; model: string; promptTokens: number; completionTokens: number }): Promise<void> {
    await this.guard(`fee for ${v.auditId}`, async () => {
      // The counts are the worker's claim: no more than the model's context is paid for, whatever it claimed.
      const context = this.options.contextLength(v.model) ?? 0;
      const prompt = Math.min(v.promptTokens, context);
      const amount = verifierFee(priceOf(this.options.prices, v.model), prompt, Math.min(v.completionTokens, context - prompt), this.options.verifierFeePpm);
      if (amount > 0) await this.options.store.payFee({ key: `fee:${v.auditId}:${v.verifierId}`, verifierId: v.verifierId, amount });
      await this.refresh(v.verifierId);
    });
  }

  /** A real job's audit was decided: a pass matures its reward at once; a conviction moves the money. */
  async auditDecided(outcome: AuditOutcome): Promise<void> {
    await this.guard(`audit outcome of ${outcome.jobId}`, async () => {
      const { store, slashVerifierSharePpm, log } = this.options;
      if (outcome.status === 'passed') await store.matureReward(outcome.jobId);
      if (outcome.status === 'convicted') {
        const result = await store.convict({ jobId: outcome.jobId, contributorId: outcome.workerId, verifiers: outcome.convictedBy, verifierSharePpm: slashVerifierSharePpm });
        if (result.applied)
          log(`contributor ${outcome.workerId} convicted on ${outcome.jobId}: requester refunded ${result.refunded}, pending forfeited ${result.forfeited}, stake slashed ${result.slashed} (${result.toVerifiers} to each of ${outcome.convictedBy.length} verifiers) µDPHN`);
        for (const verifier of outcome.convictedBy) await this.refresh(verifier);
      }
      await this.refresh(outcome.workerId);
    });
  }

  /** Matures rewards whose window ended and releases unbonded stake; call now and then. */
  async sweep(): Promise<void> {
    await this.guard('sweep', async () => {
      const { store, now, auditOpen } = this.options;
      const matured = await store.matureDue(now(), auditOpen, 1000);
      const released = await store.releaseUnbonded(now());
      if (matured + released > 0) for (const id of [...this.standings.keys()]) await this.refresh(id);
    });
  }

  async stake(contributorId: string, amount: number, key: string) {
    const result = await this.options.store.stake(contributorId, amount, key);
    await this.refresh(contributorId);
    return result;
  }

  async unstake(contributorId: string, amount: number, key: string) {
    const result = await this.options.store.unstake(contributorId, amount, this.options.now() + this.options.unbondingMs, key);
    await this.refresh(contributorId);
    return result;
  }

  async standing(contributorId: string): Promise<Standing> {
    return this.options.store.standing(contributorId);
  }

  /** Re-reads the standing of a connected identity (`load`: of one connecting now); others are not cached. */
  private async refresh(contributorId: string, load = false): Promise<void> {
    if (!load && !this.standings.has(contributorId)) return;
    this.standings.set(contributorId, await this.options.store.standing(contributorId));
    this.notifyChanged();
  }

  /** Many standings change at once (a sweep): the scheduler hears of it once. */
  private notifyChanged(): void {
    if (this.changeQueued) return;
    this.changeQueued = true;
    queueMicrotask(() => {
      this.changeQueued = false;
      this.options.changed();
    });
  }

  /** Money matters run beside the jobs: a failure is logged, never thrown into the caller. */
  private async guard(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.options.log(`${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
}
