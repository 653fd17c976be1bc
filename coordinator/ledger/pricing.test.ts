import { describe, expect, it } from 'vitest';
import { seededRandom, type Random } from '../../test/unit/random.ts';
import { MICROS_PER_DPHN } from './accounts.ts';
import {
  costOf,
  DEFAULT_PRICE_TABLE,
  formatDphn,
  maxJobReward,
  minimumStake,
  priceOf,
  priceTableSchema,
  splitCharge,
  verifierFee,
  type ModelPrice,
} from './pricing.ts';

/** A whole number from 0 to max inclusive (max up to 2^53 − 1), spread over magnitudes so small values come up too. */
function wholeUpTo(random: Random, max: number): number {
  const bound = Math.floor(max * random.next() ** 4);
  return Math.min(max, Math.floor(random.next() * (bound + 1)));
}

const CASES = 10_000;
const price = (promptPer1K: number, completionPer1K: number): ModelPrice => ({ promptPer1K, completionPer1K });

/** The reference: ceil of the exact rational, in BigInt. */
const referenceCost = (p: ModelPrice, prompt: number, completion: number): bigint =>
  (BigInt(prompt) * BigInt(p.promptPer1K) + BigInt(completion) * BigInt(p.completionPer1K) + 999n) / 1000n;

describe('priceTableSchema', () => {
  it('parses the configuration file into µDPHN per 1,000 tokens', () => {
    const table = priceTableSchema.parse({
      default: { prompt: 0.05, completion: 0.2 },
      models: { 'dolphin-small': { prompt: 0.1, completion: 0.4 }, free: { prompt: 0, completion: 0 } },
    });
    expect(table).toEqual({
      default: { promptPer1K: 50_000, completionPer1K: 200_000 },
      models: { 'dolphin-small': { promptPer1K: 100_000, completionPer1K: 400_000 }, free: { promptPer1K: 0, completionPer1K: 0 } },
    });
    expect(priceTableSchema.parse({ default: { prompt: 1_000_000, completion: 0.000001 } })).toEqual({
      default: { promptPer1K: 1_000_000 * MICROS_PER_DPHN, completionPer1K: 1 },
      models: {},
    });
    expect(Object.is(priceTableSchema.parse({ default: { prompt: -0, completion: 0 } }).default.promptPer1K, 0)).toBe(true);
  });

  it('reproduces the default table from its own configuration', () => {
    expect(priceTableSchema.parse({ default: { prompt: 0.05, completion: 0.2 } })).toEqual(DEFAULT_PRICE_TABLE);
  });

  const problems = (config: unknown) => {
    const result = priceTableSchema.safeParse(config);
    expect(result.success).toBe(false);
    return result.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) ?? [];
  };

  it('refuses bad configurations, naming the field and the reason', () => {
    expect(problems({ default: { prompt: -0.05, completion: 0.2 } })).toEqual(['default.prompt: a price cannot be negative']);
    expect(problems({ default: { prompt: 0.05, completion: 0.0000001 } })).toEqual([
      'default.completion: a price must be a whole number of µDPHN (at most 6 decimals of DPHN)',
    ]);
    expect(problems({ default: { prompt: 1_000_000.000001, completion: 0.2 } })).toEqual([
      'default.prompt: a price cannot be over 1000000 DPHN per 1,000 tokens',
    ]);
    expect(problems({ default: { prompt: '0.05', completion: 0.2 } })).toEqual([
      'default.prompt: a price must be a number of DPHN per 1,000 tokens',
    ]);
    for (const bad of [NaN, Infinity, -Infinity, null]) expect(problems({ default: { prompt: bad, completion: 0.2 } })).toHaveLength(1);
    expect(problems({ default: { prompt: 0.05 } })).toEqual(['default.completion: a price must be a number of DPHN per 1,000 tokens']);
    expect(problems({ models: {} })[0]).toMatch(/^default: /);
    expect(problems({ default: { prompt: 0.05, completion: 0.2 }, model: {} })[0]).toMatch(/^: .*"model"/);
    expect(problems({ default: { prompt: 0.05, completion: 0.2, currency: 'DPHN' } })[0]).toMatch(/^default: .*"currency"/);
    expect(problems({ default: { prompt: 0.05, completion: 0.2 }, models: { m: { prompt: 0.1, completion: 0.4, cached: 0 } } })[0]).toMatch(
      /^models\.m: .*"cached"/,
    );
    expect(problems({ default: { prompt: 0.05, completion: 0.2 }, models: { m: { prompt: 0.1, completion: -1 } } })).toEqual([
      'models.m.completion: a price cannot be negative',
    ]);
    expect(problems({ default: { prompt: 0.05, completion: 0.2 }, models: { '': { prompt: 0.1, completion: 0.4 } } })).toEqual([
      'models.: a model name cannot be empty',
    ]);
    expect(problems({ default: { prompt: 0.05, completion: 0.2 }, models: [] })[0]).toMatch(/^models: /);
  });

  it('accepts every whole µDPHN up to the ceiling, as a number or as its shortest decimal, and returns it exactly', () => {
    const random = seededRandom(1);
    for (let i = 0; i < CASES; i++) {
      const micros = wholeUpTo(random, 1_000_000 * MICROS_PER_DPHN);
      const dphn = micros / MICROS_PER_DPHN;
      const fromText = Number(formatDphn(micros).replace(' DPHN', ''));
      expect(fromText).toBe(dphn);
      expect(priceTableSchema.parse({ default: { prompt: dphn, completion: fromText } }).default).toEqual(price(micros, micros));
    }
  });

  it('refuses every value with a 7th decimal, at any magnitude', () => {
    const random = seededRandom(2);
    for (let i = 0; i < CASES; i++) {
      const tenths = wholeUpTo(random, 1_000_000 * MICROS_PER_DPHN - 1) * 10 + 1 + random.int(9); // last digit 1..9
      const dphn = tenths / (10 * MICROS_PER_DPHN);
      expect(problems({ default: { prompt: dphn, completion: 0 } })).toEqual([
        'default.prompt: a price must be a whole number of µDPHN (at most 6 decimals of DPHN)',
      ]);
    }
  });
});

