/**
 * Billing over a real in-memory SQLite store: quotes, escrow holds and how a job's end moves the money (charge,
 * pending reward, treasury, refund), repeated or not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY } from './accounts.ts';
import { Billing, type Quote } from './billing.ts';
import type { Store } from './economy-store.ts';
import { costOf, formatDphn, splitCharge, type ModelPrice, type PriceTable } from './pricing.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';

const DEFAULT_PRICE: ModelPrice = { promptPer1K: 50_000, completionPer1K: 200_000 };
/** A model whose prompt tokens cost more than its completion tokens. */
const PROMPT_DEAR: ModelPrice = { promptPer1K: 300_000, completionPer1K: 100_000 };
/** Prices that leave fractions of a µDPHN, so rounding shows. */
const ODD: ModelPrice = { promptPer1K: 7, completionPer1K: 13 };
const PRICES: PriceTable = { default: DEFAULT_PRICE, models: { 'prompt-dear': PROMPT_DEAR, odd: ODD } };
const MODEL = 'dolphin-tiny'; // priced at the default
const SHARE = 800_000;
const WINDOW = 3_600_000;
const CONTEXT = 2048;

let store: Store;
afterEach(() => store.close());

async function setup(options: { sharePpm?: number; funds?: number } = {}) {
  store = openSqliteStore({ path: ':memory:' });
  const clock = { now: 1_700_000_000_000 };
  const logs: string[] = [];
  const billing = new Billing({ store: store.billing, prices: PRICES, contributorSharePpm: options.sharePpm ?? SHARE, settlementWindowMs: WINDOW, now: () => clock.now, log: (line) => logs.push(line) });
  await store.requesters.ensure({ id: 'alice', name: 'Alice' });
  const funds = options.funds ?? 10_000_000;
  if (funds > 0) {
    const funded = await store.ledger.transfer({ idempotencyKey: 'fund:alice', kind: 'faucet', postings: [{ account: MINT, amount: -funds }, { account: requesterAccount('alice'), amount: funds }] });
    expect(funded.ok).toBe(true);
  }
  const balance = (account: Parameters<Store['ledger']['balance']>[0]) => store.ledger.balance(account);
  /** Every balance that billing moves, at once. */
  const balances = async (jobId: string, contributorId = 'worker') => ({
    requester: await balance(requesterAccount('alice')),
    escrow: await balance(escrowAccount(jobId)),
    pending: await balance(contributorAccount(contributorId, 'pending')),
    treasury: await balance(TREASURY),
    mint: await balance(MINT),
  });
  /** Quotes and holds a job of `model` for alice; the hold must succeed. */
  const held = async (jobId: string, model = MODEL, prompt: number | null = 100, maxTokens = 500): Promise<Quote> => {
    const quote = billing.quote(model, prompt, maxTokens, CONTEXT);
    expect(await billing.hold(jobId, 'alice', model, quote, false)).toEqual({ ok: true });
    return quote;
  };
  return { billing, logs, clock, balances, held, funds };
}

async function expectLedgerSound() {
  const audit = await store.ledger.audit();
  expect(audit).toEqual({ sum: 0, mismatches: [], negative: [] });
}

