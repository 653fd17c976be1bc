/**
 * A rate from a growing total sampled now and then: the growth since the last sample over the time since. Timers in a
 * hidden tab fire late (once a minute in Chrome), so the time comes from the clock, never from the timer's period.
 */
export class RateSampler {
  #last: { at: number; total: number } | null = null;

  /** The per-second rate since the last sample (null for the first, or when no time passed); never negative. */
  sample(total: number, atMs: number): number | null {
    const last = this.#last;
    this.#last = { at: atMs, total };
    if (!last || atMs <= last.at) return null;
    return Math.max(0, total - last.total) / ((atMs - last.at) / 1000);
  }

  /** Forgets the last sample: the next one starts afresh (e.g. after a pause in serving). */
  reset(): void {
    this.#last = null;
  }
}
