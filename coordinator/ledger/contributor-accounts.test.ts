/**
 * ContributorAccounts over a real in-memory SQLite store, with an injected clock and a real RateLimiter: starter
 * stakes, eligibility by the sampling condition, verifier fees, audit outcomes (maturing, conviction and slashing),
 * the sweep, staking and unstaking. Jobs are billed through the real Billing, so rewards exist as they would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { contributorAccount, MINT, requesterAccount, TREASURY } from './accounts.ts';
import { Billing } from './billing.ts';
import { ContributorAccounts } from './contributor-accounts.ts';
import type { Store } from './economy-store.ts';
import { costOf, maxJobReward, minimumStake, splitCharge, verifierFee, type ModelPrice, type PriceTable } from './pricing.ts';
import { RateLimiter } from '../api/rate-limit.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';

const PRICE: ModelPrice = { promptPer1K: 50_000, completionPer1K: 200_000 };
const PRICES: PriceTable = { default: PRICE, models: {} };
const MODEL = 'dolphin-tiny';
const CONTEXT = 2048;
const SHARE = 800_000;
const FEE_PPM = 250_000;
const SLASH_SHARE = 500_000;
const HOUR = 3_600_000;
const WINDOW = 24 * HOUR;
const UNBONDING = 7 * 24 * HOUR;
const STARTER = 5_000_000;
const ADDRESS = '203.0.113.7';
const T0 = 1_700_000_000_000;
const FUNDS = 1_000_000_000_000;

/** The most one job of MODEL pays its contributor: the whole context at the completion price, 80%. */
const GAIN = maxJobReward(PRICE, CONTEXT, SHARE);

let store: Store;
afterEach(() => store.close());

async function setup(options: { limit?: number; starterStake?: number } = {}) {
  const clock = { now: T0 };
  store = openSqliteStore({ path: ':memory:', now: () => new Date(clock.now) });
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  /** Audit probability per identity (1, probation, unless set). */
  const probability = new Map<string, number>();
  /** Jobs whose audit is under way. */
  const open = new Set<string>();
  const changes = { count: 0 };
  const accounts = new ContributorAccounts({
    store: store.contributors,
    prices: PRICES,
    contributorSharePpm: SHARE,
    verifierFeePpm: FEE_PPM,
    slashVerifierSharePpm: SLASH_SHARE,
    unbondingMs: UNBONDING,
    starterStake: options.starterStake ?? STARTER,
    starterLimiter: new RateLimiter({ limit: options.limit ?? 2, windowMs: HOUR, now: () => clock.now }),
    contextLength: (model) => (model === MODEL ? CONTEXT : undefined),
    auditProbability: (id) => probability.get(id) ?? 1,
    auditOpen: (jobId) => open.has(jobId),
    changed: () => changes.count++,
    now: () => clock.now,
    log,
  });
  const billing = new Billing({ store: store.billing, prices: PRICES, contributorSharePpm: SHARE, settlementWindowMs: WINDOW, now: () => clock.now, log });
  await store.requesters.ensure({ id: 'alice', name: 'Alice' });
  await store.ledger.transfer({ idempotencyKey: 'fund:alice', kind: 'faucet', postings: [{ account: MINT, amount: -FUNDS }, { account: requesterAccount('alice'), amount: FUNDS }] });

  /** Bills a job served by `worker` through Billing (hold, then done) and tells the accounts; returns its charge and reward. */
  const serve = async (jobId: string, worker: string, promptTokens = 100, completionTokens = 321) => {
    const quote = billing.quote(MODEL, promptTokens, completionTokens, CONTEXT);
    expect(await billing.hold(jobId, 'alice', MODEL, quote, false)).toEqual({ ok: true });
    await billing.jobEnded(jobId, { type: 'done', promptTokens, completionTokens, contributorId: worker });
    await accounts.settled(worker);
    const charge = costOf(PRICE, promptTokens, completionTokens);
    return { charge, reward: splitCharge(charge, SHARE).contributor };
  };
  const balance = (account: Parameters<Store['ledger']['balance']>[0]) => store.ledger.balance(account);
  const standing = (id: string) => accounts.standing(id);
  return { clock, logs, probability, open, changes, accounts, billing, serve, balance, standing };
}