describe('Billing.quote', () => {
  it('with a counted prompt: the completion is max_tokens or the room left in the context, and the cost is exact', async () => {
    const { billing } = await setup();
    expect(billing.quote(MODEL, 100, 500, CONTEXT)).toEqual({ price: DEFAULT_PRICE, promptTokens: 100, maxCompletionTokens: 500, maxCost: costOf(DEFAULT_PRICE, 100, 500) });
    expect(costOf(DEFAULT_PRICE, 100, 500)).toBe(105_000);
    // The prompt leaves less room than max_tokens asks for.
    const tight = billing.quote(MODEL, 2000, 500, CONTEXT);
    expect(tight.maxCompletionTokens).toBe(48);
    expect(tight.maxCost).toBe(costOf(DEFAULT_PRICE, 2000, 48));
    // A prompt that fills (or overfills) the context leaves no completion.
    expect(billing.quote(MODEL, CONTEXT, 500, CONTEXT)).toMatchObject({ maxCompletionTokens: 0, maxCost: costOf(DEFAULT_PRICE, CONTEXT, 0) });
    expect(billing.quote(MODEL, CONTEXT + 10, 500, CONTEXT)).toMatchObject({ maxCompletionTokens: 0, maxCost: costOf(DEFAULT_PRICE, CONTEXT + 10, 0) });
    // Rounded up to the next whole µDPHN.
    expect(billing.quote('odd', 3, 5, CONTEXT)).toMatchObject({ price: ODD, maxCost: 1 }); // 21 + 65 = 86 thousandths
  });

  it("uses the model's own price, and the default for a model without one", async () => {
    const { billing } = await setup();
    expect(billing.quote('prompt-dear', 10, 10, CONTEXT).price).toEqual(PROMPT_DEAR);
    expect(billing.quote('no-such-model', 10, 10, CONTEXT).price).toEqual(DEFAULT_PRICE);
    expect(billing.quote('constructor', 10, 10, CONTEXT).price).toEqual(DEFAULT_PRICE);
  });

  it('with an uncounted prompt: the whole context at the dearer of the two prices', async () => {
    const { billing } = await setup();
    const completionDear = billing.quote(MODEL, null, 500, CONTEXT);
    expect(completionDear).toEqual({ price: DEFAULT_PRICE, promptTokens: null, maxCompletionTokens: 500, maxCost: costOf(DEFAULT_PRICE, 0, CONTEXT) });
    expect(completionDear.maxCost).toBe(409_600);
    const promptDear = billing.quote('prompt-dear', null, 500, CONTEXT);
    expect(promptDear.maxCost).toBe(costOf(PROMPT_DEAR, CONTEXT, 0));
    expect(promptDear.maxCost).toBe(614_400);
    // max_tokens beyond the context is bounded by the context.
    expect(billing.quote(MODEL, null, 10_000, CONTEXT).maxCompletionTokens).toBe(CONTEXT);
    // Whatever the split of the context, no served job costs more than the quote.
    for (const prompt of [0, 1, 700, 2047, CONTEXT]) {
      expect(costOf(DEFAULT_PRICE, prompt, CONTEXT - prompt)).toBeLessThanOrEqual(completionDear.maxCost);
      expect(costOf(PROMPT_DEAR, prompt, CONTEXT - prompt)).toBeLessThanOrEqual(promptDear.maxCost);
    }
  });
});