describe('priceOf', () => {
  const table = priceTableSchema.parse({ default: { prompt: 0.05, completion: 0.2 }, models: { m: { prompt: 0.1, completion: 0.4 } } });

  it("returns the model's own price, else the default", () => {
    expect(priceOf(table, 'm')).toEqual(price(100_000, 400_000));
    expect(priceOf(table, 'other')).toBe(table.default);
    expect(priceOf(DEFAULT_PRICE_TABLE, 'm')).toEqual(price(50_000, 200_000));
  });

  it('never mistakes an inherited property for a model', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) expect(priceOf(table, name)).toBe(table.default);
  });

  it('keeps the default table from being changed', () => {
    expect(
      Object.isFrozen(DEFAULT_PRICE_TABLE) && Object.isFrozen(DEFAULT_PRICE_TABLE.default) && Object.isFrozen(DEFAULT_PRICE_TABLE.models),
    ).toBe(true);
  });
});

describe('costOf', () => {
  it('charges the ceiling of the exact amount', () => {
    const p = price(50_000, 200_000);
    expect(costOf(p, 0, 0)).toBe(0);
    expect(costOf(p, 1000, 1000)).toBe(250_000);
    expect(costOf(p, 1, 0)).toBe(50);
    expect(costOf(price(1, 1), 1, 0)).toBe(1); // 0.001 µDPHN rounds up to 1
    expect(costOf(price(1, 1), 1000, 1)).toBe(2);
    expect(costOf(price(0, 0), 1e9, 1e9)).toBe(0);
  });

  it('is exact past 2^53 in the intermediate product, and refuses a result that is not a safe integer', () => {
    const big = Number.MAX_SAFE_INTEGER;
    expect(costOf(price(1000, 0), big, 0)).toBe(big);
    expect(costOf(price(999, 0), big, 0)).toBe(Number((BigInt(big) * 999n + 999n) / 1000n));
    expect(() => costOf(price(1001, 0), big, 0)).toThrow(RangeError);
    expect(() => costOf(price(1000, 1000), big, 1)).toThrow(RangeError);
  });

  it('refuses token counts and prices that are not whole numbers ≥ 0', () => {
    const p = price(50_000, 200_000);
    for (const bad of [-1, 0.5, NaN, Infinity, 2 ** 53]) {
      expect(() => costOf(p, bad, 0)).toThrow(RangeError);
      expect(() => costOf(p, 0, bad)).toThrow(RangeError);
      expect(() => costOf(price(bad, 0), 0, 0)).toThrow(RangeError);
      expect(() => costOf(price(0, bad), 0, 0)).toThrow(RangeError);
    }
  });

  it('equals the exact ceiling and is monotone in both token counts, over random cases', () => {
    const random = seededRandom(3);
    for (let i = 0; i < CASES; i++) {
      const p = price(wholeUpTo(random, 1e9), wholeUpTo(random, 1e9));
      const prompt = wholeUpTo(random, 1e6);
      const completion = wholeUpTo(random, 1e6);
      const cost = costOf(p, prompt, completion);
      expect(BigInt(cost)).toBe(referenceCost(p, prompt, completion));
      const morePrompt = prompt + 1 + wholeUpTo(random, 1000);
      const moreCompletion = completion + 1 + wholeUpTo(random, 1000);
      expect(costOf(p, morePrompt, completion)).toBeGreaterThanOrEqual(cost);
      expect(costOf(p, prompt, moreCompletion)).toBeGreaterThanOrEqual(cost);
      expect(costOf(p, morePrompt, moreCompletion)).toBeGreaterThanOrEqual(cost);
    }
  });
});

