import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/unit/random.ts';
import {
  afterAudit,
  decayed,
  DEFAULT_REPUTATION_HALF_LIFE_MS,
  FAILURE_WEIGHT,
  NEW_REPUTATION,
  reputationScore,
  type ReputationState,
} from './reputation.ts';

const HALF = DEFAULT_REPUTATION_HALF_LIFE_MS;
const T0 = Date.UTC(2026, 0, 1);
const CASES = 10_000;

function audits(outcomes: readonly ('passed' | 'convicted')[], start = T0, stepMs = 0): ReputationState {
  return outcomes.reduce((state, outcome, i) => afterAudit(state, outcome, start + i * stepMs, HALF), NEW_REPUTATION);
}

describe('constants', () => {
  it('are as specified', () => {
    expect(NEW_REPUTATION).toEqual({ passes: 0, failures: 0, updatedAt: 0 });
    expect(Object.isFrozen(NEW_REPUTATION)).toBe(true);
    expect(FAILURE_WEIGHT).toBe(10);
    expect(DEFAULT_REPUTATION_HALF_LIFE_MS).toBe(604_800_000);
  });
});

describe('decayed', () => {
  it('halves both counts exactly at each half-life', () => {
    const state = { passes: 12, failures: 3, updatedAt: T0 };
    expect(decayed(state, T0, HALF)).toEqual(state);
    expect(decayed(state, T0 + HALF, HALF)).toEqual({ passes: 6, failures: 1.5, updatedAt: T0 + HALF });
    expect(decayed(state, T0 + 2 * HALF, HALF)).toEqual({ passes: 3, failures: 0.75, updatedAt: T0 + 2 * HALF });
    expect(decayed(state, T0 + 10 * HALF, HALF)).toEqual({ passes: 12 / 1024, failures: 3 / 1024, updatedAt: T0 + 10 * HALF });
    expect(decayed(state, T0 + 1000, 1000)).toEqual({ passes: 6, failures: 1.5, updatedAt: T0 + 1000 });
    expect(decayed(state, T0 + HALF / 2, HALF).passes).toBeCloseTo(12 / Math.SQRT2, 12);
  });

  it('treats a clock that reads earlier as no time passed, keeping updatedAt', () => {
    const state = { passes: 12, failures: 3, updatedAt: T0 };
    expect(decayed(state, T0 - HALF, HALF)).toEqual(state);
    // the interval is not decayed twice when the clock catches up
    expect(decayed(decayed(state, T0 - HALF, HALF), T0 + HALF, HALF)).toEqual(decayed(state, T0 + HALF, HALF));
  });

  it('does not decay with an infinite half-life, and refuses a half-life, time or count out of range', () => {
    expect(decayed({ passes: 5, failures: 1, updatedAt: T0 }, T0 + 100 * HALF, Infinity)).toEqual({
      passes: 5,
      failures: 1,
      updatedAt: T0 + 100 * HALF,
    });
    const state = { passes: 1, failures: 0, updatedAt: T0 };
    for (const bad of [0, -1, NaN]) expect(() => decayed(state, T0, bad)).toThrow(RangeError);
    for (const bad of [NaN, Infinity]) expect(() => decayed(state, bad, HALF)).toThrow(RangeError);
    expect(() => decayed({ ...state, updatedAt: NaN }, T0, HALF)).toThrow(RangeError);
    for (const bad of [-1, NaN, Infinity]) {
      expect(() => decayed({ ...state, passes: bad }, T0, HALF)).toThrow(RangeError);
      expect(() => decayed({ ...state, failures: bad }, T0, HALF)).toThrow(RangeError);
    }
  });

  it('composes: decaying in steps equals decaying at once, over random cases', () => {
    const random = seededRandom(11);
    for (let i = 0; i < CASES; i++) {
      const state = { passes: random.next() * 100, failures: random.next() * 10, updatedAt: T0 };
      const mid = T0 + Math.floor(random.next() * 5 * HALF);
      const end = mid + Math.floor(random.next() * 5 * HALF);
      const stepped = decayed(decayed(state, mid, HALF), end, HALF);
      const once = decayed(state, end, HALF);
      expect(stepped.updatedAt).toBe(once.updatedAt);
      expect(stepped.passes).toBeCloseTo(once.passes, 9);
      expect(stepped.failures).toBeCloseTo(once.failures, 9);
      expect(once.passes).toBeLessThanOrEqual(state.passes);
      expect(once.failures).toBeLessThanOrEqual(state.failures);
    }
  });
});

describe('afterAudit', () => {
  it('decays to now, then counts the audit', () => {
    const state = { passes: 4, failures: 2, updatedAt: T0 };
    expect(afterAudit(state, 'passed', T0 + HALF, HALF)).toEqual({ passes: 3, failures: 1, updatedAt: T0 + HALF });
    expect(afterAudit(state, 'convicted', T0 + HALF, HALF)).toEqual({ passes: 2, failures: 2, updatedAt: T0 + HALF });
    expect(afterAudit(NEW_REPUTATION, 'passed', T0, HALF)).toEqual({ passes: 1, failures: 0, updatedAt: T0 });
    expect(state).toEqual({ passes: 4, failures: 2, updatedAt: T0 }); // not mutated
  });
});