async function expectLedgerSound() {
  expect(await store.ledger.audit()).toEqual({ sum: 0, mismatches: [], negative: [] });
}

describe('ContributorAccounts: the starter stake', () => {
  it('stakes the starter stake once per identity: a second accept or a reconnect grants nothing more', async () => {
    const { accounts, standing, changes } = await setup();
    await accounts.accepted('worker', ADDRESS);
    expect(await standing('worker')).toMatchObject({ available: 0, pending: 0, staked: STARTER, unbonding: 0 });
    expect(changes.count).toBe(1);
    await accounts.accepted('worker', ADDRESS);
    await accounts.accepted('worker', '198.51.100.1');
    accounts.forget('worker');
    await accounts.accepted('worker', ADDRESS); // reconnect
    expect((await standing('worker')).staked).toBe(STARTER);
    expect((await store.ledger.totals()).supply).toBe(FUNDS + STARTER);
    await expectLedgerSound();
  });

  it('grants at most `limit` new identities per address per hour; reconnects do not count', async () => {
    const { accounts, standing, clock, logs } = await setup({ limit: 2 });
    await accounts.accepted('a', ADDRESS);
    await accounts.accepted('a', ADDRESS); // a reconnect takes no unit
    await accounts.accepted('a', ADDRESS);
    await accounts.accepted('b', ADDRESS);
    await accounts.accepted('c', ADDRESS);
    expect((await standing('a')).staked).toBe(STARTER);
    expect((await standing('b')).staked).toBe(STARTER);
    expect((await standing('c')).staked).toBe(0);
    expect(logs.some((l) => l.includes('contributor c') && l.includes(ADDRESS))).toBe(true);
    // Another address has its own allowance.
    await accounts.accepted('d', '198.51.100.1');
    expect((await standing('d')).staked).toBe(STARTER);
    // An hour on, the address may bring a new identity again: c (which got nothing) gets its stake now.
    clock.now += HOUR - 1;
    await accounts.accepted('c', ADDRESS);
    expect((await standing('c')).staked).toBe(0);
    clock.now += 1;
    await accounts.accepted('c', ADDRESS);
    expect((await standing('c')).staked).toBe(STARTER);
    expect((await store.ledger.totals()).supply).toBe(FUNDS + 4 * STARTER);
  });

  // BUG: two tabs of one new identity accepted at once (e.g. a browser restoring several tabs) both see "no grant
  // yet" and both take a unit of the address's hourly allowance, though only one stake is granted; the address's
  // next genuinely new identity is then refused. See the report.
  it("two tabs of one new identity accepted at once take one unit of the address's allowance, not two", async () => {
    const { accounts, standing } = await setup({ limit: 2 });
    await Promise.all([accounts.accepted('a', ADDRESS), accounts.accepted('a', ADDRESS)]);
    expect((await standing('a')).staked).toBe(STARTER);
    await accounts.accepted('b', ADDRESS);
    expect((await standing('b')).staked).toBe(STARTER);
  });

  it('no starter stake configured: nothing is granted and no allowance is used', async () => {
    const { accounts, standing } = await setup({ starterStake: 0 });
    await accounts.accepted('a', ADDRESS);
    expect(await standing('a')).toMatchObject({ staked: 0, available: 0 });
    expect(await store.contributors.hasGrant(contributorAccount('a', 'staked'))).toBe(false);
  });
});