describe('splitCharge', () => {
  it('rounds the contributor down and gives the treasury the rest', () => {
    expect(splitCharge(0, 700_000)).toEqual({ contributor: 0, treasury: 0 });
    expect(splitCharge(10, 700_000)).toEqual({ contributor: 7, treasury: 3 });
    expect(splitCharge(9, 700_000)).toEqual({ contributor: 6, treasury: 3 });
    expect(splitCharge(1, 999_999)).toEqual({ contributor: 0, treasury: 1 });
    expect(splitCharge(123, 0)).toEqual({ contributor: 0, treasury: 123 });
    expect(splitCharge(123, 1_000_000)).toEqual({ contributor: 123, treasury: 0 });
    expect(splitCharge(Number.MAX_SAFE_INTEGER, 999_999)).toEqual({
      contributor: Number((BigInt(Number.MAX_SAFE_INTEGER) * 999_999n) / 1_000_000n),
      treasury: Number.MAX_SAFE_INTEGER - Number((BigInt(Number.MAX_SAFE_INTEGER) * 999_999n) / 1_000_000n),
    });
  });

  it('refuses a charge or share out of range', () => {
    for (const bad of [-1, 0.5, NaN, 2 ** 53]) expect(() => splitCharge(bad, 500_000)).toThrow(RangeError);
    for (const bad of [-1, 0.5, NaN, 1_000_001]) expect(() => splitCharge(100, bad)).toThrow(RangeError);
  });

  it('sums exactly to the charge, with both parts whole and the contributor the floor, over random cases', () => {
    const random = seededRandom(4);
    for (let i = 0; i < CASES; i++) {
      const charge = wholeUpTo(random, Number.MAX_SAFE_INTEGER);
      const share = wholeUpTo(random, 1_000_000);
      const { contributor, treasury } = splitCharge(charge, share);
      expect(Number.isSafeInteger(contributor) && Number.isSafeInteger(treasury)).toBe(true);
      expect(contributor >= 0 && treasury >= 0).toBe(true);
      expect(BigInt(contributor) + BigInt(treasury)).toBe(BigInt(charge));
      expect(BigInt(contributor)).toBe((BigInt(charge) * BigInt(share)) / 1_000_000n);
    }
  });
});

