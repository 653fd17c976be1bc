/**
 * Prices, charges and stakes in µDPHN (issue #5). Pure.
 *
 * A price is whole µDPHN per 1,000 tokens. A job's charge is rounded up to the next whole µDPHN and is split between
 * contributor (rounded down) and treasury (the rest), so every split sums exactly to its charge. All arithmetic on
 * amounts is exact integer arithmetic (BigInt where a product could pass 2^53); a result that is not a safe integer
 * throws a RangeError rather than losing precision. The one float is the audit probability in `minimumStake`.
 */
import { z } from 'zod';
import { MICROS_PER_DPHN } from './accounts.ts';

/** µDPHN per 1,000 tokens, whole numbers ≥ 0. */
export interface ModelPrice {
  promptPer1K: number;
  completionPer1K: number;
}

export interface PriceTable {
  default: ModelPrice;
  models: Readonly<Record<string, ModelPrice>>;
}

const PPM = 1_000_000;
const MAX_PRICE_DPHN = 1_000_000;

/**
 * True when `dphn` is the double nearest some whole number of µDPHN (at most 6 decimals). Exact: below 2^53 µDPHN,
 * Math.round(x * 1e6) recovers the whole µDPHN d that x was parsed from, and d / 1e6 (correctly rounded, as JSON
 * parsing is) gives back x itself; a value with a 7th decimal never round-trips.
 */
function isWholeMicros(dphn: number): boolean {
  return Math.round(dphn * MICROS_PER_DPHN) / MICROS_PER_DPHN === dphn;
}

const pricePer1KSchema = z
  .number({ error: 'a price must be a number of DPHN per 1,000 tokens' })
  .min(0, { error: 'a price cannot be negative' })
  .max(MAX_PRICE_DPHN, { error: `a price cannot be over ${MAX_PRICE_DPHN} DPHN per 1,000 tokens` })
  .refine(isWholeMicros, { error: 'a price must be a whole number of µDPHN (at most 6 decimals of DPHN)' })
  .transform((dphn) => {
    const micros = Math.round(dphn * MICROS_PER_DPHN);
    return micros === 0 ? 0 : micros; // -0 parses as a price; it is stored as 0
  });

const modelPriceSchema = z
  .strictObject({ prompt: pricePer1KSchema, completion: pricePer1KSchema })
  .transform(({ prompt, completion }): ModelPrice => ({ promptPer1K: prompt, completionPer1K: completion }));

/**
 * The price configuration file, in DPHN per 1,000 tokens:
 * `{"default": {"prompt": 0.05, "completion": 0.2}, "models": {"dolphin-small": {"prompt": 0.1, "completion": 0.4}}}`.
 * "models" is optional; unknown keys are refused. Parses into a PriceTable in µDPHN.
 */
export const priceTableSchema = z
  .strictObject({
    default: modelPriceSchema,
    models: z
      .record(z.string().min(1), modelPriceSchema, {
        error: (issue) => (issue.code === 'invalid_key' ? 'a model name cannot be empty' : undefined),
      })
      .optional(),
  })
  .transform((table): PriceTable => ({ default: table.default, models: Object.fromEntries(Object.entries(table.models ?? {})) }));

export const DEFAULT_PRICE_TABLE: PriceTable = Object.freeze({
  default: Object.freeze({ promptPer1K: 50_000, completionPer1K: 200_000 }), // 0.05 and 0.2 DPHN per 1K
  models: Object.freeze({}),
});

/** The model's own price, else the table's default. Only own entries count: "constructor" is not a model. */
export function priceOf(table: PriceTable, model: string): ModelPrice {
  return (Object.hasOwn(table.models, model) ? table.models[model] : undefined) ?? table.default;
}

function wholeAtLeastZero(value: number, name: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number ≥ 0, not ${value}`);
  return BigInt(value);
}

function safe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} is over ${Number.MAX_SAFE_INTEGER} µDPHN`);
  return Number(value);
}

function ppm(value: number, name: string): bigint {
  const parts = wholeAtLeastZero(value, name);
  if (parts > BigInt(PPM)) throw new RangeError(`${name} must be at most ${PPM} parts per million, not ${value}`);
  return parts;
}