describe('ContributorAccounts: eligibility', () => {
  it('is false for a null id, an identity never accepted, and one forgotten', async () => {
    const { accounts } = await setup();
    expect(accounts.eligible(null, MODEL)).toBe(false);
    expect(accounts.eligible('stranger', MODEL)).toBe(false);
    // Staked in the store but not accepted here (no tab connected): not eligible.
    await accounts.accepted('worker', ADDRESS);
    expect(accounts.eligible('worker', MODEL)).toBe(true);
    accounts.forget('worker');
    expect(accounts.eligible('worker', MODEL)).toBe(false);
  });

  it('on probation (every job audited) the starter stake suffices: p = 1 needs gain + 1', async () => {
    const { accounts } = await setup();
    expect(accounts.maxGain(MODEL)).toBe(GAIN);
    expect(GAIN).toBe(327_680); // 2048 tokens at 0.2 DPHN per 1K, 80%
    expect(accounts.maxGain('unserved')).toBe(0);
    await accounts.accepted('worker', ADDRESS);
    expect(accounts.minimumStake('worker', MODEL)).toBe(GAIN + 1);
    expect(accounts.minimumStake('worker', MODEL)).toBeLessThanOrEqual(STARTER);
    expect(accounts.eligible('worker', MODEL)).toBe(true);
  });

  it('at p = 0.05 the stake must reach floor(gain/p) + 1 − pending, and rising pending lowers it', async () => {
    const { accounts, probability, serve, standing } = await setup();
    await accounts.accepted('worker', ADDRESS);
    probability.set('worker', 0.05);
    const atFivePercent = Math.floor(GAIN / 0.05) + 1;
    expect(atFivePercent).toBe(6_553_601);
    expect(accounts.minimumStakeAt(MODEL, 0.05)).toBe(atFivePercent);
    expect(accounts.minimumStake('worker', MODEL)).toBe(atFivePercent);
    expect(accounts.minimumStake('worker', MODEL, 1)).toBe(GAIN + 1);
    expect(accounts.eligible('worker', MODEL)).toBe(false); // 5 DPHN < 6.553601 DPHN

    // Each job that fills the context adds GAIN pending. It needs (6,553,601 − 5,000,000) / 327,680 → 5 of them.
    let pending = 0;
    for (let i = 1; i <= 5; i++) {
      const { reward } = await serve(`job-${i}`, 'worker', 0, CONTEXT);
      expect(reward).toBe(GAIN);
      pending += reward;
      expect((await standing('worker')).pending).toBe(pending);
      const required = accounts.minimumStake('worker', MODEL);
      expect(required).toBe(Math.max(0, atFivePercent - pending));
      expect(required).toBe(minimumStake({ gain: GAIN, auditProbability: 0.05, pending }));
      // The sampling condition: p·(stake + pending) > gain holds at the minimum and fails one below it.
      expect(0.05 * (required + pending) > GAIN).toBe(true);
      expect(0.05 * (required - 1 + pending) > GAIN).toBe(false);
      expect(accounts.eligible('worker', MODEL)).toBe(STARTER >= required);
      expect(accounts.eligible('worker', MODEL)).toBe(i >= 5);
    }
    // The figure shown on the network page ignores pending.
    expect(accounts.minimumStakeAt(MODEL, 0.05)).toBe(atFivePercent);
  });

  it('unstaking below the minimum makes the identity ineligible at once', async () => {
    const { accounts } = await setup();
    await accounts.accepted('worker', ADDRESS);
    expect(accounts.eligible('worker', MODEL)).toBe(true);
    expect(await accounts.unstake('worker', STARTER - GAIN, 'unstake-1')).toMatchObject({ ok: true });
    expect(accounts.eligible('worker', MODEL)).toBe(false); // GAIN staked, GAIN + 1 needed
  });
});

