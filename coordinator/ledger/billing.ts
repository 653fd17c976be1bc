/**
 * What a request costs its requester (issue #5; design.md "One chat completion"): a quote of the most it can cost,
 * escrowed before any tab starts; when the job ends, the tokens actually served are charged, the contributor's
 * reward goes pending and the rest of the escrow returns; a failed or cancelled job returns all of it. Money moves
 * only through the store, keyed by job, so nothing is charged twice whatever repeats.
 */
import type { BillingStore } from './economy-store.ts';
import { costOf, formatDphn, priceOf, splitCharge, type ModelPrice, type PriceTable } from './pricing.ts';

export interface BillingOptions {
  store: BillingStore;
  prices: PriceTable;
  /** The contributor's part of each charge, in parts per million. */
  contributorSharePpm: number;
  /** A reward matures this long after its job unless an audit fails first (or passes sooner). */
  settlementWindowMs: number;
  now: () => number;
  log: (message: string) => void;
}

export interface Quote {
  price: ModelPrice;
  /** Null when the coordinator cannot count them (no tokenizer for the model). */
  promptTokens: number | null;
  /** The most completion tokens the job can produce: max_tokens, or the room the prompt leaves in the context. */
  maxCompletionTokens: number;
  /** µDPHN: what the job costs if it produces every one of them. */
  maxCost: number;
}

export type HoldResult = { ok: true } | { ok: false; reason: 'insufficient_funds'; message: string } | { ok: false; reason: 'error'; message: string };

/** How a job ended, as billing needs it. */
export type JobEnd =
  | { type: 'done'; promptTokens: number; completionTokens: number; contributorId: string | null; payoutTo?: string | null }
  | { type: 'failed'; reason: string };

/** costOf, or Infinity for counts too large to price (they can only be capped). */
function boundedCost(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  try {
    return costOf(price, promptTokens, completionTokens);
  } catch (error) {
    if (error instanceof RangeError) return Infinity;
    throw error;
  }
}

const ORPHAN_BATCH = 1000;

export class Billing {
  constructor(private readonly options: BillingOptions) {}

  /** The most the job can cost; with an unknown prompt, as if the whole context were billed at the dearer price. */
  quote(model: string, promptTokens: number | null, maxTokens: number, contextLength: number): Quote {
    const price = priceOf(this.options.prices, model);
    if (promptTokens === null) {
      const maxCost = Math.max(costOf(price, contextLength, 0), costOf(price, 0, contextLength));
      return { price, promptTokens, maxCompletionTokens: Math.min(maxTokens, contextLength), maxCost };
    }
    const maxCompletionTokens = Math.max(0, Math.min(maxTokens, contextLength - promptTokens));
    return { price, promptTokens, maxCompletionTokens, maxCost: costOf(price, promptTokens, maxCompletionTokens) };
  }

  /** Escrows the quote's maximum cost from the requester's balance (the demo account is topped up by the network). */
  async hold(jobId: string, requesterId: string, model: string, quote: Quote, subsidy: boolean): Promise<HoldResult> {
    const result = await this.options.store.escrow({ jobId, requesterId, model, amount: quote.maxCost, subsidy });
    if (result.ok) return { ok: true };
    if (result.reason === 'insufficient_funds') {
      const { price } = quote;
      return {
        ok: false,
        reason: 'insufficient_funds',
        message:
          `Your balance is too low for this request: it may cost up to ${formatDphn(quote.maxCost)} (${quote.promptTokens ?? 'an uncounted number of'} prompt tokens at ${formatDphn(price.promptPer1K)} ` +
          `and up to ${quote.maxCompletionTokens} completion tokens at ${formatDphn(price.completionPer1K)} per 1K tokens of '${model}'), and that much is held until it ends. ` +
          'Add credits, or lower max_tokens.',
      };
    }
    this.options.log(`escrow of ${jobId} failed: ${result.message}`);
    return { ok: false, reason: 'error', message: result.message };
  }

  /**
   * Refunds escrows no job will end any more: every one at start (the jobs in flight died with the last process),
   * then those older than `staleAfterMs` whose job is not running (an ending that failed to be written). Never
   * throws.
   */
  async refundOrphans(running: (jobId: string) => boolean, staleAfterMs: number, reason: string): Promise<number> {
    let refunded = 0;
    try {
      const before = new Date(this.options.now() - staleAfterMs).toISOString();
      // In batches, until a batch refunds fewer than it read (the rest are running, or none are left).
      for (let batch = await this.options.store.escrowedJobs(before, ORPHAN_BATCH); ; batch = await this.options.store.escrowedJobs(before, ORPHAN_BATCH)) {
        let done = 0;
        for (const jobId of batch) {
          if (running(jobId)) continue;
          const result = await this.options.store.refund(jobId, reason);
          if (result.ok) done++;
          else this.options.log(`refund of orphaned ${jobId} failed: ${result.message}`);
        }
        refunded += done;
        if (batch.length < ORPHAN_BATCH || done < batch.length) break;
      }
    } catch (error) {
      this.options.log(`refunding orphaned escrows failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return refunded;
  }

  /** The job ended: settle what it served, or refund it. Never throws; a failure is logged (the escrow stays held). */
  async jobEnded(jobId: string, end: JobEnd): Promise<void> {
    const { store, contributorSharePpm, settlementWindowMs, now, log } = this.options;
    try {
      if (end.type === 'failed' || end.contributorId === null) {
        const refunded = await store.refund(jobId, end.type === 'failed' ? end.reason : 'no contributor identity');
        if (!refunded.ok) log(`refund of ${jobId} failed: ${refunded.message}`);
        return;
      }
      const bill = await store.job(jobId);
      if (!bill) {
        log(`no bill for ${jobId} to settle`);
        return;
      }
      const price = priceOf(this.options.prices, bill.model);
      // The quote bounds the charge: a tab cannot bill beyond what the requester agreed to hold (nor overflow it).
      const charge = Math.min(boundedCost(price, end.promptTokens, end.completionTokens), bill.escrowed);
      const reward = splitCharge(charge, contributorSharePpm).contributor;
      const settled = await store.settle({ jobId, charge, promptTokens: end.promptTokens, completionTokens: end.completionTokens, contributorId: end.contributorId, reward, dueAt: now() + settlementWindowMs, payoutTo: end.payoutTo ?? null });
      if (!settled.ok) log(`settlement of ${jobId} failed: ${settled.message}`);
    } catch (error) {
      log(`billing ${jobId} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