describe('Billing.hold', () => {
  it("escrows the quote's maximum cost from the requester's balance", async () => {
    const { billing, balances, funds } = await setup();
    const quote = billing.quote(MODEL, 100, 500, CONTEXT);
    expect(await billing.hold('job-1', 'alice', MODEL, quote, false)).toEqual({ ok: true });
    expect(await balances('job-1')).toMatchObject({ requester: funds - quote.maxCost, escrow: quote.maxCost });
    expect(await store.billing.job('job-1')).toMatchObject({ jobId: 'job-1', requesterId: 'alice', model: MODEL, escrowed: quote.maxCost, status: 'escrowed', charged: null });
    await expectLedgerSound();
  });

  it('refuses a request the balance cannot cover, naming the most it may cost, its token counts and prices, and leaves the balance alone', async () => {
    const { billing, balances } = await setup({ funds: 100_000 });
    const quote = billing.quote(MODEL, 100, 500, CONTEXT);
    expect(quote.maxCost).toBe(105_000);
    const result = await billing.hold('job-1', 'alice', MODEL, quote, false);
    expect(result).toMatchObject({ ok: false, reason: 'insufficient_funds' });
    const message = result.ok ? '' : result.message;
    expect(message).toContain(`up to ${formatDphn(105_000)}`); // 0.105 DPHN
    expect(message).toContain('0.105 DPHN');
    expect(message).toContain(`100 prompt tokens at ${formatDphn(DEFAULT_PRICE.promptPer1K)}`);
    expect(message).toContain(`up to 500 completion tokens at ${formatDphn(DEFAULT_PRICE.completionPer1K)} per 1K tokens of '${MODEL}'`);
    expect(message).toMatch(/lower max_tokens/);
    expect(await balances('job-1')).toMatchObject({ requester: 100_000, escrow: 0 });
    expect(await store.billing.job('job-1')).toBeNull();
    await expectLedgerSound();
  });

  it('says so when the prompt could not be counted', async () => {
    const { billing } = await setup({ funds: 1000 });
    const quote = billing.quote(MODEL, null, 500, CONTEXT);
    const result = await billing.hold('job-1', 'alice', MODEL, quote, false);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toBe('insufficient_funds');
    expect(!result.ok && result.message).toContain('an uncounted number of prompt tokens');
    expect(!result.ok && result.message).toContain(formatDphn(409_600));
  });

  it('with a subsidy, the mint tops the balance up to the hold', async () => {
    const { billing, balances } = await setup({ funds: 0 });
    const quote = billing.quote(MODEL, 100, 500, CONTEXT);
    expect(await billing.hold('job-1', 'alice', MODEL, quote, true)).toEqual({ ok: true });
    expect(await balances('job-1')).toMatchObject({ requester: 0, escrow: quote.maxCost, mint: -quote.maxCost });
    await expectLedgerSound();
  });
});