describe('ContributorAccounts: verifier fees', () => {
  it("pays the verifier's fee from the treasury into its available balance, once per audit", async () => {
    const { accounts, serve, balance, standing, changes } = await setup();
    await accounts.accepted('verifier', ADDRESS);
    // A fee (25% of a job's cost) is more than the treasury's part of that job (20%): three jobs fund two fees.
    let treasury = 0;
    for (const jobId of ['job-1', 'job-2', 'job-3']) {
      const { charge, reward } = await serve(jobId, 'worker');
      treasury += charge - reward;
    }
    expect(await balance(TREASURY)).toBe(treasury);
    const supply = (await store.ledger.totals()).supply;
    const fee = verifierFee(PRICE, 100, 321, FEE_PPM);
    expect(fee).toBe(Math.ceil((costOf(PRICE, 100, 321) * FEE_PPM) / 1e6));
    const before = changes.count;
    await accounts.verdictGiven({ auditId: 'audit-1', verifierId: 'verifier', model: MODEL, promptTokens: 100, completionTokens: 321 });
    expect(await standing('verifier')).toMatchObject({ available: fee, staked: STARTER });
    expect(await balance(TREASURY)).toBe(treasury - fee);
    expect(changes.count).toBe(before + 1);
    // The same verdict again earns nothing more; another audit does.
    await accounts.verdictGiven({ auditId: 'audit-1', verifierId: 'verifier', model: MODEL, promptTokens: 100, completionTokens: 321 });
    expect((await standing('verifier')).available).toBe(fee);
    await accounts.verdictGiven({ auditId: 'audit-2', verifierId: 'verifier', model: MODEL, promptTokens: 100, completionTokens: 321 });
    expect((await standing('verifier')).available).toBe(2 * fee);
    expect(await balance(TREASURY)).toBe(treasury - 2 * fee);
    expect((await store.ledger.totals()).supply).toBe(supply); // the treasury paid: nothing minted
    await expectLedgerSound();
  });

  // BUG: the fee is computed on the token counts of the transcript, which for a model without a tokenizer are the
  // worker's own claim (the job board checks promptTokens only when it could count the prompt). A worker and a
  // verifier of one owner can inflate promptTokens and have the treasury — then the mint — pay an unbounded fee,
  // though the requester was charged at most a whole context's worth. See the report.
  it("a verdict's fee is no more than the fee on the dearest job the model's context allows", async () => {
    const { accounts, standing } = await setup();
    const dearest = verifierFee({ promptPer1K: PRICE.completionPer1K, completionPer1K: PRICE.completionPer1K }, CONTEXT, 0, FEE_PPM);
    await accounts.verdictGiven({ auditId: 'audit-inflated', verifierId: 'verifier', model: MODEL, promptTokens: 100_000_000_000, completionTokens: 4 });
    expect((await standing('verifier')).available).toBeLessThanOrEqual(dearest);
  });

  it('with an empty treasury no fee is paid: fees never create DPHN', async () => {
    const { accounts, standing } = await setup();
    expect(await store.ledger.balance(TREASURY)).toBe(0);
    const supply = (await store.ledger.totals()).supply;
    await accounts.verdictGiven({ auditId: 'planted-1', verifierId: 'verifier', model: MODEL, promptTokens: 6, completionTokens: 4 });
    expect((await standing('verifier')).available).toBe(0);
    expect((await store.ledger.totals()).supply).toBe(supply);
    await expectLedgerSound();
  });

  it('a treasury too small for the fee pays what it has, and nothing is minted', async () => {
    const { accounts, serve, standing, balance } = await setup();
    const { charge, reward } = await serve('job-1', 'worker', 1, 1); // a tiny job: the treasury gets 50 µDPHN
    expect(charge - reward).toBe(50);
    const supply = (await store.ledger.totals()).supply;
    await accounts.verdictGiven({ auditId: 'audit-1', verifierId: 'verifier', model: MODEL, promptTokens: 100, completionTokens: 321 });
    expect(verifierFee(PRICE, 100, 321, FEE_PPM)).toBeGreaterThan(50);
    expect((await standing('verifier')).available).toBe(50);
    expect(await balance(TREASURY)).toBe(0);
    expect((await store.ledger.totals()).supply).toBe(supply);
    await expectLedgerSound();
  });
});