describe('verifierFee', () => {
  it('is the fee rate of the cost, rounded up', () => {
    const p = price(50_000, 200_000);
    expect(verifierFee(p, 1000, 1000, 100_000)).toBe(25_000); // 10% of 250,000
    expect(verifierFee(p, 1000, 1000, 0)).toBe(0);
    expect(verifierFee(p, 1000, 1000, 1_000_000)).toBe(250_000);
    expect(verifierFee(price(1, 1), 1, 0, 1)).toBe(1); // a millionth of 1 µDPHN rounds up to 1
    expect(() => verifierFee(p, 1, 1, 1_000_001)).toThrow(RangeError);
    expect(() => verifierFee(p, 1, 1, -1)).toThrow(RangeError);
  });

  it('equals the exact ceiling and never exceeds the cost, over random cases', () => {
    const random = seededRandom(5);
    for (let i = 0; i < CASES; i++) {
      const p = price(wholeUpTo(random, 1e9), wholeUpTo(random, 1e9));
      const prompt = wholeUpTo(random, 1e6);
      const completion = wholeUpTo(random, 1e6);
      const rate = wholeUpTo(random, 1_000_000);
      const fee = verifierFee(p, prompt, completion, rate);
      const cost = referenceCost(p, prompt, completion);
      expect(BigInt(fee)).toBe((cost * BigInt(rate) + 999_999n) / 1_000_000n);
      expect(BigInt(fee) <= cost).toBe(true);
    }
  });
});

describe('maxJobReward', () => {
  it("is the contributor's split of a full context at the higher price", () => {
    expect(maxJobReward(price(50_000, 200_000), 2048, 700_000)).toBe(Math.floor((((2048 * 200_000) / 1000) * 7) / 10));
    expect(maxJobReward(price(300, 100), 1, 500_000)).toBe(0); // charge ceil(0.3) = 1, contributor floor(0.5) = 0
    expect(maxJobReward(price(300, 100), 10, 500_000)).toBe(1); // charge 3, contributor 1
    expect(maxJobReward(price(50_000, 200_000), 0, 700_000)).toBe(0);
  });

  it("bounds the contributor's share of every job that fits the context, over random cases", () => {
    const random = seededRandom(6);
    for (let i = 0; i < CASES; i++) {
      const p = price(wholeUpTo(random, 1e9), wholeUpTo(random, 1e9));
      const context = wholeUpTo(random, 1e6);
      const share = wholeUpTo(random, 1_000_000);
      const bound = maxJobReward(p, context, share);
      const prompt = wholeUpTo(random, context);
      const completion = wholeUpTo(random, context - prompt);
      expect(splitCharge(costOf(p, prompt, completion), share).contributor).toBeLessThanOrEqual(bound);
      // and it is attained: everything at the higher price
      const atHigher = p.promptPer1K >= p.completionPer1K ? costOf(p, context, 0) : costOf(p, 0, context);
      expect(splitCharge(atHigher, share).contributor).toBe(bound);
    }
  });
});

