import { describe, expect, it } from 'vitest';
import { auditLabel, auditSettled, auditViewOf, chargeOf, checkSettings, CHAT_LIMITS, decodeSpeed, formatDphn } from './answer-stats.ts';
import { costOf, formatDphn as coordinatorFormat } from '../../coordinator/ledger/pricing.ts';

const price = (prompt: number, completion: number) => ({ prompt_per_1k: { micros: prompt, dphn: '' }, completion_per_1k: { micros: completion, dphn: '' } });

describe('checkSettings', () => {
  it('accepts the bounds and reads a blank seed as random', () => {
    expect(checkSettings({ temperature: 0, maxTokens: 1, seed: null })).toEqual({ ok: true, settings: { temperature: 0, maxTokens: 1, seed: null } });
    expect(checkSettings({ temperature: 2, maxTokens: CHAT_LIMITS.maxTokens, seed: Number.MAX_SAFE_INTEGER })).toEqual({ ok: true, settings: { temperature: 2, maxTokens: CHAT_LIMITS.maxTokens, seed: Number.MAX_SAFE_INTEGER } });
    expect(checkSettings({ temperature: 0.7, maxTokens: 64, seed: undefined })).toMatchObject({ ok: true, settings: { seed: null } });
    expect(checkSettings({ temperature: 0.7, maxTokens: 64, seed: 0 })).toMatchObject({ ok: true, settings: { seed: 0 } });
  });

  it.each([
    [{ temperature: -0.1, maxTokens: 64, seed: null }, /Temperature/],
    [{ temperature: 2.5, maxTokens: 64, seed: null }, /Temperature/],
    [{ temperature: null, maxTokens: 64, seed: null }, /Temperature/],
    [{ temperature: Number.NaN, maxTokens: 64, seed: null }, /Temperature/],
    [{ temperature: 1, maxTokens: 0, seed: null }, /Max tokens/],
    [{ temperature: 1, maxTokens: 1.5, seed: null }, /Max tokens/],
    [{ temperature: 1, maxTokens: CHAT_LIMITS.maxTokens + 1, seed: null }, /Max tokens/],
    [{ temperature: 1, maxTokens: undefined, seed: null }, /Max tokens/],
    [{ temperature: 1, maxTokens: 64, seed: -1 }, /seed/],
    [{ temperature: 1, maxTokens: 64, seed: 1.5 }, /seed/],
    [{ temperature: 1, maxTokens: 64, seed: 2 ** 53 }, /seed/],
  ])('refuses %o with a message', (input, message) => {
    const result = checkSettings(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });
});

describe('decodeSpeed', () => {
  it('counts the deliveries after the first over the time they took, one token each', () => {
    expect(decodeSpeed(11, 11, 1000, 1500)).toBe(20);
    expect(decodeSpeed(2, 2, 0, 250)).toBe(4);
  });

  it('scales by the tokens a delivery carried when they came in batches', () => {
    // 128 tokens in 81 chunks over 1 s: 80 chunks/s of 1.58 tokens each.
    expect(decodeSpeed(128, 81, 0, 1000)).toBeCloseTo((80 * 128) / 81);
  });

  it('is unknown with fewer than two deliveries, fewer tokens than deliveries, or no time between them', () => {
    expect(decodeSpeed(1, 1, 0, 100)).toBeNull();
    expect(decodeSpeed(0, 0, null, null)).toBeNull();
    expect(decodeSpeed(5, 5, 100, 100)).toBeNull();
    expect(decodeSpeed(5, 5, null, 100)).toBeNull();
    expect(decodeSpeed(1, 3, 0, 100)).toBeNull();
  });
});

describe('chargeOf', () => {
  it('charges each side at its price per 1K tokens, rounded up to a whole µDPHN', () => {
    expect(chargeOf(price(50_000, 200_000), { prompt_tokens: 10, completion_tokens: 5 })).toBe(1_500);
    expect(chargeOf(price(1, 1), { prompt_tokens: 1, completion_tokens: 0 })).toBe(1);
    expect(chargeOf(price(0, 0), { prompt_tokens: 100, completion_tokens: 100 })).toBe(0);
  });

  it('is unknown without a price', () => {
    expect(chargeOf(undefined, { prompt_tokens: 1, completion_tokens: 1 })).toBeNull();
  });

  it("is the coordinator's charge, for any counts and prices", () => {
    const prices = [0, 1, 7, 999, 50_000, 200_000, 400_000, 123_457];
    for (const p of prices)
      for (const c of prices)
        for (const [prompt, completion] of [[0, 0], [1, 0], [0, 1], [7, 3], [12, 500], [511, 1], [999, 1001], [100_000, 3]] as const)
          expect(chargeOf(price(p, c), { prompt_tokens: prompt, completion_tokens: completion })).toBe(costOf({ promptPer1K: p, completionPer1K: c }, prompt, completion));
  });
});

describe('formatDphn', () => {
  it("formats as the coordinator does", () => {
    for (const micros of [0, 1, 10, 1_500, 999_999, 1_000_000, 1_000_001, 2_500_000, 123_456_789, -1_500]) expect(formatDphn(micros)).toBe(coordinatorFormat(micros));
    expect(formatDphn(1_500)).toBe('0.0015 DPHN');
  });

  it('refuses what is not a whole number of µDPHN', () => {
    expect(() => formatDphn(0.5)).toThrow(RangeError);
  });
});

describe('auditViewOf', () => {
  it('reads a 404 as not decided while the page still asks, then as none', () => {
    expect(auditViewOf(404, null, false)).toEqual({ state: 'undecided' });
    expect(auditViewOf(404, null, true)).toEqual({ state: 'none' });
    expect(auditSettled({ state: 'undecided' })).toBe(false);
    expect(auditSettled({ state: 'none' })).toBe(true);
  });

  it.each(['passed', 'convicted', 'unverified'] as const)('reads a decided audit (%s) with its verdicts', (status) => {
    const view = auditViewOf(200, { status, verdicts: [{}, {}] }, false);
    expect(view).toEqual({ state: 'decided', status, verdicts: 2 });
    expect(auditSettled(view)).toBe(true);
  });

  it('reads anything else as an error', () => {
    expect(auditViewOf(500, null, false)).toEqual({ state: 'error', message: 'the audit API answered HTTP 500' });
    expect(auditViewOf(200, { status: 'pending' }, false)).toMatchObject({ state: 'error' });
    expect(auditViewOf(200, null, false)).toMatchObject({ state: 'error' });
  });

  it('labels every state', () => {
    expect(auditLabel({ state: 'decided', status: 'passed', verdicts: 1 })).toBe('passed (1 verdict)');
    expect(auditLabel({ state: 'decided', status: 'convicted', verdicts: 2 })).toMatch(/^failed/);
    expect(auditLabel({ state: 'decided', status: 'unverified', verdicts: 0 })).toMatch(/^unverified/);
    expect(auditLabel({ state: 'none' })).toMatch(/not sampled, or still under way/);
    expect(auditLabel({ state: 'checking' })).toBe('checking…');
  });
});