describe('ContributorAccounts: audit outcomes', () => {
  it("a passed audit makes that job's reward available at once; others stay pending", async () => {
    const { accounts, serve, standing, changes } = await setup();
    await accounts.accepted('worker', ADDRESS);
    const first = await serve('job-1', 'worker');
    const second = await serve('job-2', 'worker', 50, 60);
    expect(await standing('worker')).toMatchObject({ available: 0, pending: first.reward + second.reward });
    const before = changes.count;
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'passed', convictedBy: [] });
    expect(await standing('worker')).toMatchObject({ available: first.reward, pending: second.reward, staked: STARTER });
    expect(changes.count).toBe(before + 1);
    // Deciding it again changes nothing; an unverified audit leaves its reward pending.
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'passed', convictedBy: [] });
    await accounts.auditDecided({ jobId: 'job-2', workerId: 'worker', status: 'unverified', convictedBy: [] });
    expect(await standing('worker')).toMatchObject({ available: first.reward, pending: second.reward });
    await expectLedgerSound();
  });

  it("a job served by a tab that named a payout account pays its reward there once its audit passes", async () => {
    const { accounts, billing, standing, balance } = await setup();
    await store.requesters.ensure({ id: 'acct_site', name: 'A site' });
    await accounts.accepted('lent', ADDRESS);
    const quote = billing.quote(MODEL, 100, 321, CONTEXT);
    expect(await billing.hold('job-1', 'alice', MODEL, quote, false)).toEqual({ ok: true });
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 321, contributorId: 'lent', payoutTo: 'acct_site' });
    await accounts.settled('lent');
    const reward = splitCharge(costOf(PRICE, 100, 321), SHARE).contributor;
    expect(await standing('lent')).toMatchObject({ available: 0, pending: reward });
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'lent', status: 'passed', convictedBy: [] });
    expect(await balance(requesterAccount('acct_site'))).toBe(reward);
    expect(await standing('lent')).toMatchObject({ available: 0, pending: 0, staked: STARTER });
    await expectLedgerSound();
  });

  it("a conviction refunds the requester, forfeits all the worker's pending, slashes its stake and unbonding, and pays the convicting verifiers", async () => {
    const { accounts, serve, standing, balance, clock } = await setup();
    await accounts.accepted('worker', ADDRESS);
    await accounts.accepted('v1', '198.51.100.1');
    await accounts.accepted('v2', '198.51.100.2');
    await accounts.accepted('bystander', '198.51.100.3');
    const convicted = await serve('job-1', 'worker');
    const other = await serve('job-2', 'worker', 50, 60);
    // Some of the worker's earlier reward is available (a passed audit) and some stake is on its way out.
    const passed = await serve('job-0', 'worker', 10, 10);
    await accounts.auditDecided({ jobId: 'job-0', workerId: 'worker', status: 'passed', convictedBy: [] });
    expect((await accounts.unstake('worker', 1_000_000, 'unstake-1')).ok).toBe(true);
    expect(await standing('worker')).toMatchObject({ available: passed.reward, pending: convicted.reward + other.reward, staked: STARTER - 1_000_000, unbonding: 1_000_000 });

    const requesterBefore = await balance(requesterAccount('alice'));
    const treasuryBefore = await balance(TREASURY);
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'convicted', convictedBy: ['v1', 'v2'] });

    const slashed = STARTER; // staked + unbonding
    const each = Math.floor(Math.floor((slashed * SLASH_SHARE) / 1e6) / 2);
    expect(each).toBe(1_250_000);
    expect(await balance(requesterAccount('alice'))).toBe(requesterBefore + convicted.charge);
    expect(await standing('worker')).toMatchObject({ available: passed.reward, pending: 0, staked: 0, unbonding: 0, unbondingEntries: [] });
    expect(await standing('v1')).toMatchObject({ available: each, staked: STARTER });
    expect(await standing('v2')).toMatchObject({ available: each, staked: STARTER });
    expect(await standing('bystander')).toMatchObject({ available: 0, staked: STARTER });
    expect(await balance(TREASURY)).toBe(treasuryBefore + (convicted.reward + other.reward) + (slashed - 2 * each) - convicted.charge);
    expect((await store.billing.job('job-1'))?.status).toBe('convicted');
    expect(accounts.eligible('worker', MODEL)).toBe(false);
    expect(accounts.eligible('v1', MODEL)).toBe(true);

    // Once per job: deciding it again moves nothing.
    const after = { worker: await standing('worker'), v1: await standing('v1'), treasury: await balance(TREASURY), requester: await balance(requesterAccount('alice')) };
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'convicted', convictedBy: ['v1', 'v2'] });
    expect({ worker: await standing('worker'), v1: await standing('v1'), treasury: await balance(TREASURY), requester: await balance(requesterAccount('alice')) }).toEqual(after);

    // The slashed unbonding never comes back; the forfeited rewards never mature.
    clock.now += UNBONDING + WINDOW;
    await accounts.sweep();
    expect(await standing('worker')).toMatchObject({ available: passed.reward, pending: 0, staked: 0, unbonding: 0 });
    await expectLedgerSound();
  });

  it('a conviction with a treasury too small for the refund: the mint covers it', async () => {
    const { accounts, serve, balance } = await setup();
    await accounts.accepted('worker', ADDRESS);
    const { charge } = await serve('job-1', 'worker');
    // The treasury paid out a large fee meanwhile: it is empty before the conviction.
    await accounts.verdictGiven({ auditId: 'a-big', verifierId: 'v', model: MODEL, promptTokens: 0, completionTokens: 100_000 });
    expect(await balance(TREASURY)).toBe(0);
    const requesterBefore = await balance(requesterAccount('alice'));
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'convicted', convictedBy: [] });
    expect(await balance(requesterAccount('alice'))).toBe(requesterBefore + charge);
    await expectLedgerSound();
  });
});