describe('Billing.jobEnded', () => {
  it('a finished job: the requester pays exactly what was served, the contributor gets its share pending, the treasury the rest', async () => {
    const { billing, balances, held, funds, logs } = await setup();
    const quote = await held('job-1');
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 321, contributorId: 'worker' });
    const charge = costOf(DEFAULT_PRICE, 100, 321);
    expect(charge).toBe(69_200);
    const reward = Math.floor((charge * SHARE) / 1e6);
    expect(await balances('job-1')).toEqual({ requester: funds - charge, escrow: 0, pending: reward, treasury: charge - reward, mint: -funds });
    expect(charge).toBeLessThan(quote.maxCost);
    expect(await store.billing.job('job-1')).toMatchObject({ status: 'settled', charged: charge, promptTokens: 100, completionTokens: 321, contributorId: 'worker', reward });
    expect(logs).toEqual([]);
    await expectLedgerSound();
  });

  it('splits an odd charge: the contributor share rounded down, the treasury the rest', async () => {
    const share = 333_333;
    const { billing, balances, held, funds } = await setup({ sharePpm: share });
    await held('job-1');
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 7, completionTokens: 3, contributorId: 'worker' });
    const charge = costOf(DEFAULT_PRICE, 7, 3);
    expect(charge).toBe(950);
    const { contributor, treasury } = splitCharge(charge, share);
    expect(contributor).toBe(316); // floor(950 · 0.333333)
    expect(await balances('job-1')).toMatchObject({ requester: funds - charge, escrow: 0, pending: contributor, treasury });
    expect(treasury).toBe(634);
  });

  it('a charge too small for a contributor share all goes to the treasury', async () => {
    const { billing, balances, held, funds } = await setup();
    await held('job-1', 'odd', 3, 5);
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 3, completionTokens: 5, contributorId: 'worker' });
    expect(await balances('job-1')).toMatchObject({ requester: funds - 1, escrow: 0, pending: 0, treasury: 1 });
    expect(await store.billing.job('job-1')).toMatchObject({ status: 'settled', charged: 1, reward: 0 });
    await expectLedgerSound();
  });

  it('never charges more than was escrowed', async () => {
    const { billing, balances, held, funds } = await setup();
    const quote = await held('job-1', MODEL, 100, 500);
    // A tab that claims more tokens than the quote allowed.
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 5000, contributorId: 'worker' });
    const reward = Math.floor((quote.maxCost * SHARE) / 1e6);
    expect(await balances('job-1')).toMatchObject({ requester: funds - quote.maxCost, escrow: 0, pending: reward, treasury: quote.maxCost - reward });
    expect((await store.billing.job('job-1'))?.charged).toBe(quote.maxCost);
  });

  it('a failed job returns the whole escrow', async () => {
    const { billing, balances, held, funds } = await setup();
    await held('job-1');
    await billing.jobEnded('job-1', { type: 'failed', reason: 'tab_gone: the tab closed' });
    expect(await balances('job-1')).toEqual({ requester: funds, escrow: 0, pending: 0, treasury: 0, mint: -funds });
    expect(await store.billing.job('job-1')).toMatchObject({ status: 'refunded', reason: 'tab_gone: the tab closed', charged: null });
    await expectLedgerSound();
  });

  it('a job done without a contributor identity is refunded', async () => {
    const { billing, balances, held, funds } = await setup();
    await held('job-1');
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 200, contributorId: null });
    expect(await balances('job-1')).toMatchObject({ requester: funds, escrow: 0, pending: 0, treasury: 0 });
    expect(await store.billing.job('job-1')).toMatchObject({ status: 'refunded', reason: 'no contributor identity' });
  });

  it('ending a job again changes nothing, whatever the second end says', async () => {
    const { billing, balances, held, logs } = await setup();
    await held('job-1');
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 321, contributorId: 'worker' });
    const after = await balances('job-1');
    const bill = await store.billing.job('job-1');
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 321, contributorId: 'worker' });
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 200, completionTokens: 400, contributorId: 'someone-else' });
    await billing.jobEnded('job-1', { type: 'failed', reason: 'late failure' });
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 1, completionTokens: 1, contributorId: null });
    expect(await balances('job-1')).toEqual(after);
    expect(await store.ledger.balance(contributorAccount('someone-else', 'pending'))).toBe(0);
    expect(await store.billing.job('job-1')).toEqual(bill);
    expect(logs.length).toBeGreaterThan(0); // the conflicting ends are logged, never thrown

    // And a refunded job stays refunded.
    await held('job-2');
    await billing.jobEnded('job-2', { type: 'failed', reason: 'cancelled' });
    const refunded = await balances('job-2');
    await billing.jobEnded('job-2', { type: 'failed', reason: 'cancelled' });
    await billing.jobEnded('job-2', { type: 'done', promptTokens: 100, completionTokens: 321, contributorId: 'worker' });
    expect(await balances('job-2')).toEqual(refunded);
    expect((await store.billing.job('job-2'))?.status).toBe('refunded');
    await expectLedgerSound();
  });

  // BUG: for a model without a tokenizer the prompt is uncounted, and the job board accepts any whole promptTokens ≥ 1
  // that the tab reports. costOf then throws a RangeError (the cost passes 2^53 µDPHN) before the charge is capped at
  // the escrow, jobEnded logs it, and the escrow is never settled nor refunded: the requester's money is stuck.
  it('a tab reporting an absurd prompt length for an uncounted prompt cannot leave the escrow stuck', async () => {
    const { billing, balances, held, funds } = await setup();
    const quote = await held('job-1', MODEL, null, 500);
    await billing.jobEnded('job-1', { type: 'done', promptTokens: Number.MAX_SAFE_INTEGER, completionTokens: 10, contributorId: 'worker' });
    const after = await balances('job-1');
    expect(after.escrow).toBe(0);
    expect(after.requester).toBeGreaterThanOrEqual(funds - quote.maxCost);
    expect((await store.billing.job('job-1'))?.status).not.toBe('escrowed');
    await expectLedgerSound();
  });

  it('a job that was never escrowed is logged, and nothing is thrown or moved', async () => {
    const { billing, balances, logs, funds } = await setup();
    // (It resolves to whatever the log function returned: `return log(...)` in Billing.jobEnded; harmless.)
    await billing.jobEnded('ghost', { type: 'done', promptTokens: 10, completionTokens: 10, contributorId: 'worker' });
    expect(logs.at(-1)).toMatch(/ghost/);
    await billing.jobEnded('ghost', { type: 'failed', reason: 'x' });
    expect(logs.at(-1)).toMatch(/ghost/);
    expect(logs).toHaveLength(2);
    expect(await balances('ghost')).toEqual({ requester: funds, escrow: 0, pending: 0, treasury: 0, mint: -funds });
    expect(await store.billing.job('ghost')).toBeNull();
  });

  it('a store that throws is logged, not thrown', async () => {
    const { billing, held, logs } = await setup();
    await held('job-1');
    store.close();
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 1, completionTokens: 1, contributorId: 'worker' });
    expect(logs.at(-1)).toMatch(/job-1/);
    store = openSqliteStore({ path: ':memory:' }); // for afterEach
  });

  it("the reward is due a settlement window after the job's end", async () => {
    const { billing, held, clock } = await setup();
    await held('job-1');
    clock.now += 5000;
    await billing.jobEnded('job-1', { type: 'done', promptTokens: 100, completionTokens: 321, contributorId: 'worker' });
    // Not due a moment before the window ends; due at its end.
    expect(await store.contributors.matureDue(clock.now + WINDOW - 1, () => false, 10)).toBe(0);
    expect(await store.contributors.matureDue(clock.now + WINDOW, () => false, 10)).toBe(1);
    expect(await store.ledger.balance(contributorAccount('worker', 'available'))).toBe(Math.floor((costOf(DEFAULT_PRICE, 100, 321) * SHARE) / 1e6));
  });
});

