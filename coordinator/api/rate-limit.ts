/**
 * A sliding-window rate limiter keyed by string (a client address, an account id), in bounded memory. Pure apart
 * from the injected clock.
 *
 * A key may take at most `limit` units in any window of `windowMs`: a take at time t counts while now − t < windowMs.
 * Only granted takes count; a refused one leaves no trace but does mark its key as recently used. Memory is at most
 * `maxKeys` keys of at most `limit` timestamps each: beyond maxKeys the least recently used key is forgotten (and so
 * starts afresh if it comes back). The clock should not run backwards: a take stamped in the future counts until
 * the window has passed it.
 */

export interface RateLimitOptions {
  limit: number;
  windowMs: number;
  now: () => number;
  /** distinct keys remembered; the least recently used are forgotten beyond this (default 10,000) */
  maxKeys?: number;
}

/** The last takes of one key, oldest first from `next` once the ring is full. */
interface Ring {
  times: number[];
  next: number;
}

export class RateLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly maxKeys: number;
  /** In order of last use, least recent first (a Map iterates in insertion order; a use re-inserts). */
  private readonly rings = new Map<string, Ring>();

  constructor(options: RateLimitOptions) {
    const { limit, windowMs, now, maxKeys = 10_000 } = options;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a whole number ≥ 0, not ${limit}`);
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`windowMs must be a finite number above 0, not ${windowMs}`);
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a whole number ≥ 1, not ${maxKeys}`);
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
    this.maxKeys = maxKeys;
  }

  /**
   * Takes one unit for `key`: granted while fewer than `limit` takes lie in the window. When refused, retryAfterMs is
   * how long until the oldest counted take leaves the window, in whole ms and at least 1. With limit 0 every take is
   * refused and no key is remembered; retryAfterMs is then one window, as waiting would not help.
   */
  take(key: string): { ok: true } | { ok: false; retryAfterMs: number } {
    if (this.limit === 0) return { ok: false, retryAfterMs: Math.max(1, Math.ceil(this.windowMs)) };
    const now = this.now();
    let ring = this.rings.get(key);
    if (ring === undefined) {
      ring = { times: [], next: 0 };
      if (this.rings.size >= this.maxKeys) {
        const leastRecent = this.rings.keys().next();
        if (!leastRecent.done) this.rings.delete(leastRecent.value);
      }
    } else {
      this.rings.delete(key);
    }
    this.rings.set(key, ring);

    if (ring.times.length < this.limit) {
      ring.times.push(now);
      return { ok: true };
    }
    // The ring holds the last `limit` takes; if the oldest is still in the window, so are all the others.
    const oldest = ring.times[ring.next] ?? now;
    const leavesIn = oldest + this.windowMs - now;
    if (leavesIn > 0) return { ok: false, retryAfterMs: Math.max(1, Math.ceil(leavesIn)) };
    ring.times[ring.next] = now;
    ring.next = (ring.next + 1) % this.limit;
    return { ok: true };
  }
}