describe('ContributorAccounts: the sweep', () => {
  it('matures rewards once the settlement window has passed, except those whose audit is under way', async () => {
    const { accounts, serve, standing, open, clock, changes } = await setup();
    await accounts.accepted('worker', ADDRESS);
    const first = await serve('job-1', 'worker');
    const second = await serve('job-2', 'worker', 50, 60);
    open.add('job-2');
    clock.now += WINDOW - 1;
    const before = changes.count;
    await accounts.sweep();
    expect(await standing('worker')).toMatchObject({ available: 0, pending: first.reward + second.reward });
    expect(changes.count).toBe(before); // nothing changed, nobody told
    clock.now += 1;
    await accounts.sweep();
    expect(await standing('worker')).toMatchObject({ available: first.reward, pending: second.reward });
    expect(changes.count).toBeGreaterThan(before);
    // The audit ends without a decision (unverified): the next sweep matures the held reward.
    open.delete('job-2');
    await accounts.sweep();
    expect(await standing('worker')).toMatchObject({ available: first.reward + second.reward, pending: 0 });
    await expectLedgerSound();
  });

  it("the sweep updates cached standings, so eligibility follows (pending that matured no longer counts)", async () => {
    const { accounts, serve, probability, clock } = await setup();
    await accounts.accepted('worker', ADDRESS);
    probability.set('worker', 0.05);
    for (let i = 1; i <= 5; i++) await serve(`job-${i}`, 'worker', 0, CONTEXT);
    expect(accounts.eligible('worker', MODEL)).toBe(true);
    clock.now += WINDOW;
    await accounts.sweep();
    // Matured rewards are available, no longer at stake: the requirement is back to floor(gain/p) + 1.
    expect(accounts.minimumStake('worker', MODEL)).toBe(Math.floor(GAIN / 0.05) + 1);
    expect(accounts.eligible('worker', MODEL)).toBe(false);
  });

  it('releases unbonded stake to available after the unbonding delay', async () => {
    const { accounts, standing, clock } = await setup();
    await accounts.accepted('worker', ADDRESS);
    const unstakedAt = clock.now;
    expect((await accounts.unstake('worker', 2_000_000, 'unstake-1')).ok).toBe(true);
    clock.now += HOUR;
    expect((await accounts.unstake('worker', 1_000_000, 'unstake-2')).ok).toBe(true);
    expect(await standing('worker')).toEqual({
      available: 0,
      pending: 0,
      staked: STARTER - 3_000_000,
      unbonding: 3_000_000,
      unbondingEntries: [
        { amount: 2_000_000, releaseAt: unstakedAt + UNBONDING },
        { amount: 1_000_000, releaseAt: unstakedAt + HOUR + UNBONDING },
      ],
    });
    clock.now = unstakedAt + UNBONDING - 1;
    await accounts.sweep();
    expect((await standing('worker')).unbonding).toBe(3_000_000);
    clock.now = unstakedAt + UNBONDING;
    await accounts.sweep();
    expect(await standing('worker')).toMatchObject({ available: 2_000_000, unbonding: 1_000_000, unbondingEntries: [{ amount: 1_000_000, releaseAt: unstakedAt + HOUR + UNBONDING }] });
    clock.now += HOUR;
    await accounts.sweep();
    expect(await standing('worker')).toMatchObject({ available: 3_000_000, staked: STARTER - 3_000_000, unbonding: 0, unbondingEntries: [] });
    await expectLedgerSound();
  });
});

