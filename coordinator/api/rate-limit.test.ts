import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/unit/random.ts';
import { RateLimiter, type RateLimitOptions } from './rate-limit.ts';

function limiter(options: Omit<RateLimitOptions, 'now'>) {
  const clock = { t: 1_000_000 };
  return { clock, limiter: new RateLimiter({ ...options, now: () => clock.t }) };
}

describe('RateLimiter', () => {
  it('grants exactly `limit` takes, then refuses until the oldest leaves the window', () => {
    const { clock, limiter: l } = limiter({ limit: 3, windowMs: 1000 });
    expect(l.take('a')).toEqual({ ok: true });
    clock.t += 100;
    expect(l.take('a')).toEqual({ ok: true });
    clock.t += 100;
    expect(l.take('a')).toEqual({ ok: true });
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 800 }); // the first take leaves at +1000
    clock.t += 799;
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 1 });
    clock.t += 1;
    expect(l.take('a')).toEqual({ ok: true }); // the first take has left; this one replaces it
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 100 }); // now the second is the oldest
  });

  it('slides: a steady rate at the limit is always granted, a faster one is refused in between', () => {
    const { clock, limiter: l } = limiter({ limit: 5, windowMs: 1000 });
    for (let i = 0; i < 100; i++) {
      expect(l.take('steady')).toEqual({ ok: true });
      clock.t += 200;
    }
    for (let i = 0; i < 5; i++) expect(l.take('burst')).toEqual({ ok: true });
    for (let step = 0; step < 999; step += 111) {
      expect(l.take('burst')).toEqual({ ok: false, retryAfterMs: 1000 - step });
      clock.t += 111;
    }
  });

  it('does not count refused takes', () => {
    const { clock, limiter: l } = limiter({ limit: 1, windowMs: 1000 });
    expect(l.take('a').ok).toBe(true);
    for (let i = 0; i < 50; i++) {
      clock.t += 10;
      expect(l.take('a').ok).toBe(false);
    }
    clock.t += 500;
    expect(l.take('a')).toEqual({ ok: true });
  });

  it('keeps keys independent', () => {
    const { limiter: l } = limiter({ limit: 2, windowMs: 1000 });
    expect([l.take('a').ok, l.take('a').ok, l.take('a').ok]).toEqual([true, true, false]);
    expect([l.take('b').ok, l.take('b').ok, l.take('b').ok]).toEqual([true, true, false]);
    expect(l.take('a').ok).toBe(false);
    expect(l.take('c').ok).toBe(true);
  });

  it('forgets the least recently used key beyond maxKeys', () => {
    const { limiter: l } = limiter({ limit: 1, windowMs: 1000, maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) expect(l.take(key).ok).toBe(true);
    expect(l.take('a').ok).toBe(false); // a is now the most recent; b the least
    expect(l.take('d').ok).toBe(true); // b is forgotten
    expect(l.take('c').ok).toBe(false);
    expect(l.take('a').ok).toBe(false);
    expect(l.take('d').ok).toBe(false);
    expect(l.take('b').ok).toBe(true); // b starts afresh; the least recent, c, is forgotten
    expect(l.take('a').ok).toBe(false);
    expect(l.take('c').ok).toBe(true);
  });

  it('refuses everything at limit 0, remembering nothing', () => {
    const { clock, limiter: l } = limiter({ limit: 0, windowMs: 1000 });
    for (let i = 0; i < 10; i++) {
      expect(l.take(`k${i}`)).toEqual({ ok: false, retryAfterMs: 1000 });
      clock.t += 10_000;
    }
  });

  it('gives whole milliseconds, at least 1, on a fractional clock', () => {
    const { clock, limiter: l } = limiter({ limit: 1, windowMs: 1000 });
    clock.t = 0.25;
    expect(l.take('a').ok).toBe(true);
    clock.t = 999.5;
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 1 }); // 0.75 ms left
    clock.t = 500.1;
    expect(l.take('a')).toEqual({ ok: false, retryAfterMs: 501 });
    clock.t = 1000.25;
    expect(l.take('a').ok).toBe(true);
  });

  it('refuses options out of range', () => {
    const now = () => 0;
    for (const limit of [-1, 0.5, NaN, Infinity]) expect(() => new RateLimiter({ limit, windowMs: 1000, now })).toThrow(RangeError);
    for (const windowMs of [0, -1, NaN, Infinity]) expect(() => new RateLimiter({ limit: 1, windowMs, now })).toThrow(RangeError);
    for (const maxKeys of [0, -1, 1.5, NaN]) expect(() => new RateLimiter({ limit: 1, windowMs: 1000, now, maxKeys })).toThrow(RangeError);
  });

  it('agrees with an unbounded sliding log with LRU forgetting, over random sequences', () => {
    const random = seededRandom(21);
    for (let run = 0; run < 200; run++) {
      const limit = random.int(6);
      const windowMs = 1 + random.int(500);
      const maxKeys = 1 + random.int(6);
      const { clock, limiter: l } = limiter({ limit, windowMs, maxKeys });
      // the reference: every granted take per key, and the keys in order of last use
      const log = new Map<string, number[]>();
      for (let step = 0; step < 50; step++) {
        clock.t += random.int(120);
        const key = `k${random.int(8)}`;
        const result = l.take(key);
        if (limit === 0) {
          expect(result.ok).toBe(false);
          continue;
        }
        const times = log.get(key) ?? [];
        log.delete(key);
        log.set(key, times);
        if (log.size > maxKeys) log.delete(log.keys().next().value!);
        const inWindow = times.filter((t) => clock.t - t < windowMs);
        if (inWindow.length < limit) {
          expect(result).toEqual({ ok: true });
          times.push(clock.t);
        } else {
          expect(result).toEqual({ ok: false, retryAfterMs: inWindow[inWindow.length - limit]! + windowMs - clock.t });
        }
      }
    }
  });

  it('keeps memory bounded by maxKeys under many distinct keys', () => {
    const { clock, limiter: l } = limiter({ limit: 2, windowMs: 60_000, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) {
      expect(l.take(`addr-${i}`).ok).toBe(true);
      clock.t += 1;
    }
    // only the last 100 are still remembered: each is refused after its second take, earlier ones start afresh
    for (let i = 9_900; i < 10_000; i++) expect(l.take(`addr-${i}`).ok).toBe(true);
    expect(l.take('addr-9999').ok).toBe(false);
    expect(l.take('addr-0').ok).toBe(true);
    expect(l.take('addr-0').ok).toBe(true);
  });
});