describe('minimumStake', () => {
  it('solves p·(stake + pending) > gain for the least whole stake', () => {
    expect(minimumStake({ gain: 100, auditProbability: 0.1, pending: 0 })).toBe(1001);
    expect(minimumStake({ gain: 100, auditProbability: 0.1, pending: 1 })).toBe(1000);
    expect(minimumStake({ gain: 100, auditProbability: 0.1, pending: 5000 })).toBe(0);
    expect(minimumStake({ gain: 100, auditProbability: 1, pending: 0 })).toBe(101);
    expect(minimumStake({ gain: 0, auditProbability: 0.5, pending: 0 })).toBe(1);
    expect(minimumStake({ gain: 0, auditProbability: 0.5, pending: 1 })).toBe(0);
    // Where gain / p rounds, the answer follows the condition as evaluated, not the naive floor(gain / p) + 1:
    expect(minimumStake({ gain: 35, auditProbability: 0.07, pending: 0 })).toBe(501); // 35 / 0.07 is 499.99…94, but 0.07 · 500 is 35
    expect(minimumStake({ gain: 77, auditProbability: 0.07, pending: 0 })).toBe(1100); // 77 / 0.07 is 1100, but 0.07 · 1100 is 77.00…01
    expect(minimumStake({ gain: 3, auditProbability: 0.1, pending: 0 })).toBe(31); // 0.1 · 30 is 3
  });

  it('is Infinity when no audit can catch the cheat, or when no safe-integer stake suffices', () => {
    expect(minimumStake({ gain: 100, auditProbability: 0, pending: 0 })).toBe(Infinity);
    expect(minimumStake({ gain: 100, auditProbability: -0.5, pending: 10 ** 9 })).toBe(Infinity);
    expect(minimumStake({ gain: Number.MAX_SAFE_INTEGER, auditProbability: 0.5, pending: 0 })).toBe(Infinity);
    expect(minimumStake({ gain: 1, auditProbability: Number.MIN_VALUE, pending: 0 })).toBe(Infinity);
  });

  it('refuses arguments out of range', () => {
    expect(() => minimumStake({ gain: -1, auditProbability: 0.5, pending: 0 })).toThrow(RangeError);
    expect(() => minimumStake({ gain: 1.5, auditProbability: 0.5, pending: 0 })).toThrow(RangeError);
    expect(() => minimumStake({ gain: 1, auditProbability: 0.5, pending: -1 })).toThrow(RangeError);
    expect(() => minimumStake({ gain: 1, auditProbability: 1.01, pending: 0 })).toThrow(RangeError);
    expect(() => minimumStake({ gain: 1, auditProbability: NaN, pending: 0 })).toThrow(RangeError);
  });

  it('satisfies the condition, and one less does not, over random cases', () => {
    const random = seededRandom(7);
    for (let i = 0; i < CASES; i++) {
      const gain = wholeUpTo(random, 1e12);
      const pending = wholeUpTo(random, 1e13);
      const p = i % 10 === 0 ? [1, 0.5, 0.1, 0.01, 1e-6][i % 5]! : Math.max(Number.MIN_VALUE, random.next() ** 3);
      const stake = minimumStake({ gain, auditProbability: p, pending });
      if (stake === Infinity) {
        expect(gain / p + 1).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
        continue;
      }
      expect(Number.isSafeInteger(stake) && stake >= 0).toBe(true);
      expect(p * (stake + pending) > gain).toBe(true);
      if (stake > 0) expect(p * (stake - 1 + pending) > gain).toBe(false);
    }
  });
});

describe('formatDphn', () => {
  it('writes the exact decimal, trailing zeros trimmed', () => {
    expect(formatDphn(1_500_000)).toBe('1.5 DPHN');
    expect(formatDphn(1)).toBe('0.000001 DPHN');
    expect(formatDphn(-2_000_000)).toBe('-2 DPHN');
    expect(formatDphn(0)).toBe('0 DPHN');
    expect(formatDphn(-0)).toBe('0 DPHN');
    expect(formatDphn(-1)).toBe('-0.000001 DPHN');
    expect(formatDphn(10_000_100)).toBe('10.0001 DPHN');
    expect(formatDphn(Number.MAX_SAFE_INTEGER)).toBe('9007199254.740991 DPHN');
    expect(formatDphn(-Number.MAX_SAFE_INTEGER)).toBe('-9007199254.740991 DPHN');
    for (const bad of [0.5, NaN, Infinity, 2 ** 53]) expect(() => formatDphn(bad)).toThrow(RangeError);
  });

  it('reads back to the same µDPHN, over random cases', () => {
    const random = seededRandom(8);
    for (let i = 0; i < CASES; i++) {
      const micros = (random.next() < 0.5 ? -1 : 1) * wholeUpTo(random, Number.MAX_SAFE_INTEGER);
      const text = formatDphn(micros);
      const match = /^(-?)(0|[1-9]\d*)(?:\.(\d{0,5}[1-9]))? DPHN$/.exec(text);
      expect(match, text).not.toBeNull();
      const [, sign, whole, fraction] = match!;
      const magnitude = BigInt(whole!) * 1_000_000n + BigInt((fraction ?? '').padEnd(6, '0'));
      expect(sign === '-' ? -magnitude : magnitude).toBe(BigInt(micros));
      expect(sign === '-').toBe(micros < 0);
    }
  });
});