/** ceil((promptTokens·promptPer1K + completionTokens·completionPer1K) / 1000) µDPHN, exact. */
export function costOf(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  const micros =
    wholeAtLeastZero(promptTokens, 'promptTokens') * wholeAtLeastZero(price.promptPer1K, 'promptPer1K') +
    wholeAtLeastZero(completionTokens, 'completionTokens') * wholeAtLeastZero(price.completionPer1K, 'completionPer1K');
  return safe((micros + 999n) / 1000n, 'the cost');
}

/** contributor = floor(charge · contributorSharePpm / 1e6), treasury = the rest: both whole, summing to `charge`. */
export function splitCharge(charge: number, contributorSharePpm: number): { contributor: number; treasury: number } {
  const contributor = Number((wholeAtLeastZero(charge, 'charge') * ppm(contributorSharePpm, 'contributorSharePpm')) / BigInt(PPM));
  return { contributor, treasury: charge - contributor };
}

/** A verifier's fee for re-scoring a transcript: ceil(costOf(price, prompt, completion) · feeRatePpm / 1e6). */
export function verifierFee(price: ModelPrice, promptTokens: number, completionTokens: number, feeRatePpm: number): number {
  const cost = BigInt(costOf(price, promptTokens, completionTokens));
  return Number((cost * ppm(feeRatePpm, 'feeRatePpm') + BigInt(PPM - 1)) / BigInt(PPM));
}

/**
 * The most one job of this model can pay its contributor: the contributor's split of a job whose contextLength
 * tokens are all charged at the higher of the two prices. No split of the context between prompt and completion
 * costs more, so no job's contributor share exceeds it.
 */
export function maxJobReward(price: ModelPrice, contextLength: number, contributorSharePpm: number): number {
  const higher = Math.max(price.promptPer1K, price.completionPer1K);
  const charge = costOf({ promptPer1K: higher, completionPer1K: higher }, contextLength, 0);
  return splitCharge(charge, contributorSharePpm).contributor;
}

/**
 * The least whole stake for which cheating does not pay under Proof-of-Sampling: p·(stake + pending) > gain, where a
 * cheat is caught with probability p and forfeits its stake and pending rewards. That is max(0, floor(gain/p) + 1 −
 * pending), settled against the condition as evaluated in floating point so that the returned stake satisfies it and
 * one less does not. Infinity when p ≤ 0 or when no safe-integer stake suffices: no stake deters the cheat.
 */
export function minimumStake(args: { gain: number; auditProbability: number; pending: number }): number {
  const { gain, auditProbability: p, pending } = args;
  wholeAtLeastZero(gain, 'gain');
  wholeAtLeastZero(pending, 'pending');
  if (Number.isNaN(p) || p > 1) throw new RangeError(`auditProbability must be at most 1, not ${p}`);
  if (p <= 0) return Infinity;
  let total = Math.floor(gain / p) + 1; // stake + pending
  if (!Number.isSafeInteger(total)) return Infinity;
  // gain / p and p · total each round once; fl(p · total) is non-decreasing in total, so a step or two settles it.
  while (total > 1 && p * (total - 1) > gain) total -= 1;
  while (!(p * total > gain)) {
    total += 1;
    if (!Number.isSafeInteger(total)) return Infinity;
  }
  return Math.max(0, total - pending);
}

/** "1.5 DPHN", "0.000001 DPHN", "-2 DPHN": the exact decimal of a whole µDPHN amount, trailing zeros trimmed. */
export function formatDphn(micros: number): string {
  if (!Number.isSafeInteger(micros)) throw new RangeError(`${micros} is not a whole number of µDPHN`);
  const magnitude = Math.abs(micros);
  const fraction = magnitude % MICROS_PER_DPHN; // exact on safe integers, as is the division of what is left
  const whole = (magnitude - fraction) / MICROS_PER_DPHN;
  const decimals = fraction === 0 ? '' : `.${String(fraction).padStart(6, '0').replace(/0+$/, '')}`;
  return `${micros < 0 ? '-' : ''}${whole}${decimals} DPHN`;
}