describe('ContributorAccounts: stake and unstake', () => {
  it('moves available → staked → unbonding, refusing more than there is, once per key', async () => {
    const { accounts, serve, standing, changes } = await setup();
    await accounts.accepted('worker', ADDRESS);
    const { reward } = await serve('job-1', 'worker');
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'passed', convictedBy: [] });
    expect(await standing('worker')).toMatchObject({ available: reward, staked: STARTER });

    const before = changes.count;
    expect(await accounts.stake('worker', reward, 'stake-1')).toMatchObject({ ok: true, replayed: false });
    expect(changes.count).toBe(before + 1);
    expect(await standing('worker')).toMatchObject({ available: 0, staked: STARTER + reward });
    expect(await accounts.stake('worker', reward, 'stake-1')).toMatchObject({ ok: true, replayed: true });
    expect(await accounts.stake('worker', 1, 'stake-2')).toMatchObject({ ok: false, reason: 'insufficient_funds' });
    expect(await accounts.stake('worker', 0, 'stake-3')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await standing('worker')).toMatchObject({ available: 0, staked: STARTER + reward });

    expect(await accounts.unstake('worker', STARTER, 'unstake-1')).toMatchObject({ ok: true });
    expect(await accounts.unstake('worker', STARTER, 'unstake-1')).toMatchObject({ ok: true, replayed: true });
    expect(await accounts.unstake('worker', reward + 1, 'unstake-2')).toMatchObject({ ok: false, reason: 'insufficient_funds' });
    expect(await accounts.unstake('worker', -5, 'unstake-3')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await standing('worker')).toMatchObject({ available: 0, staked: reward, unbonding: STARTER });
    expect((await standing('worker')).unbondingEntries).toHaveLength(1);
    await expectLedgerSound();
  });
});

describe('ContributorAccounts: changed', () => {
  it('is called whenever a connected identity’s standing is re-read, and not for identities without a tab', async () => {
    const { accounts, serve, changes, clock } = await setup();
    await serve('job-0', 'offline'); // never accepted: nothing cached, nobody told
    await accounts.verdictGiven({ auditId: 'a-0', verifierId: 'offline', model: MODEL, promptTokens: 1, completionTokens: 1 });
    expect(changes.count).toBe(0);

    await accounts.accepted('worker', ADDRESS);
    expect(changes.count).toBe(1);
    await serve('job-1', 'worker');
    expect(changes.count).toBe(2);
    await accounts.auditDecided({ jobId: 'job-1', workerId: 'worker', status: 'passed', convictedBy: [] });
    expect(changes.count).toBe(3);
    await accounts.unstake('worker', 1, 'u-1');
    expect(changes.count).toBe(4);
    clock.now += UNBONDING;
    await accounts.sweep();
    expect(changes.count).toBe(5);
    accounts.forget('worker');
    await serve('job-2', 'worker');
    expect(changes.count).toBe(5);
  });
});