describe('Billing.refundOrphans', () => {
  it('refunds escrows no running job will end, older than the given age, and leaves running and recent ones', async () => {
    const clock = { now: 1_700_000_000_000 };
    store = openSqliteStore({ path: ':memory:', now: () => new Date(clock.now) });
    const billing = new Billing({ store: store.billing, prices: PRICES, contributorSharePpm: SHARE, settlementWindowMs: WINDOW, now: () => clock.now, log: () => {} });
    await store.requesters.ensure({ id: 'alice', name: 'Alice' });
    await store.ledger.transfer({ idempotencyKey: 'fund:alice', kind: 'faucet', postings: [{ account: MINT, amount: -10_000_000 }, { account: requesterAccount('alice'), amount: 10_000_000 }] });
    const quote = billing.quote(MODEL, 100, 500, CONTEXT);
    for (const jobId of ['old-orphan', 'old-running']) expect(await billing.hold(jobId, 'alice', MODEL, quote, false)).toEqual({ ok: true });
    clock.now += 3 * 3600_000;
    expect(await billing.hold('recent', 'alice', MODEL, quote, false)).toEqual({ ok: true });

    expect(await billing.refundOrphans((jobId) => jobId === 'old-running', 2 * 3600_000, 'orphaned')).toBe(1);
    expect(await store.billing.job('old-orphan')).toMatchObject({ status: 'refunded', reason: 'orphaned' });
    expect(await store.billing.job('old-running')).toMatchObject({ status: 'escrowed' });
    expect(await store.billing.job('recent')).toMatchObject({ status: 'escrowed' });
    // At a restart nothing runs, and every escrow made before it is an orphan.
    clock.now += 1;
    expect(await billing.refundOrphans(() => false, 0, 'restarted')).toBe(2);
    expect(await store.ledger.balance(escrowAccount('recent'))).toBe(0);
    expect(await store.ledger.balance(requesterAccount('alice'))).toBe(10_000_000);
    await expectLedgerSound();
  });
});