describe('reputationScore', () => {
  it('scores a new identity 0.5, at any time', () => {
    expect(reputationScore(NEW_REPUTATION, 0, HALF)).toBe(0.5);
    expect(reputationScore(NEW_REPUTATION, T0, HALF)).toBe(0.5);
  });

  it('is the Beta(1, 1) mean with a failure weighing ten passes', () => {
    expect(reputationScore({ passes: 8, failures: 0, updatedAt: T0 }, T0, HALF)).toBe(0.9);
    expect(reputationScore({ passes: 0, failures: 1, updatedAt: T0 }, T0, HALF)).toBe(1 / 12);
    expect(reputationScore({ passes: 9, failures: 1, updatedAt: T0 }, T0, HALF)).toBe(10 / 21);
    expect(reputationScore({ passes: 8, failures: 0, updatedAt: T0 }, T0 + HALF, HALF)).toBe(5 / 6); // 4 passes left
  });

  it('rises toward 1 with each pass', () => {
    let state = NEW_REPUTATION;
    let score = reputationScore(state, T0, HALF);
    for (let i = 0; i < 1000; i++) {
      state = afterAudit(state, 'passed', T0, HALF);
      const next = reputationScore(state, T0, HALF);
      expect(next).toBeGreaterThan(score);
      score = next;
    }
    expect(score).toBeGreaterThan(0.998);
    expect(score).toBeLessThan(1);
  });

  it('drops sharply on one conviction', () => {
    const honest = audits(Array(20).fill('passed'));
    const before = reputationScore(honest, T0, HALF);
    const after = reputationScore(afterAudit(honest, 'convicted', T0, HALF), T0, HALF);
    expect(before).toBeCloseTo(21 / 22, 12);
    expect(after).toBeCloseTo(21 / 32, 12);
    expect(before - after).toBeGreaterThan(0.25);
    // one conviction cancels ten passes: back to where a new identity starts
    const convicted = afterAudit(audits(Array(10).fill('passed')), 'convicted', T0, HALF);
    expect(reputationScore(convicted, T0, HALF)).toBe(0.5);
  });

  it('drifts back toward 0.5 with time, from above and from below', () => {
    const good = audits(Array(50).fill('passed'));
    const bad = audits(['passed', 'convicted', 'convicted']);
    let [previousGood, previousBad] = [reputationScore(good, T0, HALF), reputationScore(bad, T0, HALF)];
    for (let halfLives = 1; halfLives <= 40; halfLives++) {
      const now = T0 + halfLives * HALF;
      const [g, b] = [reputationScore(good, now, HALF), reputationScore(bad, now, HALF)];
      expect(g).toBeLessThan(previousGood);
      expect(g).toBeGreaterThan(0.5);
      expect(b).toBeGreaterThan(previousBad);
      expect(b).toBeLessThan(0.5);
      [previousGood, previousBad] = [g, b];
    }
    expect(previousGood).toBeCloseTo(0.5, 9);
    expect(previousBad).toBeCloseTo(0.5, 9);
  });

  it('stays in [0, 1], and only moves toward 0.5 while nothing happens, over random histories', () => {
    const random = seededRandom(12);
    for (let i = 0; i < CASES; i++) {
      let state = NEW_REPUTATION;
      let now = T0;
      const length = random.int(30);
      for (let a = 0; a < length; a++) {
        now += Math.floor(random.next() * 2 * HALF) - HALF / 4; // the clock sometimes steps back
        state = afterAudit(state, random.next() < 0.8 ? 'passed' : 'convicted', now, HALF);
      }
      const score = reputationScore(state, now, HALF);
      const later = reputationScore(state, now + Math.floor(random.next() * 10 * HALF), HALF);
      for (const s of [score, later]) {
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      }
      expect(Math.abs(later - 0.5)).toBeLessThanOrEqual(Math.abs(score - 0.5) + 1e-12);
      expect(Math.sign(later - 0.5) * Math.sign(score - 0.5)).not.toBe(-1); // never crosses 0.5
    }
  });

  it('stays in [0, 1] at extreme counts', () => {
    for (const [passes, failures] of [
      [Number.MAX_VALUE, 0],
      [0, Number.MAX_VALUE],
      [Number.MAX_VALUE, Number.MAX_VALUE],
      [Number.MIN_VALUE, Number.MIN_VALUE],
    ] as const) {
      const score = reputationScore({ passes, failures, updatedAt: T0 }, T0, HALF);
      expect(score >= 0 && score <= 1).toBe(true);
    }
  });
});
